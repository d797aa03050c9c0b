"""Running a sync: read -> stage -> plan -> guard -> apply -> reconcile -> report.

:func:`sync_package` is the one way a package reaches a district's roster copy, whatever
its source; :func:`apply_approved_run` applies a held run a reviewer approved, from the
package kept for it. Either holds the district's lock for the whole run, records the run
before it starts (so a killed run is visible afterwards), and does all the work in one
transaction: a rejected, held or failed run changes nothing.
"""
from __future__ import annotations

import io
import logging
import os
import socket
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import PackageRejected, SyncBusy
from ..models import District, RunChange, RunIssue, SyncRun, database
from ..models.base import discard_connection, unavailable_errors, write_transaction
from ..models.district import utcnow
from ..models.events import RUN_APPLIED
from ..models.runs import APPLIED, FAILED, HELD, PARTIAL, REJECTED, RUNNING
from ..oneroster.issues import IssueLog, safe_text, shown
from ..oneroster.package import DEFAULT_MAX_BYTES, CsvPackage
from .apply import apply_plan, derive_user_roles, preview_changes
from .causes import likely_causes
from .change_events import stage_run_event
from .events import publishing
from .grace import mark_missing
from .guards import Guard, weigh_risks
from .held_changes import hold_risky_part, partial_message
from .identical_files import files_the_copy_holds
from .known_lines import keep as keep_known_lines
from .lock import DistrictLock
from .plan import EntityPlan, plan_changes
from .reconcile import reconcile_imported_classes
from .staging import Stager

log = logging.getLogger(__name__)


@dataclass
class SyncOptions:
    """Where a sync keeps what outlives it; built from the AL_ROSTER_* settings."""

    storage_dir: Path
    max_package_bytes: int = DEFAULT_MAX_BYTES
    #: Called with every run that finishes (or is found dead): notifications hang here.
    after_run: Callable[[SyncRun], None] | None = None
    #: Called after every look at a district (a sync, a check for dead runs) with the ids of
    #: the runs just handed to ``after_run``: where mail that did not go out is tried again.
    after_look: Callable[[District, list[int]], None] | None = None
    #: Why a run may no longer be undone (its details are past the retention windows, which
    #: the clean-up above the sync keeps), or None.
    undo_refusal: Callable[[SyncRun], str | None] | None = None

    def finished(self, run: SyncRun) -> None:
        if self.after_run is None:
            return
        try:
            self.after_run(run)
        except Exception:  # a mail server being down must not undo a finished sync
            log.exception("after-run hook failed for run %s", run.id)

    def looked(self, district: District, *, done: Iterable[int] = ()) -> None:
        if self.after_look is None:
            return
        try:
            self.after_look(district, list(done))
        except Exception:  # nor must mail that still does not go out
            log.exception("after-look hook failed for district %s", district.slug)

    @property
    def lock_dir(self) -> Path:
        return self.storage_dir / "locks"

    @property
    def package_dir(self) -> Path:
        return self.storage_dir / "packages"


class _HeldForReview(Exception):
    def __init__(self, plans, hold, preview):
        super().__init__(hold.describe())
        self.plans, self.hold, self.preview = plans, hold, preview


def sync_package(district: District, path: str | os.PathLike, options: SyncOptions, *,
                 source: str = "cli", source_name: str | None = None, force: bool = False,
                 file: io.BufferedIOBase | None = None,
                 skipped: Sequence[tuple[str, str]] = ()) -> SyncRun:
    """Syncs one package into the district's copy as a new run and returns it, finished.

    ``force`` skips the guards. ``file`` is the package already opened (a drop file): read,
    and kept if held, from it, never from ``path`` again. ``skipped`` are (name, reason) of
    files of the source that were not taken; each becomes a warning of the run.
    Raises :class:`SyncBusy` if the district is already syncing; an unexpected error is
    recorded on the run (failed) and raised.
    """
    def start() -> SyncRun:
        return SyncRun.create(district=district, source=source,
                              source_name=source_name or os.path.basename(str(path)),
                              worker=_worker())
    return _locked_run(district, options, start, Path(path), force=force, file=file,
                       skipped=skipped)


def apply_approved_run(run: SyncRun, options: SyncOptions) -> SyncRun:
    """Applies a held run a reviewer approved, from its kept package, guards skipped: the
    same run, re-planned against the copy as it is now. Its preview (what it would have
    done) gives way to what it does. Raises :class:`SyncBusy` like :func:`sync_package`."""
    def start() -> SyncRun:
        RunChange.delete().where(RunChange.run_id == run.id).execute()
        run.status, run.worker, run.started_at = RUNNING, _worker(), utcnow()
        run.save()
        return run
    # Its "waiting for review" mail is moot now: it is not offered again.
    return _locked_run(run.district, options, start, Path(run.package_path), force=True,
                       done=[run.id])


def _locked_run(district: District, options: SyncOptions, start: Callable[[], SyncRun],
                path: Path, *, force: bool, file: io.BufferedIOBase | None = None,
                skipped: Sequence[tuple[str, str]] = (), done: Sequence[int] = ()) -> SyncRun:
    """Runs ``start()``'s run with the district's lock held, runs found dead marked first."""
    db = database.obj
    lock = DistrictLock(db, district.id, options.lock_dir)
    if not lock.try_acquire():
        raise SyncBusy(_busy_message(district))
    with lock:
        dead = fail_abandoned_runs(district)
        for run_found_dead in dead:
            options.finished(run_found_dead)
        options.looked(district, done=[r.id for r in dead] + list(done))
        run = _run(db, district, start(), path, options, force, file, skipped)
    options.finished(run)
    return run


def _with_skipped(issues: IssueLog, skipped: Sequence[tuple[str, str]]) -> IssueLog:
    for name, reason in skipped:
        issues.warning(name, None, None, f"{shown(name)} was not read: {reason}. Only regular "
                       "files placed directly in the drop folder are synced.")
    return issues


def _run(db, district, run, path, options, force, file=None, skipped=()) -> SyncRun:
    issues = _with_skipped(IssueLog(), skipped)
    try:
        with CsvPackage(path, max_bytes=options.max_package_bytes, file=file) as package:
            issues = _with_skipped(package.issues, skipped)
            run.oneroster_version, run.modes = package.version, package.modes
            _sync_in_transaction(db, district, run, package, force)
    except _HeldForReview as held:
        run.package_path = _keep_package(path, file, run, options)
        causes = likely_causes(held.hold, held.plans, issues, _previous_counts(district, run),
                               held.hold.grades)
        unkept = [] if run.package_path else [
            "The package changed while it was being kept, so this run cannot be approved."]
        _finish(run, HELD, " ".join([held.hold.describe(), "Likely cause:", *causes, *unkept]),
                issues, held.plans, guard=held.hold)
        _keep_preview(run, held.preview)
    except PackageRejected as exc:
        issues.error(exc.file, exc.line, exc.field, exc.message)
        _finish(run, REJECTED, exc.message, issues)
    except Exception as exc:
        log.exception("sync of %s (run %s) failed", district.slug, run.id)
        if isinstance(exc, unavailable_errors()):
            _finish_after_lost_connection(db, run, exc, issues)
        else:
            _finish(run, FAILED, f"The sync failed unexpectedly and changed nothing: {exc}",
                    issues)
        options.finished(run)
        raise
    return run


def _finish_after_lost_connection(db, run: SyncRun, exc: Exception, issues: IssueLog) -> None:
    """The database went away mid-run (a restart, a terminated backend): the transaction
    died with the connection, so nothing was kept, and the server released the district's
    lock. The run is marked failed over a fresh connection; if the database is still
    unreachable, the next sync of the district marks it (as a run found dead)."""
    discard_connection(db)
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    try:
        _finish(run, FAILED, "The sync lost its database connection and changed nothing "
                f"({reason}); it is tried again.", issues)
    except unavailable_errors():
        discard_connection(db)
        log.warning("run %s: the database is unreachable, so it is not marked failed yet",
                    run.id)
        raise exc from None


def _sync_in_transaction(db, district, run, package, force) -> None:
    stager = Stager(db, district.id, package, package.issues, files_the_copy_holds(district))
    try:
        with publishing(db):  # its events are written with it, and sent once it commits
            stage = stager.run()
            stage.removal_grace = district.removal_grace_runs
            plans = plan_changes(db, stage)
            guard = None if force else weigh_risks(db, stage, plans, district)
            if guard is not None and guard.whole_run:
                raise _HeldForReview(plans, guard, preview_changes(db, stage, run.id, plans))
            held = hold_risky_part(db, stage, run.id, plans, guard) if guard else {}
            apply_plan(db, stage, run.id, plans, held)
            mark_missing(db, stage, run.id, plans)
            if package.version == "1.2" and {"users", "roles"} & set(plans):
                derive_user_roles(db, district.id, run.id)
            reconciled = reconcile_imported_classes(db, district.id, run.id)
            stage_run_event(db, RUN_APPLIED, run, {"status": PARTIAL if guard else APPLIED,
                                                   "counts": reconciled})
            if guard is None:
                keep_known_lines(db, stage, run.id, plans)  # (applied whole: what it read stands)
                _finish(run, APPLIED, _summary(plans), package.issues, plans, reconciled)
                return
            causes = likely_causes(guard, plans, package.issues,
                                   _previous_counts(district, run), guard.grades)
            _finish(run, PARTIAL, partial_message(_summary(plans), guard, causes),
                    package.issues, plans, reconciled, guard)
    finally:
        stager.drop()


def _keep_preview(run: SyncRun, rows: list[tuple]) -> None:
    fields = [RunChange.run_id, RunChange.entity, RunChange.row_id, RunChange.sourced_id,
              RunChange.kind, RunChange.prev_last_run_id, RunChange.before, RunChange.after]
    with write_transaction():
        for start in range(0, len(rows), 500):
            RunChange.insert_many(rows[start:start + 500], fields=fields).execute()


def _summary(plans: dict[str, EntityPlan]) -> str:
    created = sum(p.created + p.restored for p in plans.values())
    updated = sum(p.updated for p in plans.values())
    deleted = sum(p.deleted for p in plans.values())
    if not (created or updated or deleted):
        return "Applied: nothing changed."
    return f"Applied: {created:,} created, {updated:,} updated, {deleted:,} removed."


def _finish(run: SyncRun, status: str, message: str, issues: IssueLog,
            plans: dict[str, EntityPlan] | None = None, reconciled: dict | None = None,
            guard: Guard | None = None) -> None:
    counts = {name: plan.to_dict() for name, plan in (plans or {}).items()}
    if reconciled is not None:
        counts["reconciliation"] = reconciled
    if guard is not None:  # what tripped, and where the removals are (the review screen)
        counts["guard"] = guard.to_dict()
    omitted = issues.omitted()
    if omitted:
        message += f" ({omitted:,} further issues were counted but not listed.)"
    run.status, run.counts, run.finished_at = status, counts, utcnow()
    run.message = safe_text(message)
    run.error_count, run.warning_count = issues.error_count, issues.warning_count
    with write_transaction():
        run.save()
        RunIssue.delete().where(RunIssue.run == run).execute()
        rows = [dict(run=run.id, file=i.file, line=i.line, field=i.field, severity=i.severity,
                     message=i.message, count=i.count) for i in issues.items]
        for start in range(0, len(rows), 500):
            RunIssue.insert_many(rows[start:start + 500]).execute()


def _keep_package(path: Path, file, run: SyncRun, options: SyncOptions) -> str | None:
    """A copy of the package that approving the held run will apply: the zip as it was
    read, or a zip of the folder's own files (a pull). Never more than the package limit:
    files that grew past it since they were read are not kept (None)."""
    options.package_dir.mkdir(parents=True, exist_ok=True)
    target = options.package_dir / f"run-{run.id}.zip"
    budget = _Budget(options.max_package_bytes)
    try:
        if file is None and path.is_dir():
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
                for entry in sorted(os.scandir(path), key=lambda e: e.name):
                    if entry.is_file(follow_symlinks=False):
                        with open(entry.path, "rb") as source, \
                                archive.open(entry.name, "w", force_zip64=True) as out:
                            budget.copy(source, out)
        else:
            with (open(path, "rb") if file is None else _rewound(file)) as source, \
                    open(target, "wb") as out:
                budget.copy(source, out)
    except _OverBudget:
        target.unlink(missing_ok=True)
        log.warning("run %s: the package grew past %s bytes; not kept", run.id, budget.limit)
        return None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return str(target)


class _OverBudget(Exception):
    pass


class _Budget:
    """Copies streams, refusing more than ``limit`` bytes in all."""

    def __init__(self, limit: int):
        self.left = self.limit = limit

    def copy(self, source, out) -> None:
        while block := source.read(1 << 20):
            self.left -= len(block)
            if self.left < 0:
                raise _OverBudget
            out.write(block)


def _rewound(file):
    """The already-open package from its start, read through a handle of its own."""
    handle = io.FileIO(os.dup(file.fileno()), "rb")
    handle.seek(0)
    return handle


def _previous_counts(district: District, run: SyncRun) -> dict | None:
    previous = (SyncRun.select().where((SyncRun.district == district) & (SyncRun.status == APPLIED)
                                       & (SyncRun.id != run.id))
                .order_by(SyncRun.id.desc()).first())
    return previous.counts if previous else None


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _busy_message(district: District) -> str:
    running = (SyncRun.select().where((SyncRun.district == district) & (SyncRun.status == RUNNING))
               .order_by(SyncRun.id.desc()).first())
    detail = f" (run {running.id}, started {running.started_at:%Y-%m-%d %H:%M} UTC)" if running else ""
    return (f"A sync of {district.slug} is already running{detail}; this one was not started. "
            "Try again when it has finished.")


def fail_abandoned_runs(district: District) -> list[SyncRun]:
    """Marks failed the runs left 'running' by a process that died. Call with the lock held."""
    dead = list(SyncRun.select().where((SyncRun.district == district)
                                       & (SyncRun.status == RUNNING)))
    for run in dead:
        run.status, run.finished_at = FAILED, utcnow()
        run.message = ("The sync stopped before it finished (its process was killed or its "
                       "machine restarted); nothing it did was kept.")
        run.save()
    return dead


def check_abandoned_runs(district: District, options: SyncOptions) -> int:
    """If no sync holds the district's lock, its 'running' runs are dead: mark them failed.
    Either way, mail that did not go out for its recent held or failed runs is tried again
    (once per look). Returns how many runs were found dead."""
    dead: list[SyncRun] = []
    if SyncRun.select().where((SyncRun.district == district)
                              & (SyncRun.status == RUNNING)).exists():
        lock = DistrictLock(database.obj, district.id, options.lock_dir)
        if lock.try_acquire():
            with lock:
                dead = fail_abandoned_runs(district)
    for run in dead:
        options.finished(run)
    options.looked(district, done=[r.id for r in dead])
    return len(dead)

