"""Plan -> guard: what a staged package would change, and whether that is safe to apply.

:func:`plan_changes` counts, per entity, the rows a sync would create, restore, update,
leave unchanged and remove, with one set-based query each. What is too risky to
apply (removals past the district's shares, district-wide or per school or term, and mass
updates, by bulk file or delta) is weighed from these plans in :mod:`al_roster.sync.guards`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import peewee

from ..oneroster.entities import ENTITIES, ENTITY_BY_NAME
from .sql import create_temp_table, few_joined_to_many
from .staging import Stage
from .tables import analyze, lacking, removals_table, stage_table, whole_rows


@dataclass
class EntityPlan:
    mode: str
    rows: int = 0  # good rows in the file
    present_before: int = 0  # present records in the copy before the run
    created: int = 0
    restored: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    digest: str | None = None  # of a bulk file's bytes
    identical_to: int | None = None  # the run that applied the same file
    clean: bool | None = None  # the file read with no row skipped and no reference to nothing
    held_removals: int = 0  # removals a guard held for review (not in ``deleted``)
    held_updates: int = 0  # updates a mass-update guard held (not in ``updated``)
    missing: int = 0  # present records the bulk file lacks, kept under removal grace

    def to_dict(self) -> dict:
        return asdict(self)


def _scalar(db: peewee.Database, sql: str, params: list) -> int:
    return db.execute_sql(sql, params).fetchone()[0] or 0


def removal_condition(stage: Stage, name: str, alias: str = "r") -> str:
    """SQL condition on roster rows ``alias`` that the staged file removes: once planned,
    one look-up in the rows :func:`plan_changes` found (the guards, holds and apply ask
    again and again), before that the rule itself."""
    if name in stage.removals:
        return f'{alias}.id IN (SELECT g.id FROM "{removals_table(name)}" g)'
    return removal_rule(stage, name, alias)


def removal_rule(stage: Stage, name: str, alias: str = "r") -> str:
    table = stage_table(ENTITY_BY_NAME[name])
    if stage.mode(name) == "bulk":
        grace = (f" AND COALESCE({alias}.missing_runs, 0) + 1 >= {int(stage.removal_grace)}"
                 if stage.removal_grace > 1 else "")
        return f"{alias}.removed_run_id IS NULL AND {lacking(stage, name, alias)}{grace}"
    # A delta names its removals: start from them, not from every row of the district.
    return (f"{alias}.removed_run_id IS NULL AND {alias}.sourced_id IN (SELECT s.sourced_id "
            f"FROM \"{table}\" s WHERE s.status = 'tobedeleted')")


def plan_changes(db: peewee.Database, stage: Stage) -> dict[str, EntityPlan]:
    """What applying the staged package would do, per entity it touches."""
    plans: dict[str, EntityPlan] = {}
    for entity in ENTITIES:
        staged = stage.entities[entity.name]
        if staged.identical_to is not None:
            plans[entity.name] = EntityPlan("bulk", rows=staged.rows, unchanged=staged.rows,
                                            digest=staged.digest,
                                            identical_to=staged.identical_to)
        elif staged.mode != "absent":
            plans[entity.name] = _plan(db, stage, entity)
    return plans


def _plan(db: peewee.Database, stage: Stage, entity) -> EntityPlan:
    p, staged = db.param, stage.entities[entity.name]
    roster, stage_t = stage.roster(entity), stage_table(entity)
    plan = EntityPlan(staged.mode, rows=staged.rows, digest=staged.digest, clean=staged.clean)
    if staged.mode == "bulk":  # (counted already where the staging fetched their keys)
        plan.present_before = (staged.present if staged.present is not None
                               else _present(db, roster, stage.district_id))
    # Narrow rows repeat present records value for value: unchanged, without a look.
    narrow = staged.narrow  # (counted once the checks were done)
    whole = staged.rows - narrow  # (few on a quiet night: looked up, not hashed; see sql)
    with few_joined_to_many(db, whole * 20 < (plan.present_before or 0)):
        row = db.execute_sql(
            "SELECT COUNT(*), "
            "SUM(CASE WHEN r.id IS NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN r.removed_run_id IS NOT NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN r.removed_run_id IS NULL AND r.row_hash <> s.row_hash THEN 1 ELSE 0 END) "
            f'FROM "{stage_t}" s LEFT JOIN "{roster}" r ON r.district_id = {p} '
            f"AND r.sourced_id = s.sourced_id WHERE s.status = 'active' AND {whole_rows()}",
            [stage.district_id]).fetchone()
    active, plan.created, plan.restored, plan.updated = (v or 0 for v in row)
    plan.unchanged = narrow + active - plan.created - plan.restored - plan.updated
    # A bulk file naming every present record removes none: no need to look for them.
    if staged.mode != "bulk" or plan.present_before > plan.unchanged + plan.updated:
        plan.deleted = _find_removals(db, stage, entity.name)
    if staged.mode == "delta" and (plan.deleted or plan.updated):  # weighed as bulk's are
        plan.present_before = _present(db, roster, stage.district_id)
    return plan


def _find_removals(db: peewee.Database, stage: Stage, name: str) -> int:
    """Keeps the ids of the roster rows the file removes; returns how many."""
    table = removals_table(name)
    create_temp_table(db, table, [("id", "BIGINT PRIMARY KEY")])
    found = db.execute_sql(
        f'INSERT INTO "{table}" (id) SELECT r.id FROM "{stage.roster(ENTITY_BY_NAME[name])}" r '
        f"WHERE r.district_id = {db.param} AND {removal_rule(stage, name)}",
        [stage.district_id]).rowcount
    analyze(db, table)
    stage.removals.add(name)
    return found


def _present(db: peewee.Database, roster: str, district_id: int) -> int:
    return _scalar(db, f'SELECT COUNT(*) FROM "{roster}" WHERE district_id = {db.param} '
                       "AND removed_run_id IS NULL", [district_id])
