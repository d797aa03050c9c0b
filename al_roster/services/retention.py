"""How long what a district sends is kept, and the clean-up that forgets the rest.

Windows (settings, in days):

- ``AL_ROSTER_RUN_DETAIL_DAYS`` (90): a run's changes (the before-values undo needs, names
  and e-mails included) and its issues (whose messages quote values) are deleted once the
  run finished longer ago; the run itself stays (status, counts, message) and can no longer
  be undone (:func:`undo_refusal`).
- ``AL_ROSTER_PACKAGE_DAYS`` (30): the kept package of a run finished longer ago is deleted
  (a held run whose package is gone can be rejected, not approved), and so is a file in a
  CSV drop's ``processed`` folder last written longer ago (the upload's time, which moving
  it there keeps).
- ``AL_ROSTER_TOMBSTONE_DAYS`` (90): a roster user removed longer ago keeps only what "why"
  and a restore need (sourcedId, role, orgs, enabled, the runs that saw, changed and removed
  it, dateLastModified); names, usernames, e-mails, identifiers, phone, sms, pronouns,
  agents, grades and metadata are blanked and its row hash set to 0, a value no row hashes
  to. A record the district sends again is restored with the file's values, as every
  restore is (the sync copies every value of a tombstone that comes back, whatever its
  hash).
- ``AL_ROSTER_EVENT_DAYS`` (30): roster events (the change feed, which names students by
  sourcedId) older than this are deleted.

Deletes and blanks go a batch of rows at a time, each batch its own short transaction, so a
large district's clean-up never holds the tables for long; the longest batch is reported.
Each district is cleaned while holding its sync lock (a district that is syncing is left
for the next clean-up), so an undo or a sync never sees half a clean-up.
"""
from __future__ import annotations

import datetime as dt
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigurationError
from ..models import District, RosterUser, RunChange, RunIssue, SyncRun, database
from ..models.base import write_transaction
from ..models.district import utcnow
from ..models.questions import TeacherQuestion
from ..models.runs import APPLIED
from ..settings import DEFAULTS
from ..sync.lock import DistrictLock
from . import nonces
from .drop_folder import PROCESSED
from .roster_events import forget_old_events

#: Rows one statement deletes or blanks; each batch is its own transaction.
BATCH = 5_000
SETTINGS = ("AL_ROSTER_RUN_DETAIL_DAYS", "AL_ROSTER_PACKAGE_DAYS", "AL_ROSTER_TOMBSTONE_DAYS",
            "AL_ROSTER_EVENT_DAYS")
#: Personal fields of a roster user, blanked once it has been a tombstone long enough.
BLANKED_USER_FIELDS = (
    "username", "user_ids", "given_name", "family_name", "middle_name", "identifier", "email",
    "sms", "phone", "agent_sourced_ids", "grades", "user_master_identifier",
    "preferred_given_name", "preferred_middle_name", "preferred_family_name", "pronouns",
    "extra",
)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Retention:
    run_detail_days: int = DEFAULTS["AL_ROSTER_RUN_DETAIL_DAYS"]
    package_days: int = DEFAULTS["AL_ROSTER_PACKAGE_DAYS"]
    tombstone_days: int = DEFAULTS["AL_ROSTER_TOMBSTONE_DAYS"]
    event_days: int = DEFAULTS["AL_ROSTER_EVENT_DAYS"]

    @classmethod
    def from_config(cls, config=None) -> Retention:
        """The windows from the app's settings (the current app's when ``config`` is None,
        the defaults outside any app); each must be a whole number of days, 1 or more."""
        if config is None:
            from flask import has_app_context
            if has_app_context():
                from ..settings import roster_state
                config = roster_state().config
            else:
                config = {}
        days = []
        for key in SETTINGS:
            raw = config.get(key, DEFAULTS[key])
            try:
                value = int(raw)
            except (TypeError, ValueError):
                value = 0
            if value < 1 or str(raw).strip() != str(value):
                raise ConfigurationError(f"{key} is a number of days, 1 or more; not {raw!r}.")
            days.append(value)
        return cls(*days)

    def cutoff(self, days: int, now: dt.datetime | None = None) -> dt.datetime:
        return (now or utcnow()) - dt.timedelta(days=days)


def undo_refusal(run: SyncRun, retention: Retention | None = None, *,
                 now: dt.datetime | None = None) -> str | None:
    """Why ``run`` can no longer be undone because of retention, or None."""
    retention = retention or Retention.from_config()
    days = retention.run_detail_days
    if run.details_removed_at is not None:
        return (f"Run {run.id} can no longer be undone: its changes were deleted on "
                f"{run.details_removed_at:%Y-%m-%d} (a run's details are kept "
                f"{days} days, AL_ROSTER_RUN_DETAIL_DAYS).")
    if run.finished_at is not None and run.finished_at < retention.cutoff(days, now):
        return (f"Run {run.id} finished on {run.finished_at:%Y-%m-%d}, more than {days} days "
                f"ago, so it can no longer be undone: a run's changes are kept {days} days "
                "(AL_ROSTER_RUN_DETAIL_DAYS).")
    if run.tombstones_blanked_at is not None:
        return (f"Run {run.id} can no longer be undone: the personal fields of the records it "
                f"removed were blanked on {run.tombstones_blanked_at:%Y-%m-%d} "
                f"({retention.tombstone_days} days after their removal, "
                "AL_ROSTER_TOMBSTONE_DAYS). Sync the district's file again to bring them back "
                "with its values.")
    return None


def approve_refusal(run: SyncRun) -> str | None:
    """Why a held ``run`` can no longer be approved (its package is gone), or None."""
    if run.package_path and Path(run.package_path).exists():
        return None
    return (f"Run {run.id}'s package is no longer kept (kept packages are deleted "
            f"{Retention.from_config().package_days} days after their run, "
            "AL_ROSTER_PACKAGE_DAYS), so it can be rejected but not approved; sync the file "
            "again instead.")


@dataclass
class Batches:
    """Rows touched in batches, and how long the longest batch's transaction lasted."""

    rows: int = 0
    batches: int = 0
    longest: float = 0.0

    def run(self, statement: Callable[[], int], size: int) -> int:
        """Runs ``statement`` (one batch, returning its row count) until a batch comes back
        short; returns the rows it touched."""
        touched = 0
        while True:
            started = time.perf_counter()
            with write_transaction(database.obj):
                count = statement()
            self.longest = max(self.longest, time.perf_counter() - started)
            self.batches += 1
            touched += count
            if count < size:
                break
        self.rows += touched
        return touched


@dataclass
class CleanupReport:
    runs_cleaned: int = 0
    changes_deleted: int = 0
    issues_deleted: int = 0
    tombstones_blanked: int = 0
    packages_deleted: int = 0
    drop_files_deleted: int = 0
    nonces_forgotten: int = 0
    questions_deleted: int = 0
    events_deleted: int = 0
    busy: list[str] = field(default_factory=list)
    batches: Batches = field(default_factory=Batches)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"runsCleaned": self.runs_cleaned, "changesDeleted": self.changes_deleted,
                "issuesDeleted": self.issues_deleted,
                "tombstonesBlanked": self.tombstones_blanked,
                "packagesDeleted": self.packages_deleted,
                "dropFilesDeleted": self.drop_files_deleted,
                "noncesForgotten": self.nonces_forgotten,
                "questionsDeleted": self.questions_deleted,
                "eventsDeleted": self.events_deleted, "busyDistricts": self.busy,
                "batches": self.batches.batches,
                "longestBatchSeconds": round(self.batches.longest, 4),
                "seconds": round(self.seconds, 3)}


def clean_up(storage_dir: str | os.PathLike, retention: Retention | None = None, *,
             now: dt.datetime | None = None, batch: int = BATCH) -> CleanupReport:
    """Applies every retention window once (see the module); safe to run at any time."""
    started = time.perf_counter()
    retention = retention or Retention.from_config()
    now = now or utcnow()
    storage = Path(storage_dir)
    report = CleanupReport()
    details_cut = retention.cutoff(retention.run_detail_days, now)
    tombstone_cut = retention.cutoff(retention.tombstone_days, now)
    for district in District.select().order_by(District.id):
        lock = DistrictLock(database.obj, district.id, storage / "locks")
        if not lock.try_acquire():
            report.busy.append(district.slug)
            continue
        with lock:
            _clean_run_details(district, details_cut, now, report, batch)
            _blank_tombstones(district, tombstone_cut, now, report, batch)
    report.questions_deleted = _clean_teacher_questions(details_cut, report, batch)
    report.events_deleted = forget_old_events(retention.cutoff(retention.event_days, now),
                                              report.batches, batch)
    package_cut = retention.cutoff(retention.package_days, now)
    report.packages_deleted = _clean_packages(storage / "packages", package_cut)
    report.drop_files_deleted = _clean_drop_files(package_cut)
    report.nonces_forgotten = nonces.forget_spent(
        now - dt.timedelta(seconds=nonces.REMEMBER_SECONDS))
    report.seconds = time.perf_counter() - started
    return report


def _clean_run_details(district: District, cutoff: dt.datetime, now: dt.datetime,
                       report: CleanupReport, batch: int) -> None:
    db, p = database.obj, database.obj.param
    old = (SyncRun.select(SyncRun.id)
           .where((SyncRun.district == district) & (SyncRun.finished_at < cutoff)
                  & SyncRun.details_removed_at.is_null())
           .order_by(SyncRun.id))
    for run in old:
        for table, column, counter in ((RunChange._meta.table_name, "run_id", "changes_deleted"),
                                       (RunIssue._meta.table_name, "run_id", "issues_deleted")):
            sql = (f'DELETE FROM "{table}" WHERE id IN (SELECT id FROM "{table}" '
                   f"WHERE {column} = {p} LIMIT {int(batch)})")
            deleted = report.batches.run(
                lambda sql=sql, run_id=run.id: db.execute_sql(sql, [run_id]).rowcount, batch)
            setattr(report, counter, getattr(report, counter) + deleted)
        SyncRun.update(details_removed_at=now).where(SyncRun.id == run.id).execute()
        report.runs_cleaned += 1


def _clean_teacher_questions(cutoff: dt.datetime, report: CleanupReport, batch: int) -> int:
    """Teachers' "someone missing?" questions (their queries name students) go with the run
    details they were answered from."""
    db, p = database.obj, database.obj.param
    table = TeacherQuestion._meta.table_name
    sql = (f'DELETE FROM "{table}" WHERE id IN (SELECT id FROM "{table}" '
           f"WHERE asked_at < {p} LIMIT {int(batch)})")
    return report.batches.run(lambda: db.execute_sql(sql, [cutoff]).rowcount, batch)


def _blank_tombstones(district: District, cutoff: dt.datetime, now: dt.datetime,
                      report: CleanupReport, batch: int) -> None:
    """Blanks the personal fields of users removed by the district's applied runs that
    finished before ``cutoff`` (and are not yet marked done), a batch of ids at a time."""
    db, p = database.obj, database.obj.param
    table = RosterUser._meta.table_name
    sets = ", ".join(f'"{name}" = NULL' for name in BLANKED_USER_FIELDS)
    runs = (SyncRun.select(SyncRun.id)
            .where((SyncRun.district == district) & (SyncRun.status == APPLIED)
                   & (SyncRun.finished_at < cutoff) & SyncRun.tombstones_blanked_at.is_null())
            .order_by(SyncRun.id))
    for run in runs:
        last = [0]

        def one_batch(run_id=run.id, last=last) -> int:
            ids = [row[0] for row in db.execute_sql(
                f'SELECT id FROM "{table}" WHERE district_id = {p} AND removed_run_id = {p} '
                f"AND id > {p} ORDER BY id LIMIT {int(batch)}",
                [district.id, run_id, last[0]]).fetchall()]
            if not ids:
                return 0
            last[0] = ids[-1]
            marks = ", ".join([p] * len(ids))
            db.execute_sql(f'UPDATE "{table}" SET {sets}, row_hash = 0 WHERE id IN ({marks}) '
                           f"AND removed_run_id = {p}", [*ids, run_id])
            return len(ids)

        report.tombstones_blanked += report.batches.run(one_batch, batch)
        SyncRun.update(tombstones_blanked_at=now).where(SyncRun.id == run.id).execute()


def _clean_packages(package_dir: Path, cutoff: dt.datetime) -> int:
    """Deletes kept packages of runs finished before ``cutoff`` (and forgets their path),
    then any file left in the package folder unchanged since before it."""
    deleted = 0
    kept = (SyncRun.select(SyncRun.id, SyncRun.package_path)
            .where(SyncRun.package_path.is_null(False) & (SyncRun.finished_at < cutoff)))
    for run in kept:
        if _unlink_inside(package_dir, Path(run.package_path)):
            deleted += 1
        SyncRun.update(package_path=None).where(SyncRun.id == run.id).execute()
    limit = _timestamp(cutoff)
    try:
        entries = list(os.scandir(package_dir))
    except OSError:
        return deleted
    for entry in entries:
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(info.st_mode) and info.st_mtime < limit:
            if _unlink_inside(package_dir, Path(entry.path)):
                deleted += 1
    return deleted


def _unlink_inside(folder: Path, path: Path) -> bool:
    """Deletes ``path`` if it is a file (or link) directly in ``folder``."""
    if path.parent.resolve() != folder.resolve():
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _clean_drop_files(cutoff: dt.datetime) -> int:
    """Deletes the regular files in each CSV drop's ``processed`` folder last written before
    ``cutoff`` (moving a file there keeps its modification time); never through a link."""
    limit, deleted, seen = _timestamp(cutoff), 0, set()
    for district in District.select().where(District.source_kind == "csv_drop"):
        directory = (district.source_config or {}).get("directory")
        if not directory or os.path.realpath(directory) in seen:
            continue
        seen.add(os.path.realpath(directory))
        deleted += remove_processed(Path(directory), older_than=limit)
    return deleted


def remove_processed(drop: Path, *, older_than: float | None = None) -> int:
    """Deletes regular files (all, or those unchanged since the timestamp ``older_than``)
    from ``drop/processed``, through descriptors that follow no link; returns how many."""
    try:
        folder = os.open(drop, _DIR_FLAGS)
    except OSError:
        return 0
    try:
        try:
            processed = os.open(PROCESSED, _DIR_FLAGS, dir_fd=folder)
        except OSError:
            return 0
        try:
            return _unlink_files(processed, older_than)
        finally:
            os.close(processed)
    finally:
        os.close(folder)


def _unlink_files(folder: int, older_than: float | None) -> int:
    deleted = 0
    with os.scandir(folder) as entries:
        names = [e.name for e in entries]
    for name in names:
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        if older_than is not None and info.st_mtime >= older_than:
            continue
        os.unlink(name, dir_fd=folder)
        deleted += 1
    return deleted


def _timestamp(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.UTC).timestamp()
