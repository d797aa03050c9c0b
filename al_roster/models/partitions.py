"""On PostgreSQL, each district's roster rows live in partitions of their own.

The roster tables are partitioned by ``district_id`` (migration 0015), one partition per
district and table, named ``<table>_d<district id>``. A district's first rows are written
into a plain table with no index, which is then attached: PostgreSQL builds its indexes in
one pass each, after the load. 6.9 M enrollments inserted into a table whose eight indexes
are kept current row by row took 100 s one evening; loaded into a plain table and indexed
after, 42 s. The attachment takes a SHARE UPDATE EXCLUSIVE lock on the shared table, which
lets every other district read and write on (two first loads attach one after the other).

Later nights write through the shared table, which routes each row to its district's
partition. SQLite keeps one table per entity: a transaction there holds the only write
lock anyway, and nothing here applies.
"""
from __future__ import annotations

import peewee

from .base import is_postgres


def partition_name(table: str, district_id: int) -> str:
    return f"{table}_d{int(district_id)}"


def is_partitioned(db: peewee.Database, table: str) -> bool:
    if not is_postgres(db):
        return False
    return db.execute_sql("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)",
                          (table,)).fetchone() is not None


def has_partition(db: peewee.Database, table: str, district_id: int) -> bool:
    """Whether the district has its partition of ``table`` (attached, or made in this
    transaction and not yet attached)."""
    return db.execute_sql("SELECT to_regclass(%s)", (partition_name(table, district_id),)
                          ).fetchone()[0] is not None


def of_district(db: peewee.Database, district_id: int) -> dict[str, str]:
    """The district's attached partitions: shared table -> partition. A sync's statements
    name them rather than the shared tables: PostgreSQL estimates joins and groupings over
    a partitioned table from statistics of the whole table, which nothing keeps (ANALYZE of
    it would sample every district's partitions again), and so, for a partition of 6.9 M
    enrollments, hashes in batches spilled to disk where one index scan does."""
    if not is_postgres(db):
        return {}
    rows = db.execute_sql(
        "SELECT p.relname, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE c.relkind = 'r' AND c.relname = "
        "p.relname || %s", (f"_d{int(district_id)}",)).fetchall()
    return dict(rows)


def new_partition(db: peewee.Database, table: str, district_id: int) -> str | None:
    """A plain table for the district's first rows of ``table``, to fill and then
    :func:`attach`; None where rows go into ``table`` itself (SQLite, or the district has
    its partition). Its CHECK spares the attachment a scan of what was loaded."""
    if not is_partitioned(db, table) or has_partition(db, table, district_id):
        return None
    part = partition_name(table, district_id)
    db.execute_sql(f'CREATE TABLE "{part}" (LIKE "{table}" INCLUDING DEFAULTS, '
                   f"CHECK (district_id = {int(district_id)}))")
    return part


def attach(db: peewee.Database, table: str, part: str, district_id: int) -> None:
    """Attaches a partition made by :func:`new_partition`; PostgreSQL builds the shared
    table's indexes on it, each from the loaded rows at once."""
    db.execute_sql(f'ALTER TABLE "{table}" ATTACH PARTITION "{part}" '
                   f"FOR VALUES IN ({int(district_id)})")


def ensure_partition(db: peewee.Database, table: str, district_id: int) -> None:
    """Gives the district its (empty) partition of ``table``, for a writer other than a
    sync's first load."""
    part = new_partition(db, table, district_id)
    if part is not None:
        attach(db, table, part, district_id)
