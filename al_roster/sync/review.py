"""Deciding runs: approving or rejecting a held run, undoing an applied one.

Undo puts the roster copy back as it was before a run: rows the run created are deleted
(they did not exist), rows it removed come back, rows it updated or restored get their
before-values. It refuses when a later run changed any of the same rows, naming those
runs, because undoing under them would lose their changes.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import RunStateError, UndoConflict
from ..models import ROSTER_MODELS, RunChange, SyncRun, database
from ..models.base import write_transaction
from ..models.district import utcnow
from ..models.events import RUN_APPLIED, RUN_UNDONE
from ..models.runs import APPLIED, DISCARDED, HELD, PARTIAL, UNDONE
from ..oneroster.entities import ENTITIES, all_stored_columns
from .apply import COPIED, derive_user_roles
from .change_events import stage_run_event
from .events import publishing
from .held_changes import apply_held, forget_held
from .lock import DistrictLock
from .reconcile import reconcile_imported_classes
from .runner import SyncOptions, apply_approved_run
from .sql import column_type, json_field


def approve_run(run: SyncRun, options: SyncOptions, *, by: str | None = None) -> SyncRun:
    """Applies a held run, re-planned against the roster copy as it is now; of a run applied
    with its removals held, applies those removals (and held updates) where the copy is
    still as the run left it."""
    if run.status == PARTIAL:
        return _approve_held_part(run, options, by)
    _require(run, HELD, "approve")
    if not run.package_path or not Path(run.package_path).exists():
        raise RunStateError(f"Run {run.id}'s package is no longer kept, so it cannot be "
                            "applied; sync the file again instead.")
    run.decided_by, run.decided_at = by, utcnow()
    return apply_approved_run(run, options)


def reject_run(run: SyncRun, *, by: str | None = None) -> SyncRun:
    """Discards a held run: nothing changes. Of a run applied with its removals held,
    discards the held part: what applied stays."""
    if run.status == PARTIAL:
        with write_transaction():
            dropped = forget_held(database.obj, run.id)
            run.status, run.decided_by, run.decided_at = APPLIED, by, utcnow()
            run.counts = {**(run.counts or {}), "held_rejected": dropped}
            run.message = ((run.message or "") + f" Rejected by reviewer: the {dropped:,} held "
                           "changes were discarded; the rest of the run stays applied.")
            run.save()
        return run
    _require(run, HELD, "reject")
    run.status, run.decided_by, run.decided_at = DISCARDED, by, utcnow()
    run.message = (run.message or "") + " Rejected by reviewer: nothing was applied."
    run.save()
    if run.package_path:
        Path(run.package_path).unlink(missing_ok=True)
    return run


def undo_run(run: SyncRun, options: SyncOptions, *, by: str | None = None) -> SyncRun:
    """Puts the district's roster copy back as it was before ``run`` (of a run applied with
    its removals held, the applied part; the held part is discarded)."""
    if run.status != PARTIAL:
        _require(run, APPLIED, "undo")
    too_old = options.undo_refusal and options.undo_refusal(run)  # past the retention window
    if too_old:
        raise RunStateError(too_old)
    db = database.obj
    lock = DistrictLock(db, run.district_id, options.lock_dir)
    if not lock.try_acquire():
        raise RunStateError("A sync of this district is running; undo it when that has finished.")
    with lock, publishing(db):
        conflicts = later_runs_touching(run)
        if conflicts:
            names = ", ".join(str(r) for r in conflicts)
            raise UndoConflict(f"Runs {names} changed records that run {run.id} changed; "
                               f"undo them first (newest first), then run {run.id}.",
                               runs=conflicts)
        forget_held(db, run.id)
        for entity in ENTITIES:
            _undo_entity(db, run, entity)
        derive_user_roles(db, run.district_id, None)  # roles put back: so are users' roles
        reconciled = reconcile_imported_classes(db, run.district_id, run.id)
        stage_run_event(db, RUN_UNDONE, run, {"counts": reconciled})
        run.status, run.decided_by, run.decided_at = UNDONE, by, utcnow()
        run.counts = {**(run.counts or {}), "undo_reconciliation": reconciled}
        run.save()
    return run


def _approve_held_part(run: SyncRun, options: SyncOptions, by: str | None) -> SyncRun:
    db = database.obj
    lock = DistrictLock(db, run.district_id, options.lock_dir)
    if not lock.try_acquire():
        raise RunStateError("A sync of this district is running; approve this run when it "
                            "has finished.")
    with lock, publishing(db, run_id=run.id):
        done = apply_held(db, run.district_id, run.id)
        derive_user_roles(db, run.district_id, run.id)
        reconciled = reconcile_imported_classes(db, run.district_id, None)
        stage_run_event(db, RUN_APPLIED, run, {"status": APPLIED, "part": "held",
                                               "counts": reconciled})
        removed = sum(d["removed"] for d in done.values())
        updated = sum(d["updated"] for d in done.values())
        skipped = sum(d["skipped"] for d in done.values())
        run.status, run.decided_by, run.decided_at = APPLIED, by, utcnow()
        run.counts = {**(run.counts or {}), "held_applied": done,
                      "held_reconciliation": reconciled}
        run.message = ((run.message or "") + f" Approved by reviewer: {removed:,} held "
                       f"removals and {updated:,} held updates applied"
                       + (f"; {skipped:,} left as later runs left them." if skipped else "."))
        run.save()
    return run


def later_runs_touching(run: SyncRun) -> list[int]:
    """Ids of later runs that changed a row this run created, updated, restored or removed."""
    db, p = database.obj, database.obj.param
    found: set[int] = set()
    for name, model in ROSTER_MODELS.items():
        table = model._meta.table_name
        rows = db.execute_sql(
            f'SELECT DISTINCT r.last_run_id FROM "{table}" r WHERE r.district_id = {p} '
            f"AND r.last_run_id <> {p} AND (r.first_run_id = {p} OR r.id IN (SELECT c.row_id "
            f'FROM "{RunChange._meta.table_name}" c WHERE c.run_id = {p} AND c.entity = {p} '
            "AND c.kind IN ('updated', 'restored', 'removed')))",
            [run.district_id, run.id, run.id, run.id, name]).fetchall()
        found.update(r[0] for r in rows)
    return sorted(found, reverse=True)


def _undo_entity(db, run: SyncRun, entity) -> None:
    model = ROSTER_MODELS[entity.name]
    table, changes, p = model._meta.table_name, RunChange._meta.table_name, db.param
    db.execute_sql(f'DELETE FROM "{table}" WHERE district_id = {p} AND first_run_id = {p}',
                   [run.district_id, run.id])
    db.execute_sql(
        f'UPDATE "{table}" SET removed_run_id = NULL, last_run_id = c.prev_last_run_id '
        f'FROM "{changes}" c WHERE c.run_id = {p} AND c.entity = {p} AND c.kind = \'removed\' '
        f'AND "{table}".id = c.row_id', [run.id, entity.name])
    columns = [(c.attr, column_type(model._meta.columns[c.attr]))
               for c in all_stored_columns(entity)]
    columns += [(c, column_type(model._meta.columns[c])) for c in COPIED]
    columns.append(("removed_run_id", "INTEGER"))
    sets = ", ".join(f'"{name}" = {json_field(db, "c.before", name, kind)}'
                     for name, kind in columns)
    db.execute_sql(
        f'UPDATE "{table}" SET {sets}, last_run_id = c.prev_last_run_id FROM "{changes}" c '
        f"WHERE c.run_id = {p} AND c.entity = {p} AND c.kind IN ('updated', 'restored') "
        f'AND "{table}".id = c.row_id', [run.id, entity.name])


def _require(run: SyncRun, status: str, action: str) -> None:
    if run.status != status:
        raise RunStateError(f"Run {run.id} is {run.status}; only a {status} run can be "
                            f"{'undone' if action == 'undo' else action + 'd'}.")
