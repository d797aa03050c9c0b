"""Held changes: the risky part of a run kept aside while the rest applies.

A run whose removals (or mass updates) trip a guard applies its creations, restorations and
safe changes at once; the removals of each school, term or entity that tripped, and the
updates of a mass update, are written as change records of the held kinds instead of being
done. Approving does them, re-weighed against the copy as it is then (a record a later run
changed, or already removed, is left as that run left it); rejecting forgets them. Either
way the records done become ordinary ``removed`` and ``updated`` changes of the run, so
undoing the run undoes both parts.
"""
from __future__ import annotations

import peewee

from ..models import ROSTER_MODELS
from ..models.runs import RunChange
from ..oneroster.entities import ENTITIES, ENTITY_BY_NAME, Entity, all_stored_columns
from .apply import CHANGE_COLUMNS, COPIED, _updates_select
from .guards import Guard, scope_columns
from .plan import EntityPlan, removal_condition
from .sql import column_type, json_field
from .staging import Stage
from .tables import roster_table

HELD_REMOVAL, HELD_UPDATE = "held_removal", "held_update"
HELD_KINDS = (HELD_REMOVAL, HELD_UPDATE)
CHANGES = RunChange._meta.table_name


def hold_risky_part(db: peewee.Database, stage: Stage, run_id: int,
                    plans: dict[str, EntityPlan], guard: Guard) -> dict[str, set[str]]:
    """Writes the held change records and takes them out of the plans' counts; returns,
    per entity, the held kinds (what applying must leave alone).

    A school or term that tripped holds its removals in every file that names it (the
    school's own org row, its courses, classes, people, enrollments and roles; the term's
    session, classes and enrollments), so nothing of it goes while the rest waits."""
    kinds: dict[str, set[str]] = {}
    for name, plan in plans.items():
        if plan.deleted:
            plan.held_removals = _hold_removals(db, stage, run_id, name, guard)
            plan.deleted -= plan.held_removals
            if plan.held_removals:
                kinds.setdefault(name, set()).add(HELD_REMOVAL)
        if any(t.entity == name and t.change == "update" for t in guard.trips):
            plan.held_updates = _hold_updates(db, stage, run_id, name)
            plan.updated -= plan.held_updates
            kinds.setdefault(name, set()).add(HELD_UPDATE)
    return kinds


def _hold_removals(db, stage: Stage, run_id: int, name: str, guard: Guard) -> int:
    """Holds the entity's removals: all of them when it tripped district-wide, else those
    of the schools and terms that tripped."""
    whole = any(t.entity == name and t.change == "removal" and t.scope == "district"
                for t in guard.trips)
    where, params = "", []
    school, term, join = scope_columns(name)
    if not whole:
        p = db.param
        parts = [(column, key) for column, keys in ((school, guard.keys("school")),
                                                    (term, guard.keys("term")))
                 if column for key in keys]
        if not parts:
            return 0
        where = " AND (" + " OR ".join(f"{column} = {p}" for column, _ in parts) + ")"
        params = [key for _, key in parts]
    return db.execute_sql(
        f'INSERT INTO "{CHANGES}" ({CHANGE_COLUMNS}) SELECT {db.param}, {db.param}, r.id, '
        f"r.sourced_id, '{HELD_REMOVAL}', r.last_run_id, NULL, NULL "
        f'FROM "{stage.roster(ENTITY_BY_NAME[name])}" r {join} WHERE r.district_id = {db.param} '
        f"AND {removal_condition(stage, name)}{where}",
        [run_id, name, stage.district_id, *params]).rowcount


def _hold_updates(db, stage: Stage, run_id: int, name: str) -> int:
    return db.execute_sql(
        f'INSERT INTO "{CHANGES}" ({CHANGE_COLUMNS}) '
        + _updates_select(db, stage, ENTITY_BY_NAME[name], kind=HELD_UPDATE),
        [run_id, name, stage.district_id]).rowcount


def held_counts(run_id: int) -> dict[str, dict[str, int]]:
    """Per entity, how many removals and updates the run holds."""
    rows = (RunChange.select(RunChange.entity, RunChange.kind, peewee.fn.COUNT(RunChange.id))
            .where((RunChange.run_id == run_id) & RunChange.kind.in_(HELD_KINDS))
            .group_by(RunChange.entity, RunChange.kind).tuples())
    out: dict[str, dict[str, int]] = {}
    for entity, kind, count in rows:
        out.setdefault(entity, {})[kind] = count
    return out


def apply_held(db, district_id: int, run_id: int) -> dict[str, dict[str, int]]:
    """Does what the run holds, where the copy is still as the run left it; forgets the
    rest. Returns per entity how many removals and updates were done and skipped."""
    done: dict[str, dict[str, int]] = {}
    for entity in ENTITIES:
        removed = _do_removals(db, district_id, run_id, entity)
        updated = _do_updates(db, district_id, run_id, entity)
        skipped = forget_held(db, run_id, entity.name)
        if removed or updated or skipped:
            done[entity.name] = {"removed": removed, "updated": updated, "skipped": skipped}
    return done


def _do_removals(db, district_id: int, run_id: int, entity: Entity) -> int:
    table, p = roster_table(entity), db.param
    count = db.execute_sql(
        f'UPDATE "{table}" SET removed_run_id = {p}, last_run_id = {p} FROM "{CHANGES}" c '
        f"WHERE c.run_id = {p} AND c.entity = {p} AND c.kind = '{HELD_REMOVAL}' "
        f'AND "{table}".id = c.row_id AND "{table}".district_id = {p} '
        f'AND "{table}".removed_run_id IS NULL AND "{table}".last_run_id = c.prev_last_run_id',
        [run_id, run_id, run_id, entity.name, district_id]).rowcount
    _mark_done(db, table, run_id, entity.name, HELD_REMOVAL, "removed", "removed_run_id")
    return count


def _do_updates(db, district_id: int, run_id: int, entity: Entity) -> int:
    table, p = roster_table(entity), db.param
    model_columns = [c.attr for c in all_stored_columns(entity)] + list(COPIED)
    fields = ROSTER_MODELS[entity.name]._meta.columns
    sets = ", ".join(f'"{c}" = {json_field(db, "c.after", c, column_type(fields[c]))}'
                     for c in model_columns)
    count = db.execute_sql(
        f'UPDATE "{table}" SET {sets}, last_run_id = {p} FROM "{CHANGES}" c '
        f"WHERE c.run_id = {p} AND c.entity = {p} AND c.kind = '{HELD_UPDATE}' "
        f'AND "{table}".id = c.row_id AND "{table}".district_id = {p} '
        f'AND "{table}".removed_run_id IS NULL AND "{table}".last_run_id = c.prev_last_run_id',
        [run_id, run_id, entity.name, district_id]).rowcount
    _mark_done(db, table, run_id, entity.name, HELD_UPDATE, "updated", "last_run_id")
    return count


def _mark_done(db, table: str, run_id: int, entity: str, held: str, done: str,
               column: str) -> None:
    p = db.param
    db.execute_sql(
        f'UPDATE "{CHANGES}" SET kind = {p} WHERE run_id = {p} AND entity = {p} AND kind = {p} '
        f'AND row_id IN (SELECT id FROM "{table}" WHERE "{column}" = {p})',
        [done, run_id, entity, held, run_id])


def forget_held(db, run_id: int, entity: str | None = None) -> int:
    """Deletes the run's held change records (of one entity, or all): nothing is done."""
    query = RunChange.delete().where((RunChange.run_id == run_id)
                                     & RunChange.kind.in_(HELD_KINDS))
    if entity is not None:
        query = query.where(RunChange.entity == entity)
    return query.execute()


def partial_message(summary: str, guard: Guard, causes: list[str]) -> str:
    """The run's message: what applied, what waits and why, and its likely causes."""
    held = [t for t in guard.trips]
    removals = sum(t.count for t in held if t.change == "removal")
    updates = sum(t.count for t in held if t.change == "update")
    waiting = " and ".join(part for part in (
        f"{removals:,} removals" if removals else "", f"{updates:,} updates" if updates else "")
        if part)
    applied = summary.removeprefix("Applied: ").rstrip(".")
    return " ".join([f"Applied, removals held: {applied} now; {waiting} wait for review "
                     "(approve to apply them, reject to keep the records).",
                     guard.describe(), "Likely cause:", *causes])
