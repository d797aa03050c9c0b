"""Where each district's OneRoster packages come from, and fetching the next one.

Two kinds of source, set per district (``District.source_kind`` and ``source_config``):

- ``csv_drop``: a folder the district's zips arrive in (as an SFTP drop leaves them). The
  newest complete zip not yet processed is taken; after its run it is moved to
  ``<drop>/processed/<run id>-<name>``, so it is never taken twice. A file is complete once
  it has not changed for ``settle_seconds`` and is a readable zip; a file that is not a zip
  is taken only after it has been left alone five times as long (an upload that stalled for
  that long is not coming back), so that it is synced, rejected and reported. Names ending
  in ``.part``, ``.tmp``, ``.filepart`` and hidden files are never taken, nor anything but
  a regular file directly in the folder: a link, folder, FIFO or device named ``*.zip`` is
  logged and reported as a warning of the next run (:mod:`.drop_folder`).
- ``oneroster_api``: a OneRoster REST server (ClassLink's Roster Server). A full pull on
  demand and weekly; otherwise a delta pull of what changed since the last applied API
  run started (with an overlap, since deltas are idempotent). The client secret is never
  stored: the settings keep the NAME of the environment variable that holds it.
"""
from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import NamedTuple

from ..errors import RosterError, SourceError
from ..logsafe import for_log
from ..models import District, SyncRun
from ..models.district import utcnow
from ..models.runs import APPLIED, FAILED
from ..oneroster.rest import BASE_PATHS, RestSource, pull_package
from .drop_folder import PROCESSED, DropRefused, list_packages, move_processed, open_drop_file

CSV_DROP, ONEROSTER_API, NONE = "csv_drop", "oneroster_api", "none"
DEFAULT_SETTLE_SECONDS = 60
#: A file that is not a readable zip is taken (to be rejected) after this many settle periods.
BAD_FILE_PATIENCE = 5
#: Drop entries not taken (links...) that one listing logs and a run reports, at most.
MAX_SKIPPED_REPORTED = 100
FULL_PULL_EVERY = dt.timedelta(days=7)
#: A delta asks for changes from a little before the last run started.
DELTA_OVERLAP = dt.timedelta(hours=1)
_PARTIAL = (".part", ".tmp", ".filepart", ".partial", ".crdownload")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

log = logging.getLogger(__name__)

#: How a pull waits between its own retries; tests replace it.
sleep = time.sleep


class Fetched(NamedTuple):
    """A package ready to sync: where it is, what the run calls it, and how it was made."""

    path: Path
    source_name: str
    mode: str  # "file" (CSV drop), "full" or "delta" (REST)
    #: a drop file, opened and checked: the sync reads this, never ``path`` again
    file: io.BufferedIOBase | None = None
    #: (name, reason) of drop entries that were not taken, for the run to report
    skipped: tuple[tuple[str, str], ...] = ()


# -- settings ---------------------------------------------------------------------------

def set_csv_drop(district: District, directory: str | os.PathLike, *,
                 settle_seconds: int = DEFAULT_SETTLE_SECONDS) -> District:
    folder = Path(directory).expanduser().resolve()
    if not folder.is_dir():
        raise RosterError(f"The drop folder {folder} does not exist; create it first.")
    if settle_seconds < 0:
        raise RosterError("settle_seconds cannot be negative.")
    district.source_kind = CSV_DROP
    district.source_config = {"directory": str(folder), "settle_seconds": int(settle_seconds)}
    district.save()
    return district


def set_oneroster_api(district: District, url: str, version: str, client_id: str,
                      client_secret_env: str, *, token_url: str | None = None,
                      page_size: int | None = None, timeout: float | None = None,
                      max_attempts: int | None = None) -> District:
    if version not in BASE_PATHS:
        raise RosterError(f"OneRoster version must be one of {', '.join(BASE_PATHS)}.")
    if not client_id:
        raise RosterError("A client id is required.")
    if not _ENV_NAME.match(client_secret_env or ""):
        raise RosterError("--client-secret-env takes the NAME of the environment variable "
                          "holding the secret (e.g. DISTRICT_ONEROSTER_SECRET), not the secret.")
    config = {"url": url, "version": version, "client_id": client_id,
              "client_secret_env": client_secret_env}
    if token_url:
        config["token_url"] = token_url
    for key, value in (("page_size", page_size), ("timeout", timeout),
                       ("max_attempts", max_attempts)):
        if value:
            config[key] = value
    district.source_kind = ONEROSTER_API
    district.source_config = config
    district.save()
    return district


def clear_source(district: District) -> District:
    district.source_kind, district.source_config = NONE, None
    district.save()
    return district


def describe_source(district: District) -> dict:
    """The source settings as shown to people: never a secret, only where it is read from."""
    config = dict(district.source_config or {})
    if district.source_kind == ONEROSTER_API:
        config["secretSet"] = bool(os.environ.get(config.get("client_secret_env", "")))
    return {"kind": district.source_kind, **config}


# -- fetching ---------------------------------------------------------------------------

def fetch_package(district: District, work_dir: str | os.PathLike, *,
                  full: bool = False, now: float | None = None) -> Fetched | None:
    """The next package of ``district``'s source, or None when a drop has nothing new.

    Raises :class:`SourceError` when the source cannot deliver a complete package.
    """
    if district.source_kind == CSV_DROP:
        return _next_drop_file(district, now=time.time() if now is None else now)
    if district.source_kind == ONEROSTER_API:
        return _pull(district, Path(work_dir), full=full)
    raise SourceError(f"District {district.slug} has no source set; `al-roster district source "
                      f"{district.slug} --csv-drop DIR` or `--oneroster-api URL ...` sets one.")


def is_passing(exc: SourceError) -> bool:
    """Whether a source error may pass on its own (timeouts, 429, 5xx after the pull's own
    retries, data changing during the pull), so the job is worth retrying later."""
    return exc.passing


def _drop_folder(district: District) -> Path:
    folder = Path((district.source_config or {}).get("directory", ""))
    if not folder.is_dir():
        raise SourceError(f"The drop folder {folder} of district {district.slug} does not exist.")
    if os.path.realpath(folder) != os.path.abspath(folder):
        raise SourceError(f"The drop folder {folder} of district {district.slug} is now reached "
                          "through a symbolic link, so it was not read; set it again.")
    return folder


def _next_drop_file(district: District, *, now: float) -> Fetched | None:
    """The newest complete drop file, opened (a link swapped in after listing is refused)."""
    skipped: list[tuple[str, str]] = []
    for path in drop_candidates(district, now=now, skipped=skipped):
        try:
            handle = open_drop_file(path)
        except DropRefused as exc:
            _refused(district, skipped, path.name, exc.reason)
            continue
        if now - os.fstat(handle.fileno()).st_mtime < _settle_seconds(district):
            handle.close()  # replaced, since it was listed, by a file still being written
            continue
        return Fetched(path, path.name, "file", handle, tuple(skipped))
    return None


def _settle_seconds(district: District) -> float:
    return float((district.source_config or {}).get("settle_seconds", DEFAULT_SETTLE_SECONDS))


def _refused(district: District, skipped: list, name: str, reason: str) -> None:
    if len(skipped) < MAX_SKIPPED_REPORTED:  # a folder of a million links logs a hundred
        log.warning("district %s: drop entry %s not taken: %s", district.slug, for_log(name),
                    reason)
        skipped.append((name, reason))


def drop_candidates(district: District, *, now: float | None = None,
                    skipped: list[tuple[str, str]] | None = None) -> list[Path]:
    """Complete, unprocessed regular files in the drop, newest first; entries named like a
    package that are not plain files are logged and added to ``skipped`` (name, reason),
    the first ``MAX_SKIPPED_REPORTED`` of them."""
    settle = _settle_seconds(district)
    skipped = [] if skipped is None else skipped
    return list_packages(_drop_folder(district), now=time.time() if now is None else now,
                         settle=settle, patience=settle * BAD_FILE_PATIENCE, partial=_PARTIAL,
                         refused=lambda name, reason: _refused(district, skipped, name, reason))


def drop_refusals(district: District) -> list[tuple[str, str]]:
    """(name, reason) of the drop's entries named like a package that will not be taken."""
    skipped: list[tuple[str, str]] = []
    drop_candidates(district, skipped=skipped)
    return skipped


def mark_processed(district: District, path: Path, run: SyncRun | None) -> Path | None:
    """Moves a synced drop file to ``processed/<run id>-<name>``; older unprocessed files,
    which the synced (newer) one supersedes, go to ``processed/superseded-<name>``. Never
    through a link, never over an existing file (:func:`.drop_folder.move_processed`)."""
    def moved_aside(aside: str) -> None:
        log.warning("district %s: the drop's %s was not a folder; moved aside as %s",
                    district.slug, PROCESSED, aside)
    return move_processed(path, str(run.id if run else "unrun"), moved_aside=moved_aside)


def _pull(district: District, work_dir: Path, *, full: bool) -> Fetched:
    config = district.source_config or {}
    env_name = config.get("client_secret_env", "")
    secret = os.environ.get(env_name) if env_name else None
    if not secret:
        raise SourceError(f"The client secret of district {district.slug}'s OneRoster API is "
                          f"read from the environment variable {env_name or '(none set)'}, "
                          "which is not set for this process.")
    source = RestSource(base_url=config.get("url", ""), version=config.get("version", ""),
                        client_id=config.get("client_id", ""), client_secret=secret,
                        token_url=config.get("token_url"),
                        **{key: config[key] for key in ("page_size", "timeout", "max_attempts")
                           if config.get(key)})
    since = None if full else delta_since(district)
    out = work_dir / ("full" if since is None else "delta")
    pull_package(source, out, since=since, sleep=sleep)
    if since is None:
        return Fetched(out, f"{source.api_root} (full pull)", "full")
    return Fetched(out, f"{source.api_root} (changes since {since:%Y-%m-%d %H:%M} UTC)", "delta")


def delta_since(district: District, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """Where a nightly API pull starts, or None when a full pull is due (no applied API run
    yet, or none of them a full pull in the last week)."""
    now = now or utcnow()
    applied = (SyncRun.select().where(SyncRun.district == district, SyncRun.status == APPLIED,
                                      SyncRun.source == ONEROSTER_API)
               .order_by(SyncRun.started_at.desc()))
    last = applied.first()
    if last is None:
        return None
    last_full = applied.where(SyncRun.source_name.endswith("(full pull)")).first()
    if last_full is None or now - last_full.started_at > FULL_PULL_EVERY:
        return None
    return last.started_at - DELTA_OVERLAP


def record_source_failure(district: District, exc: SourceError) -> SyncRun:
    """A failed run for a source that could not deliver; the roster copy is untouched."""
    config = district.source_config or {}
    name = config.get("url") or config.get("directory") or district.source_kind
    now = utcnow()
    return SyncRun.create(
        district=district, source=district.source_kind, source_name=name, status=FAILED,
        message=f"The package could not be fetched, so nothing was changed: {exc.message}",
        started_at=now, finished_at=now, worker=f"{os.uname().nodename}:{os.getpid()}")


def discard_pull(work_dir: Path) -> None:
    shutil.rmtree(work_dir, ignore_errors=True)
