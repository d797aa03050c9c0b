"""Apply: the planned changes written to the roster copy in a few set-based statements.

Per entity, in this order: keep the before-values of rows about to be updated or restored
(for the diff and for undo), update them, insert the new rows, then tombstone the removed
ones (keeping what undo needs). Statements whose plan count is zero are skipped, so a night
with no changes costs only the comparison.
"""
from __future__ import annotations

import peewee

from ..models import partitions
from ..models.runs import RunChange
from ..oneroster.entities import ENTITIES, ENTITY_BY_NAME, Entity, all_stored_columns
from .plan import EntityPlan, removal_condition
from .sql import few_joined_to_many, json_object
from .staging import Stage, analyze, roster_table, stage_table

#: Row columns a change record keeps besides the entity's own.
TRACKED = ("extra", "row_hash", "date_last_modified", "removed_run_id")
COPIED = ("date_last_modified", "extra", "row_hash")


def value_columns(entity: Entity) -> list[str]:
    return [c.attr for c in all_stored_columns(entity)]


def apply_plan(db: peewee.Database, stage: Stage, run_id: int,
               plans: dict[str, EntityPlan], held: dict[str, set[str]] | None = None) -> None:
    """Applies the plans; ``held`` (entity -> held kinds, see sync.held_changes) names the
    change records of this run whose rows must be left alone."""
    for entity in ENTITIES:
        plan = plans.get(entity.name)
        if plan is None:
            continue
        kinds = (held or {}).get(entity.name, set())
        if plan.updated or plan.restored:
            skip = _held(run_id, entity, "held_update", kinds)
            with few_joined_to_many(db, _few_staged(db, entity, plan.present_before)):
                _record_updates(db, stage, entity, run_id, skip("r"))
                _update(db, stage, entity, run_id, skip(f'"{stage.roster(entity)}"'))
        if plan.created:
            _insert(db, stage, entity, run_id)
        if plan.deleted:
            _remove(db, stage, entity, run_id, _held(run_id, entity, "held_removal", kinds))
        if plan.created + plan.deleted > max(10_000, plan.present_before // 10):
            analyze(db, stage.roster(entity), sqlite_too=True)


def _few_staged(db, entity: Entity, present: int) -> bool:
    """Whether the staged rows of ``entity`` are fewer than one in twenty of the district's
    ``present`` records (see sql.few_joined_to_many)."""
    staged = db.execute_sql(f'SELECT COUNT(*) FROM "{stage_table(entity)}"').fetchone()[0]
    return staged * 20 < present


def _held(run_id: int, entity: Entity, kind: str, kinds: set[str]):
    """A function of a row alias giving the SQL that leaves the run's held rows out."""
    if kind not in kinds:
        return lambda row: ""
    return lambda row: (f" AND {row}.id NOT IN (SELECT h.row_id FROM "
                        f"\"{RunChange._meta.table_name}\" h WHERE h.run_id = {int(run_id)} "
                        f"AND h.entity = '{entity.name}' AND h.kind = '{kind}')")


def _changed(alias_r: str = "r", alias_s: str = "s") -> str:
    return (f"{alias_s}.status = 'active' AND ({alias_r}.row_hash <> {alias_s}.row_hash "
            f"OR {alias_r}.removed_run_id IS NOT NULL)")


CHANGE_COLUMNS = "run_id, entity, row_id, sourced_id, kind, prev_last_run_id, before, after"


def _updates_select(db, stage: Stage, entity: Entity, *, kind: str | None = None,
                    skip: str = "") -> str:
    """The change records of the rows the file updates or restores; with ``kind``, of the
    updates alone (not restorations), recorded as that kind."""
    p, columns = db.param, value_columns(entity)
    before = json_object(db, "r", columns + list(TRACKED))
    after = json_object(db, "s", columns + list(COPIED))
    which = ("CASE WHEN r.removed_run_id IS NULL THEN 'updated' ELSE 'restored' END"
             if kind is None else f"'{kind}'")
    only = "" if kind is None else " AND r.removed_run_id IS NULL"
    return (f"SELECT {p}, {p}, r.id, r.sourced_id, {which}, r.last_run_id, {before}, {after} "
            f'FROM "{stage_table(entity)}" s JOIN "{stage.roster(entity)}" r '
            f"ON r.district_id = {p} AND r.sourced_id = s.sourced_id WHERE {_changed()}"
            f"{only}{skip}")


def _removals_select(db, stage: Stage, entity: Entity, skip: str = "") -> str:
    p = db.param
    return (f"SELECT {p}, {p}, r.id, r.sourced_id, 'removed', r.last_run_id, NULL, NULL "
            f'FROM "{stage.roster(entity)}" r WHERE r.district_id = {p} AND '
            f"{removal_condition(stage, entity.name)}{skip}")


def _creations_select(db, stage: Stage, entity: Entity) -> str:
    p, roster = db.param, stage.roster(entity)
    after = json_object(db, "s", value_columns(entity))
    return (f"SELECT {p}, {p}, 0, s.sourced_id, 'created', NULL, NULL, {after} "
            f'FROM "{stage_table(entity)}" s WHERE s.status = \'active\' AND NOT EXISTS '
            f'(SELECT 1 FROM "{roster}" r WHERE r.district_id = {p} AND r.sourced_id = s.sourced_id)')


def preview_changes(db, stage: Stage, run_id: int, plans: dict[str, EntityPlan],
                    limit: int = 1000) -> list[tuple]:
    """A sample of what applying would change, kept for the reviewer of a held run."""
    rows: list[tuple] = []
    for entity in ENTITIES:
        if entity.name not in plans:
            continue
        params = [run_id, entity.name, stage.district_id]
        for select in (_updates_select, _removals_select, _creations_select):
            rows += db.execute_sql(f"{select(db, stage, entity)} LIMIT {int(limit)}",
                                   params).fetchall()
    return rows


def _record_updates(db, stage: Stage, entity: Entity, run_id: int, skip: str = "") -> None:
    db.execute_sql(
        f'INSERT INTO "{RunChange._meta.table_name}" ({CHANGE_COLUMNS}) '
        + _updates_select(db, stage, entity, skip=skip), [run_id, entity.name, stage.district_id])


def _update(db, stage: Stage, entity: Entity, run_id: int, skip: str = "") -> None:
    p, target = db.param, f'"{stage.roster(entity)}"'
    sets = ", ".join(f'"{c}" = s."{c}"' for c in value_columns(entity) + list(COPIED))
    db.execute_sql(
        f"UPDATE {target} SET {sets}, removed_run_id = NULL, last_run_id = {p} "
        f'FROM "{stage_table(entity)}" s WHERE {target}.district_id = {p} '
        f"AND {target}.sourced_id = s.sourced_id AND {_changed(target)}{skip}",
        [run_id, stage.district_id])


def _insert(db, stage: Stage, entity: Entity, run_id: int) -> None:
    """The new rows; a district's first rows of a partitioned table go into its partition,
    made, filled and attached here (models.partitions)."""
    p, shared, roster = db.param, roster_table(entity), stage.roster(entity)
    first = None if roster != shared else partitions.new_partition(db, shared,
                                                                  stage.district_id)
    columns = value_columns(entity) + list(COPIED)
    names = ", ".join(f'"{c}"' for c in columns)
    picks = ", ".join(f's."{c}"' for c in columns)
    new = ("WHERE s.status = 'active'" if first else
           f"WHERE s.status = 'active' AND NOT EXISTS (SELECT 1 FROM \"{roster}\" r "
           f"WHERE r.district_id = {p} AND r.sourced_id = s.sourced_id)")
    db.execute_sql(
        f'INSERT INTO "{first or roster}" (district_id, sourced_id, {names}, first_run_id, '
        f"last_run_id) SELECT {p}, s.sourced_id, {picks}, {p}, {p} "
        f'FROM "{stage_table(entity)}" s {new}',
        [stage.district_id, run_id, run_id] + ([] if first else [stage.district_id]))
    if first:
        partitions.attach(db, shared, first, stage.district_id)
        stage.partitions[shared] = first


def _remove(db, stage: Stage, entity: Entity, run_id: int, skip=lambda row: "") -> None:
    p, target = db.param, f'"{stage.roster(entity)}"'
    db.execute_sql(
        f'INSERT INTO "{RunChange._meta.table_name}" ({CHANGE_COLUMNS}) '
        + _removals_select(db, stage, entity, skip("r")), [run_id, entity.name, stage.district_id])
    db.execute_sql(
        f"UPDATE {target} SET removed_run_id = {p}, last_run_id = {p} "
        f"WHERE district_id = {p} AND {removal_condition(stage, entity.name, target)}"
        f"{skip(target)}", [run_id, run_id, stage.district_id])


def derive_user_roles(db, district_id: int, run_id: int | None) -> None:
    """OneRoster 1.2 keeps a person's roles in roles.csv, one row per org and role: copy onto
    the user the role the app serves them as (teacher before student before district
    administrator, then the primary role), so a teacher who also administers a school is
    still a teacher. Sign-in reads every role (services.provisioning); this is the summary
    lists and searches show.

    With ``run_id``, only users the run wrote, or whose roles it wrote, can have a new role;
    with None (after an undo), every user of the district who has roles is derived again."""
    users = roster_table(ENTITY_BY_NAME["users"])
    roles = roster_table(ENTITY_BY_NAME["roles"])
    p = db.param
    chosen = (
        f'SELECT rr.role FROM "{roles}" rr WHERE rr.district_id = {p} '
        f'AND rr.user_sourced_id = "{users}".sourced_id AND rr.removed_run_id IS NULL '
        "ORDER BY CASE rr.role WHEN 'teacher' THEN 0 WHEN 'student' THEN 1 "
        "WHEN 'districtAdministrator' THEN 2 WHEN 'systemAdministrator' THEN 3 ELSE 4 END, "
        "CASE WHEN rr.role_type = 'primary' THEN 0 ELSE 1 END, rr.id LIMIT 1")
    if run_id is None:
        db.execute_sql(
            f'UPDATE "{users}" SET role = ({chosen}) WHERE district_id = {p} AND sourced_id IN '
            f'(SELECT rr.user_sourced_id FROM "{roles}" rr WHERE rr.district_id = {p})',
            [district_id, district_id, district_id])
        return
    db.execute_sql(
        f'UPDATE "{users}" SET role = ({chosen}) '
        f'WHERE district_id = {p} AND (last_run_id = {p} OR sourced_id IN (SELECT '
        f'rr.user_sourced_id FROM "{roles}" rr WHERE rr.district_id = {p} '
        f"AND rr.last_run_id = {p}))",
        [district_id, district_id, run_id, district_id, run_id])
