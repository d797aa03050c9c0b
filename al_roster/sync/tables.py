"""The names and shapes of the tables a sync works in: the roster copy's and the staged
package's (temporary tables, one per entity), and their statistics."""
from __future__ import annotations

from typing import TYPE_CHECKING

import peewee

from ..models.base import is_postgres
from ..models.roster import ROSTER_MODELS
from ..oneroster.entities import ENTITY_BY_NAME, Entity, all_stored_columns

if TYPE_CHECKING:
    from .staging import Stage


def analyze(db: peewee.Database, table: str, sqlite_too: bool = False) -> None:
    """Fresh statistics, so PostgreSQL plans joins by real sizes: temporary tables are never
    analyzed on their own, and a freshly loaded roster table looks empty to the planner.

    ``sqlite_too`` (a roster table after a large change): SQLite keeps no statistics until
    asked, and without them takes ``district_id = ?`` for a selective look-up, so it walks
    the whole district to join a delta's few thousand staged rows (about 1.2 s for 6.9 M
    enrollments, once after a first load). Otherwise, on SQLite, a temporary table gets a
    quick look (a few hundred rows of each index, its size estimated from its pages): the
    planner then knows 3,000 staged users from the district's million, and updates them by
    look-ups instead of walking every user (0.4 s to under 0.1 s at 1,000,000 students)."""
    if is_postgres(db) or sqlite_too:
        db.execute_sql(f'ANALYZE "{table}"')
        return
    db.execute_sql(f"PRAGMA analysis_limit = {SQLITE_LOOK}")
    try:
        db.execute_sql(f'ANALYZE "{table}"')
    finally:
        db.execute_sql("PRAGMA analysis_limit = 0")


#: How many rows of each index SQLite looks at to size a temporary table.
SQLITE_LOOK = 400


def stage_table(entity: Entity) -> str:
    return "stage_" + entity.name.lower()


def roster_table(entity: Entity) -> str:
    return ROSTER_MODELS[entity.name]._meta.table_name


def stage_columns(entity: Entity) -> list[str]:
    return ["line", "sourced_id", "status", "date_last_modified",
            *(c.attr for c in all_stored_columns(entity)), "extra", "row_hash"]


def whole_rows(alias: str = "s") -> str:
    """SQL condition on staged rows ``alias``: staged whole, not narrow (a row whose values
    the copy already holds; see :mod:`al_roster.oneroster.unchanged`)."""
    return f"{alias}.same IS NULL"


def removals_table(name: str) -> str:
    """The temporary table of the roster rows a staged file removes (their ids)."""
    return "gone_" + name.lower()


def unmatched_table(name: str) -> str:
    """The temporary table of the ids of the present records of entity ``name`` that no
    row of its bulk file repeats value for value."""
    return "unmatched_" + name.lower()


def repeated(stage: Stage, name: str, alias: str = "r") -> str | None:
    """SQL condition on present roster rows ``alias`` of the bulk entity ``name``: a narrow
    row repeats the record (it is none of the unmatched ids); None where those are not kept
    (every record the file names then has its staged row). The records the file names are
    the staged active rows' and these: those :func:`lacking` leaves out, the held narrow
    rows' among them (see sync.narrow_rows)."""
    if name not in stage.unmatched:
        return None
    return f'{alias}.id NOT IN (SELECT u.id FROM "{unmatched_table(name)}" u)'


def lacking(stage: Stage, name: str, alias: str = "r") -> str:
    """SQL condition on roster rows ``alias``: the staged bulk file of entity ``name`` has
    no active row of the record, whole or narrow. Only a record no narrow row repeats can
    be lacking: where those are kept (:attr:`Stage.unmatched`), the search starts there,
    and must where the narrow rows are held, not staged (see sync.narrow_rows)."""
    among = (f'{alias}.id IN (SELECT u.id FROM "{unmatched_table(name)}" u) AND '
             if name in stage.unmatched else "")
    return (f'{among}NOT EXISTS (SELECT 1 FROM "{stage_table(ENTITY_BY_NAME[name])}" s '
            f"WHERE s.sourced_id = {alias}.sourced_id AND s.status = 'active')")
