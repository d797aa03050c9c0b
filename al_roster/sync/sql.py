"""The few places SQLite and PostgreSQL differ for the sync: bulk loading and JSON."""
from __future__ import annotations

import csv
import io
import queue
import threading
from collections.abc import Iterable, Iterator
from itertools import islice

import peewee

from ..models.base import is_postgres
from ..oneroster.reading_process import decoded

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


def bulk_load(db: peewee.Database, table: str, columns: list[str], rows: Iterable[tuple]) -> int:
    """Loads rows into a table as fast as the database allows: COPY or executemany."""
    names = ", ".join(f'"{c}"' for c in columns)
    total = 0
    cursor = db.cursor()
    if is_postgres(db):
        return _copy_pipelined(cursor, f'COPY "{table}" ({names}) FROM STDIN WITH (FORMAT csv)',
                               rows)
    else:
        insert = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
        for chunk in chunks(rows):
            cursor.executemany(insert, chunk)
            total += len(chunk)
    return total


def load_prepared(db: peewee.Database, table: str, columns: list[str],
                  prepared: Iterable[tuple[object, int]]) -> int:
    """Loads chunks a reading process prepared (:mod:`al_roster.oneroster.reading_process`):
    COPY text on PostgreSQL, marshalled rows on SQLite; returns the rows loaded."""
    names = ", ".join(f'"{c}"' for c in columns)
    cursor, total = db.cursor(), 0
    if is_postgres(db):
        copy = f'COPY "{table}" ({names}) FROM STDIN WITH (FORMAT csv)'
        for data, count in prepared:
            cursor.copy_expert(copy, io.BytesIO(data))
            total += count
        return total
    insert = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
    for data, count in prepared:
        cursor.executemany(insert, decoded(data))
        total += count
    return total


def _copy_pipelined(cursor, copy: str, rows: Iterable[tuple]) -> int:
    """COPY in chunks, the server loading one while this process reads the next.

    Reading and checking rows is Python's work, loading them the server's: on two cores
    they overlap. At most two chunks wait, so memory does not grow with the file.
    """
    pending: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def load() -> None:
        while (buffer := pending.get()) is not None:
            if not failure:
                try:
                    cursor.copy_expert(copy, buffer)
                except BaseException as exc:  # handed to the reading thread below
                    failure.append(exc)

    loader = threading.Thread(target=load, name="al-roster-copy", daemon=True)
    loader.start()
    total = 0
    try:
        for chunk in chunks(rows):
            if failure:
                break
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(chunk)
            buffer.seek(0)
            pending.put(buffer)
            total += len(chunk)
    finally:
        pending.put(None)
        loader.join()
    if failure:
        raise failure[0]
    return total


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
