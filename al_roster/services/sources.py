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
  stored: the settings keep the NAME of the environment variable that holds it, which must
  start with AL_ROSTER_SOURCE_ (checked when set and again at each pull: no other variable
  of the app is ever sent). URLs follow :mod:`..oneroster.address_policy`; each pull is
  bounded by :func:`pull_limits` (the AL_ROSTER_PULL_* settings).
"""
from __future__ import annotations

import datetime as dt
import io
import json
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
from ..oneroster.address_policy import ALLOWED_HOSTS_SETTING, check_url, parse_allowed_hosts
from ..oneroster.http_bounds import PullLimits
from ..oneroster.rest import BASE_PATHS, RestSource, pull_package
from ..settings import DEFAULTS, SOURCE_SECRET_PREFIX
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
_SECRET_ENV = re.compile(rf"^{SOURCE_SECRET_PREFIX}[A-Za-z0-9_]+$")
#: A pull folder (``<district id>-<8 hex>``) under the storage's ``pulls/``.
_PULL_FOLDER = re.compile(r"^\d+-[0-9a-f]{8}$")

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
                          f"holding the secret (e.g. {secret_env_example(district)}), not the "
                          "secret.")
    problem = secret_env_problem(district, client_secret_env)
    if problem:
        raise RosterError(problem)
    allowed = allowed_hosts()
    for address in (url, token_url) if token_url else (url,):
        try:
            check_url(address or "", allowed)
        except SourceError as exc:
            raise RosterError(exc.message) from None
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


def secret_env_example(district: District) -> str:
    """The variable name we suggest for ``district``'s secret."""
    name = re.sub(r"[^A-Z0-9]+", "_", district.slug.upper()).strip("_") or "DISTRICT"
    return f"{SOURCE_SECRET_PREFIX}{name}_SECRET"


def secret_env_problem(district: District, name: str) -> str | None:
    """Why ``name`` may not hold ``district``'s client secret, or None."""
    if _SECRET_ENV.match(name or "") and name not in DEFAULTS:
        return None
    return (f"The client secret must be read from an environment variable whose name starts "
            f"with {SOURCE_SECRET_PREFIX} (for this district, e.g. "
            f"{secret_env_example(district)}), not {(name or '(none)')[:80]!r}: no other "
            "variable of the app (its SECRET_KEY, a database password, a setting) may be sent "
            "to a district's server.")


def allowed_hosts() -> frozenset[str]:
    """The hosts AL_ROSTER_SOURCE_ALLOWED_HOSTS lets a source reach over http or inside."""
    from ..settings import roster_state
    return parse_allowed_hosts(roster_state().config.get(ALLOWED_HOSTS_SETTING))


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
    problem = secret_env_problem(district, env_name)  # a config stored before the rule
    if problem:
        raise SourceError(problem)
    secret = os.environ.get(env_name)
    if not secret:
        raise SourceError(f"The client secret of district {district.slug}'s OneRoster API is "
                          f"read from the environment variable {env_name}, "
                          "which is not set for this process.")
    since = None if full else delta_since(district)
    mode = "full" if since is None else "delta"
    pulls = work_dir.parent
    source = RestSource(base_url=config.get("url", ""), version=config.get("version", ""),
                        client_id=config.get("client_id", ""), client_secret=secret,
                        token_url=config.get("token_url"),
                        allowed_hosts=tuple(allowed_hosts()),
                        limits=pull_limits(district, mode, pulls),
                        **{key: config[key] for key in ("page_size", "timeout", "max_attempts")
                           if config.get(key)})
    out = work_dir / mode
    summary = pull_package(source, out, since=since, sleep=sleep)
    record_pull_seconds(pulls, district, mode, summary["seconds"])
    if since is None:
        return Fetched(out, f"{source.api_root} (full pull)", "full")
    return Fetched(out, f"{source.api_root} (changes since {since:%Y-%m-%d %H:%M} UTC)", "delta")


def pull_limits(district: District, mode: str, pulls: Path, config=None) -> PullLimits:
    """The bounds of ``district``'s next pull (``mode`` "full" or "delta") from the
    AL_ROSTER_PULL_* settings: its deadline is AL_ROSTER_PULL_DEADLINE_FACTOR times its last
    successful pull of that kind, kept between the MIN and MAX minutes (MAX with no history)."""
    if config is None:
        from ..settings import roster_state
        config = roster_state().config

    def setting(key: str, kind):
        return kind(config.get(key, DEFAULTS[key]))

    ceiling = setting("AL_ROSTER_PULL_DEADLINE_MAX_MINUTES", float) * 60
    floor = setting("AL_ROSTER_PULL_DEADLINE_MIN_MINUTES", float) * 60
    last = last_pull_seconds(pulls, district, mode)
    deadline = ceiling if last is None else min(
        ceiling, max(floor, setting("AL_ROSTER_PULL_DEADLINE_FACTOR", float) * last))
    return PullLimits(max_response_bytes=setting("AL_ROSTER_PULL_MAX_RESPONSE_BYTES", int),
                      max_rows=setting("AL_ROSTER_PULL_MAX_ROWS", int),
                      max_bytes=setting("AL_ROSTER_PULL_MAX_BYTES", int),
                      max_pages=setting("AL_ROSTER_PULL_MAX_PAGES", int),
                      page_seconds=setting("AL_ROSTER_PULL_PAGE_SECONDS", float),
                      deadline_seconds=deadline)


def _timings_file(pulls: Path, district: District) -> Path:
    return pulls / f"{district.id}.seconds.json"


def last_pull_seconds(pulls: Path, district: District, mode: str) -> float | None:
    """How long ``district``'s last successful pull of ``mode`` took, if one is known."""
    try:
        seconds = json.loads(_timings_file(pulls, district).read_text()).get(mode)
    except (OSError, ValueError, AttributeError):
        return None
    return float(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else None


def record_pull_seconds(pulls: Path, district: District, mode: str, seconds: float) -> None:
    """Keeps the duration of a successful pull beside the pull folders (shared by the
    workers), for the next pull's deadline."""
    path = _timings_file(pulls, district)
    try:
        timings = json.loads(path.read_text())
    except (OSError, ValueError):
        timings = {}
    timings = {**(timings if isinstance(timings, dict) else {}), mode: round(seconds, 3)}
    try:
        pulls.mkdir(parents=True, exist_ok=True)
        spare = path.with_name(f".{path.name}.{os.getpid()}")
        spare.write_text(json.dumps(timings))
        spare.replace(path)
    except OSError:
        log.warning("could not keep the pull time of district %s in %s", district.slug, pulls)


def sweep_stale_pulls(pulls: Path, *, older_than: float, now: float | None = None) -> list[Path]:
    """Removes pull folders (and the ``.partial`` package folders in them) that a worker
    killed mid-pull left behind: any older than ``older_than`` seconds is no live pull's."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(pulls.iterdir())
    except OSError:
        return removed
    for path in entries:
        try:
            if (_PULL_FOLDER.match(path.name) and path.is_dir() and not path.is_symlink()
                    and now - path.stat().st_mtime > older_than):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        except OSError:
            continue
    if removed:
        log.warning("removed %d stale pull folder(s) from %s", len(removed), pulls)
    return removed


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
