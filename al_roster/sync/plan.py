"""Plan -> guard: what a staged package would change, and whether that is safe to apply.

:func:`plan_changes` counts, per entity, the rows a sync would create, restore, update,
leave unchanged and remove, with one set-based query each. :func:`deletion_hold` is the
pure rule that stops a bad bulk upload: any entity losing more than the district's
threshold share of its present records holds the whole run for review.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import peewee

from ..oneroster.entities import ENTITIES, ENTITY_BY_NAME
from .staging import Stage, roster_table, stage_table


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

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Hold:
    """Why a run was held: the entity losing the most, and its numbers."""

    entity: str
    deleted: int
    present: int
    share: float
    threshold: float

    def describe(self) -> str:
        return (f"Held for review: this upload would remove {self.deleted:,} of "
                f"{self.present:,} {self.entity} ({self.share:.0%}), more than the district's "
                f"{self.threshold:.0%} limit. Nothing was changed.")


def _scalar(db: peewee.Database, sql: str, params: list) -> int:
    return db.execute_sql(sql, params).fetchone()[0] or 0


def removal_condition(stage: Stage, name: str, alias: str = "r") -> str:
    """SQL condition on roster rows ``alias`` that the staged file removes."""
    table = stage_table(ENTITY_BY_NAME[name])
    if stage.mode(name) == "bulk":
        return (f"{alias}.removed_run_id IS NULL AND NOT EXISTS (SELECT 1 FROM \"{table}\" s "
                f"WHERE s.sourced_id = {alias}.sourced_id AND s.status = 'active')")
    # A delta names its removals: start from them, not from every row of the district.
    return (f"{alias}.removed_run_id IS NULL AND {alias}.sourced_id IN (SELECT s.sourced_id "
            f"FROM \"{table}\" s WHERE s.status = 'tobedeleted')")


def plan_changes(db: peewee.Database, stage: Stage) -> dict[str, EntityPlan]:
    """What applying the staged package would do, per entity it touches."""
    plans: dict[str, EntityPlan] = {}
    p = db.param
    for entity in ENTITIES:
        staged = stage.entities[entity.name]
        if staged.identical_to is not None:
            plans[entity.name] = EntityPlan("bulk", rows=staged.rows, unchanged=staged.rows,
                                            digest=staged.digest,
                                            identical_to=staged.identical_to)
            continue
        if staged.mode == "absent":
            continue
        roster, stage_t = roster_table(entity), stage_table(entity)
        plan = plans[entity.name] = EntityPlan(staged.mode, rows=staged.rows, digest=staged.digest,
                                               clean=staged.clean)
        if staged.mode == "bulk":  # only bulk removals are weighed against the threshold
            plan.present_before = _scalar(
                db, f'SELECT COUNT(*) FROM "{roster}" WHERE district_id = {p} '
                    "AND removed_run_id IS NULL", [stage.district_id])
        row = db.execute_sql(
            "SELECT COUNT(*), "
            "SUM(CASE WHEN r.id IS NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN r.removed_run_id IS NOT NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN r.removed_run_id IS NULL AND r.row_hash <> s.row_hash THEN 1 ELSE 0 END) "
            f'FROM "{stage_t}" s LEFT JOIN "{roster}" r ON r.district_id = {p} '
            "AND r.sourced_id = s.sourced_id WHERE s.status = 'active'",
            [stage.district_id]).fetchone()
        active, plan.created, plan.restored, plan.updated = (v or 0 for v in row)
        plan.unchanged = active - plan.created - plan.restored - plan.updated
        plan.deleted = _scalar(
            db, f'SELECT COUNT(*) FROM "{roster}" r WHERE r.district_id = {p} AND '
                + removal_condition(stage, entity.name), [stage.district_id])
    return plans


def deletion_hold(plans: dict[str, EntityPlan], threshold: float) -> Hold | None:
    """The largest over-threshold removal by a bulk file, or None if the run may apply."""
    worst: Hold | None = None
    for name, plan in plans.items():
        if plan.mode != "bulk" or not plan.deleted or not plan.present_before:
            continue
        share = plan.deleted / plan.present_before
        if share > threshold and (worst is None or share > worst.share):
            worst = Hold(name, plan.deleted, plan.present_before, share, threshold)
    return worst
