"""The few places SQLite and PostgreSQL differ for the sync: bulk loading and JSON."""
from __future__ import annotations

import csv
import io
import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice

import peewee

from ..models.base import is_postgres
from ..oneroster.memory import give_back
from ..oneroster.reading_process import decoded
from ..oneroster.unchanged import NARROW_STAGED, UnchangedRows, np, with_constants
from .binary_copy import copy_integers_in

CHUNK_ROWS = 20_000


def chunks(rows: Iterable[tuple], size: int = CHUNK_ROWS) -> Iterator[list[tuple]]:
    rows = iter(rows)
    while chunk := list(islice(rows, size)):
        yield chunk


def column_type(field: peewee.Field) -> str:
    """The SQL type a staging or restoring statement gives the field's values."""
    if isinstance(field, peewee.BooleanField):
        return "BOOLEAN"
    if isinstance(field, peewee.DateField):
        return "DATE"
    if isinstance(field, peewee.BigIntegerField):
        return "BIGINT"
    if isinstance(field, peewee.IntegerField):
        return "INTEGER"
    return "TEXT"


def create_temp_table(db: peewee.Database, name: str, columns: list[tuple[str, str]]) -> None:
    cols = ", ".join(f'"{c}" {t}' for c, t in columns)
    if is_postgres(db):
        db.execute_sql(f'DROP TABLE IF EXISTS "{name}"')
        db.execute_sql(f'CREATE TEMP TABLE "{name}" ({cols}) ON COMMIT DROP')
    else:
        db.execute_sql(f'DROP TABLE IF EXISTS temp."{name}"')
        db.execute_sql(f'CREATE TEMP TABLE "{name}" ({cols})')


def drop_temp_table(db: peewee.Database, name: str) -> None:
    prefix = "" if is_postgres(db) else "temp."
    db.execute_sql(f'DROP TABLE IF EXISTS {prefix}"{name}"')


def drop_temp_tables(db: peewee.Database, names: list[str]) -> None:
    """Drops temporary tables. SQLite, outside a transaction, on a file (an in-memory
    database would go with them), closes the connection instead: that deletes the file
    holding them, where dropping them walks every page of it (10 s after a first load of
    1,000,000 students). The next query opens a fresh connection."""
    if not is_postgres(db) and not db.in_transaction() and db.database != ":memory:":
        db.close()
        return
    for name in names:
        drop_temp_table(db, name)


#: What PostgreSQL is told an index look-up's page costs, for a few rows joined to a
#: district's many (its default, 4, takes every page for a disk read).
CACHED_PAGE_COST = 1.1


@contextmanager
def few_joined_to_many(db: peewee.Database, few: bool) -> Iterator[None]:
    """Inside, PostgreSQL plans ``few`` staged rows joined to the district's records as
    look-ups in the records' index. By default it costs each look-up's pages as reads from
    disk and hashes the whole partition instead: for 68,517 enrollments restored among
    6.8 M, 5.5 s to join against 1.5 s; the district's rows were read by this very sync
    and are in memory. Set for the statements inside, then put back; a failed statement's
    rollback puts it back too."""
    if not few or not is_postgres(db):
        yield
        return
    before = db.execute_sql("SELECT current_setting('random_page_cost')").fetchone()[0]
    setting = f"SELECT set_config('random_page_cost', {db.param}, true)"
    db.execute_sql(setting, [str(CACHED_PAGE_COST)])
    yield
    db.execute_sql(setting, [before])


def release_memory(db: peewee.Database) -> None:
    """Gives back what this process no longer needs: on SQLite the connection's cached
    pages (up to its 64 MB cache, filled by a walk over the district's records), then the
    freed heap (:func:`~al_roster.oneroster.memory.give_back`). Pages read again later
    come from the system's file cache."""
    if not is_postgres(db):
        db.execute_sql("PRAGMA shrink_memory")
    give_back()


def batches(db: peewee.Database, sql: str, params: list, size: int = 50_000,
            release: bool = False) -> Iterator[list[tuple]]:
    """The rows of a query, ``size`` at a time. On PostgreSQL through a cursor declared in
    the transaction: psycopg2 would otherwise hold every row in memory before the first one
    is seen. Call inside a transaction. ``release``: once the rows are read, the memory the
    walk filled is given back (:func:`release_memory`)."""
    if not is_postgres(db):
        cursor = db.execute_sql(sql, params)
        while batch := cursor.fetchmany(size):
            yield batch
        if release:
            release_memory(db)
        return
    db.execute_sql(f"DECLARE al_roster_batches NO SCROLL CURSOR FOR {sql}", params)
    while batch := db.execute_sql(f"FETCH {int(size)} FROM al_roster_batches").fetchall():
        yield batch
    db.execute_sql("CLOSE al_roster_batches")  # (a transaction that fails closes it too)
    if release:
        release_memory(db)


def bulk_load(db: peewee.Database, table: str, columns: list[str], rows: Iterable[tuple],
              unchanged: UnchangedRows | None = None) -> int:
    """Loads rows into a table as fast as the database allows: COPY or executemany.

    With ``unchanged``, rows whose values the copy already holds are loaded narrow, or not
    at all where ``unchanged`` holds them (see :mod:`al_roster.oneroster.unchanged`);
    returns the rows loaded, whole and narrow."""
    parts = ((chunk, []) if unchanged is None else _to_stage(unchanged, chunk)
             for chunk in chunks(rows))
    if is_postgres(db):
        return _copy_pipelined(db.cursor(), _copy(table, columns), _copy(table, NARROW_STAGED),
                               parts)
    inserts, total = (_insert(table, columns), _insert_narrow(table)), 0
    cursor = db.cursor()
    for chunk in parts:
        for insert, part in zip(inserts, chunk, strict=True):
            if part:
                cursor.executemany(insert, part)
                total += len(part)
    return total


def _to_stage(unchanged: UnchangedRows, chunk: list[tuple]) -> tuple[list, list]:
    """(whole, narrow) rows of a chunk to stage: no narrow ones where ``unchanged`` holds
    them (it has noted their lines while splitting)."""
    whole, narrow, _ = unchanged.split(chunk)
    return whole, [] if unchanged.hold else narrow


def load_prepared(db: peewee.Database, table: str, columns: list[str],
                  prepared: Iterable[tuple[tuple, tuple[int, int]]]) -> int:
    """Loads chunks a reading process prepared (:mod:`al_roster.oneroster.reading_process`):
    of each, the whole and the narrow rows, COPY text on PostgreSQL, marshalled rows on
    SQLite; returns the rows loaded."""
    cursor, total = db.cursor(), 0
    if is_postgres(db):
        copies = (_copy(table, columns), _copy(table, NARROW_STAGED))
        for datas, counts in prepared:
            for copy, data, count in zip(copies, datas[:2], counts, strict=True):
                if count:
                    cursor.copy_expert(copy, io.BytesIO(data))
                    total += count
        return total
    inserts = (_insert(table, columns), _insert_narrow(table))
    for datas, counts in prepared:
        for insert, data, count in zip(inserts, datas[:2], counts, strict=True):
            if count:
                cursor.executemany(insert, decoded(data))
                total += count
    return total


def _copy(table: str, columns) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'COPY "{table}" ({names}) FROM STDIN WITH (FORMAT csv)'


def _insert(table: str, columns) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'


def _insert_narrow(table: str) -> str:
    """Narrow rows (NARROW_COLUMNS), staged as NARROW_STAGED, their constants in the SQL."""
    return (f'INSERT INTO "{table}" (line, sourced_id, row_hash, status, same) '
            "VALUES (?, ?, ?, 'active', 1)")


def _copy_pipelined(cursor, copy: str, narrow_copy: str,
                    parts: Iterable[tuple[list, list]]) -> int:
    """COPY in chunks, the server loading one while this process reads the next.

    Reading and checking rows is Python's work, loading them the server's: on two cores
    they overlap. At most two chunks wait, so memory does not grow with the file.
    """
    pending: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def load() -> None:
        while (job := pending.get()) is not None:
            if not failure:
                try:
                    cursor.copy_expert(*job)
                except BaseException as exc:  # handed to the reading thread below
                    failure.append(exc)

    loader = threading.Thread(target=load, name="al-roster-copy", daemon=True)
    loader.start()
    total = 0
    try:
        for chunk in parts:
            if failure:
                break
            whole, narrow = chunk
            for statement, part in ((copy, whole), (narrow_copy, with_constants(narrow))):
                if part:
                    buffer = io.StringIO()
                    csv.writer(buffer, lineterminator="\n").writerows(part)
                    buffer.seek(0)
                    pending.put((statement, buffer))
                    total += len(part)
    finally:
        pending.put(None)
        loader.join()
    if failure:
        raise failure[0]
    return total


@contextmanager
def integer_pairs(db: peewee.Database, first, second) -> Iterator[tuple[str, list]]:
    """Inside, a FROM item (and its params) of the pairs ``(first[i], second[i])`` of two
    arrays of non-negative integers, as columns ``a`` and ``b``. PostgreSQL reads them
    from a temporary table filled by binary COPY; SQLite walks a JSON array of each pair
    as one integer, where both fit in one (``a`` in the high bits), else of the pairs. A
    million ids and lines took 3.8 s through a table filled from Python tuples on
    PostgreSQL, 2.0 s on SQLite; now 0.5 s each."""
    if is_postgres(db):
        create_temp_table(db, PAIRS, [("a", "BIGINT"), ("b", "BIGINT")])
        copy_integers_in(db, PAIRS, ["a", "b"], [first, second])
        yield f'"{PAIRS}" h', []
        drop_temp_table(db, PAIRS)
        return
    shift = int(second.max(initial=0)).bit_length()
    if int(first.max(initial=0)).bit_length() + shift <= 63:
        packed = (first.astype(np.int64) << shift) | second
        yield (f"(SELECT j.value >> {shift} AS a, j.value & {(1 << shift) - 1} AS b "
               "FROM json_each(?) j) h", ["[" + ",".join(map(str, packed.tolist())) + "]"])
        return
    pairs = ",".join(f"[{a},{b}]" for a, b in zip(first.tolist(), second.tolist(), strict=True))
    yield "(SELECT j.value ->> 0 AS a, j.value ->> 1 AS b FROM json_each(?) j) h", [f"[{pairs}]"]


#: The temporary table of :func:`integer_pairs` on PostgreSQL.
PAIRS = "integer_pairs"


def json_object(db: peewee.Database, alias: str, columns: list[str]) -> str:
    """SQL building a JSON object text of ``alias``'s columns."""
    pairs = ", ".join(f"'{c}', {alias}.\"{c}\"" for c in columns)
    if is_postgres(db):
        return f"json_build_object({pairs})::text"
    return f"json_object({pairs})"


def json_field(db: peewee.Database, expr: str, key: str, sql_type: str) -> str:
    """SQL reading one typed value back out of a JSON object text."""
    if is_postgres(db):
        cast = {"TEXT": "", "BOOLEAN": "::boolean", "DATE": "::date", "BIGINT": "::bigint",
                "INTEGER": "::integer"}[sql_type]
        return f"(({expr})::json->>'{key}'){cast}"
    return f"json_extract({expr}, '$.{key}')"
