"""The text of a package's files, read with bounded memory whatever the file holds.

A district's file can hold one line of gigabytes (no line break at all) or one record that
never ends (a quote left open, so every following line joins it). Both are refused while
streaming, naming the file and the line, before more than a limit is held:

- a physical line may be at most ``MAX_LINE_BYTES`` bytes, its line break included;
- a record, which may span lines when a quoted value holds a line break, at most
  ``MAX_RECORD_CHARS`` characters.

Real OneRoster rows are a few hundred bytes; a megabyte is far beyond any of them. Lines
are measured where the bytes are read, a block at a time (:class:`LineGuard`), so reading
line by line costs nothing more; a record is measured only on the slow path, where a line
went to the csv module.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from ..errors import PackageRejected

MAX_LINE_BYTES = 1024 * 1024
MAX_RECORD_CHARS = 1024 * 1024
_BOM = b"\xef\xbb\xbf"


class LineTooLong(Exception):
    """Raised by :class:`LineGuard` while reading; the line reader knows which line it is."""


class LineGuard:
    """Watches the blocks a raw reader returns: no more than ``limit`` bytes may come
    without a line break. Cheap: a ``find`` and an ``rfind`` per block, none per line."""

    __slots__ = ("limit", "run")

    def __init__(self, limit: int = MAX_LINE_BYTES):
        self.limit, self.run = limit, 0  # bytes since the last line break

    def check(self, data: bytes) -> None:
        end = data.rfind(b"\n")
        if end < 0:
            self.run += len(data)
        else:
            if self.run + data.find(b"\n") > self.limit:
                raise LineTooLong
            self.run = len(data) - end - 1
        if self.run > self.limit:
            raise LineTooLong


def line_too_long(file_name: str, line: int | None, limit: int = MAX_LINE_BYTES) -> PackageRejected:
    where = f"line {line}" if line else "a line"
    return PackageRejected(
        f"{file_name} {where} is longer than {limit:,} bytes (no OneRoster row is anywhere "
        "near that long), so the file was not read further; check that the export writes "
        "one record per line.", file=file_name, line=line, reason="line_too_long")


def decoded_lines(raw, file_name: str) -> Iterator[str]:
    """UTF-8 lines of a binary stream (a leading BOM dropped); a bad byte, or a line its
    :class:`LineGuard` refuses, rejects the file naming its line."""
    number = 0
    try:
        for number, line in enumerate(raw, start=1):
            if number == 1:
                line = _without_bom(line)
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise not_utf8(file_name, number, line, exc) from exc
    except LineTooLong:
        raise line_too_long(file_name, number + 1) from None


class LineBatches:
    """The same lines, not yet decoded (see :func:`not_utf8`), taken a batch at a time
    (:meth:`take`): for a reader that decodes only some of them (see
    :mod:`al_roster.oneroster.line_keys`). Each batch is split off the stream in C, not
    handed over a line at a time."""

    def __init__(self, raw, file_name: str):
        self.raw, self.file_name = raw, file_name
        self.taken = 0  # lines taken so far

    def take(self, count: int) -> list[bytes]:
        """The next ``count`` lines (fewer at the end)."""
        batch: list[bytes] = []
        try:
            batch.extend(islice(self.raw, count))  # (keeps the lines read before a refusal)
        except LineTooLong:
            raise line_too_long(self.file_name, self.taken + len(batch) + 1) from None
        if not self.taken and batch:
            batch[0] = _without_bom(batch[0])
        self.taken += len(batch)
        return batch


def _without_bom(first_line: bytes) -> bytes:
    """A file's first line without the byte order mark some exports begin with."""
    return first_line[3:] if first_line.startswith(_BOM) else first_line


def not_utf8(file_name: str, number: int, line: bytes,
             exc: UnicodeDecodeError) -> PackageRejected:
    """The refusal of a file whose line ``number`` is not UTF-8."""
    return PackageRejected(
        f"{file_name} is not UTF-8 text (byte 0x{line[exc.start]:02X} on line {number}); "
        "export it as UTF-8 (a BOM is fine).", file=file_name, line=number, reason="encoding")


class RecordTooLong(Exception):
    """A record grew past ``MAX_RECORD_CHARS``; the reader knows its line and rejects."""


def record_too_long(file_name: str, line: int, limit: int = MAX_RECORD_CHARS) -> PackageRejected:
    return PackageRejected(
        f"{file_name}: the record starting on line {line} is longer than {limit:,} "
        "characters (a quote left open joins every following line to it), so the file was "
        "not read further.", file=file_name, line=line, reason="record_too_long")


class PushBack:
    """The lines a csv reader reads from, one of which can be handed back to it; refuses a
    record (everything read since the last :meth:`push`) longer than ``limit`` characters."""

    def __init__(self, lines: Iterator[str], limit: int = MAX_RECORD_CHARS):
        self._lines, self._held, self.limit, self.size = lines, None, limit, 0
        #: the lines ran out while a record still wanted more (a quoted value left open)
        self.ran_dry = False

    def push(self, line: str) -> None:
        self._held, self.size = line, 0

    def __iter__(self) -> PushBack:
        return self

    def __next__(self) -> str:
        if self._held is not None:
            line, self._held = self._held, None
        else:
            try:
                line = next(self._lines)
            except StopIteration:
                self.ran_dry = True
                raise
        self.size += len(line)
        if self.size > self.limit:
            raise RecordTooLong
        return line
