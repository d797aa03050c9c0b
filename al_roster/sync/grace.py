"""Removal grace: a record a bulk file lacks is kept until it has been missing from N
consecutive applied bulk runs (the district's ``removal_grace_runs``), so one night's
incomplete export removes nothing.

Each applied bulk run marks the rows its file lacks (since which run, how many runs) and
clears the mark of rows the file has again; :func:`~al_roster.sync.plan.removal_condition`
removes only rows whose mark reaches N. One statement per entity and direction.
"""
from __future__ import annotations

import peewee

from ..oneroster.entities import ENTITIES
from .plan import EntityPlan
from .staging import Stage
from .tables import lacking


def mark_missing(db: peewee.Database, stage: Stage, run_id: int,
                 plans: dict[str, EntityPlan]) -> None:
    """After applying: counts this run for the present rows each bulk file lacks, and
    forgets the count of rows that are back. Nothing to do when grace is off."""
    if stage.removal_grace <= 1:
        return
    p = db.param
    for entity in ENTITIES:
        plan = plans.get(entity.name)
        if plan is None or stage.mode(entity.name) != "bulk":
            continue
        table = stage.roster(entity)
        lacks = lacking(stage, entity.name, f'"{table}"')
        # The present records the file names are its unchanged and updated ones (held or
        # not): when they are all there were, none is missing.
        absent = plan.present_before - plan.unchanged - plan.updated - plan.held_updates
        plan.missing = 0 if absent <= 0 else db.execute_sql(
            f'UPDATE "{table}" SET missing_runs = COALESCE(missing_runs, 0) + 1, '
            f"missing_since_run_id = COALESCE(missing_since_run_id, {p}) WHERE district_id = {p} "
            f"AND removed_run_id IS NULL AND {lacks}", [run_id, stage.district_id]).rowcount
        db.execute_sql(
            f'UPDATE "{table}" SET missing_runs = NULL, missing_since_run_id = NULL '
            f"WHERE district_id = {p} AND missing_runs IS NOT NULL AND NOT ({lacks})",
            [stage.district_id])
