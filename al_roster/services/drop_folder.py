"""The files of a CSV drop folder, which the district writes (links included).

Only regular files directly in the folder are ever taken: a symbolic link (it could name
another district's files, whose processed names are predictable), a hard link (the same
file under a second name), a folder, a FIFO (opening it would block the worker) or a
device named like a package is refused, with the reason, as is a name that is not UTF-8
text (no run could record it). A file is listed with ``lstat``, then opened with
``O_NOFOLLOW | O_NONBLOCK`` and checked again on the open descriptor, so a link renamed
over the name in between is refused; the sync then reads that descriptor, never the name.
Moving a synced file to ``processed/`` goes through descriptors of the drop folder and of a
real ``processed`` folder in it, never through a link, and overwrites nothing.
"""
from __future__ import annotations

import errno
import io
import os
import stat
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..errors import RosterError

PROCESSED = "processed"
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class DropRefused(RosterError):
    """A drop entry that is not a plain file of the folder; ``reason`` says what it is."""

    code = "drop_refused"

    def __init__(self, reason: str):
        super().__init__(f"The drop folder's entry was not taken: {reason}.", reason=reason)
        self.reason = reason


def not_plain(info: os.stat_result) -> str | None:
    """Why an entry with this (l)stat is not taken, or None for a plain regular file."""
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if stat.S_ISDIR(info.st_mode):
        return "it is a folder"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file (a FIFO, socket or device)"
    if info.st_nlink != 1:
        return "it is a hard link (the same file has another name elsewhere)"
    return None


def open_drop_file(path: Path) -> io.BufferedReader:
    """``path`` opened without following a link nor blocking on a FIFO, once the open
    descriptor shows a plain regular file; raises :class:`DropRefused` otherwise."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DropRefused("it is a symbolic link") from None
        raise DropRefused(f"it could not be opened ({exc.strerror})") from None
    try:
        reason = not_plain(os.fstat(fd))
        if reason:
            raise DropRefused(reason)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _bad_name(name: str) -> str | None:
    """Why a name cannot be taken (the run records it), or None."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not UTF-8 text"
    return None


def _is_zip(path: Path) -> bool:
    with open_drop_file(path) as handle:
        return zipfile.is_zipfile(handle)


def list_packages(folder: Path, *, now: float, settle: float, patience: float,
                  partial: tuple[str, ...], refused: Callable[[str, str], None]) -> list[Path]:
    """The folder's complete ``*.zip`` regular files, newest first.

    A file is complete once unchanged for ``settle`` seconds and a readable zip, or, not a
    zip, unchanged for ``patience`` seconds (then it is taken, to be rejected). Entries
    named like a package that are not plain files are passed to ``refused(name, reason)``.
    """
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name.lower()
            if name.startswith(".") or name.endswith(partial) or not name.endswith(".zip"):
                continue
            info = entry.stat(follow_symlinks=False)
            reason = not_plain(info) or _bad_name(entry.name)
            if reason:
                refused(entry.name, reason)
                continue
            quiet = now - info.st_mtime
            if quiet < settle:
                continue  # still being written
            path = folder / entry.name
            try:
                if quiet < patience and not _is_zip(path):
                    continue  # maybe an upload that will resume; taken (and rejected) later
            except DropRefused as exc:
                refused(entry.name, exc.reason)
                continue
            found.append((info.st_mtime, entry.name, path))
    found.sort(reverse=True)
    return [path for _, _, path in found]


def move_processed(path: Path, label: str, *,
                   moved_aside: Callable[[str], None] = lambda aside: None) -> Path | None:
    """Moves ``path`` to ``processed/<label>-<name>`` and the older ``*.zip`` regular files
    it supersedes to ``processed/superseded-by-<label>-<name>``; returns the new path, or
    None when ``path`` is gone. A ``processed`` that is not a real folder (a link) is moved
    aside (``moved_aside`` is told its new name) and a folder made in its place."""
    folder = os.open(path.parent, _DIR_FLAGS)
    try:
        try:
            taken = os.stat(path.name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return None
        processed = _processed_folder(folder, moved_aside)
        try:
            target = _move(folder, path.name, processed, f"{label}-{path.name}")
            for name in _older_zips(folder, taken.st_mtime):
                _move(folder, name, processed, f"superseded-by-{label}-{name}")
        finally:
            os.close(processed)
    finally:
        os.close(folder)
    return path.parent / PROCESSED / target


def _older_zips(folder: int, mtime: float) -> list[str]:
    older = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.lower().endswith(".zip"):
                continue
            info = entry.stat(follow_symlinks=False)
            if not_plain(info) is None and info.st_mtime < mtime:
                older.append(entry.name)
    return older


def _processed_folder(folder: int, moved_aside: Callable[[str], None]) -> int:
    """A descriptor of the drop's real ``processed`` folder, made if need be."""
    try:
        os.mkdir(PROCESSED, dir_fd=folder)
    except FileExistsError:
        pass
    try:
        return os.open(PROCESSED, _DIR_FLAGS, dir_fd=folder)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
    aside = f"{PROCESSED}-not-a-folder-{time.time_ns()}"
    os.rename(PROCESSED, aside, src_dir_fd=folder, dst_dir_fd=folder)
    moved_aside(aside)
    os.mkdir(PROCESSED, dir_fd=folder)
    return os.open(PROCESSED, _DIR_FLAGS, dir_fd=folder)


def _move(folder: int, name: str, processed: int, wanted: str) -> str:
    """Renames ``name`` into ``processed`` as ``wanted`` or, if that is taken, a variant."""
    target, n = wanted, 1
    while _exists(target, processed):
        n += 1
        target = f"{n}-{wanted}"
    os.rename(name, target, src_dir_fd=folder, dst_dir_fd=processed)
    return target


def _exists(name: str, folder: int) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True
