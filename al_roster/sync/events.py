"""Writing roster events in the transaction of the change, and announcing them after commit.

A change that publishes runs in :func:`publishing`, a write transaction. Its statements stage
their events set-based, one ``INSERT ... SELECT`` per kind (membership events straight from
the reconciliation's diff, class events from the rows an archive, restore or rename
touches), into a temporary table of the connection. Just before the commit the staged rows
go to ``roster_event`` in one statement, in the order they were staged, and after the commit
they are announced (the app's signals, :mod:`al_roster.signals`). A transaction that rolls
back (a rejected, held or failed sync, a killed process) takes its staged rows with it.

Ordered delivery: the cursor (``id > N``) must never pass an event that commits later with a
smaller id. Writing the staged rows is the last thing a transaction does, under a lock every
event-writing transaction takes at that point (on PostgreSQL a transaction-level advisory
lock, released by the commit; SQLite has one writer at a time anyway), so event-writing
transactions commit in the order of their ids. The lock is taken only after every other row
the transaction changes is already locked, so it cannot deadlock with them, and it is held
for one insert and the commit.

Outside :func:`publishing` nothing is staged (reconciling by hand, a test's own transaction).
A publishing block opened inside a caller's own transaction writes its events with that
transaction, but announces them when the block ends, before the caller commits.
"""
from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import peewee

from ..models import RosterEvent, database
from ..models.base import is_postgres, write_transaction
from ..models.district import utcnow
from .lock import LOCK_NAMESPACE

STAGE = "alr_event_stage"
T_EVENT = RosterEvent._meta.table_name
#: The columns a staging SELECT yields, in this order.
COLUMNS = ("kind", "district_id", "imported_class_id", "class_sourced_id", "user_sourced_id",
           "account_id", "run_id", "payload")
#: The advisory lock (PostgreSQL) that orders event-writing transactions; district locks use
#: (LOCK_NAMESPACE, district id), so this key is apart from every one of them.
EVENT_LOCK = (LOCK_NAMESPACE + 1, 0)
PAGE = 1_000

log = logging.getLogger(__name__)
_local = threading.local()
#: Called after each commit with the (first, last) ids it wrote; see :func:`on_commit`.
_announcers: list[Callable[[int, int], None]] = []


@dataclass
class Recording:
    """The events one publishing transaction has staged."""

    request_id: str
    #: The run its events are of, where a statement names none (the held part of a run).
    run_id: int | None = None
    staged: bool = False
    written: tuple[int, int] | None = None


def on_commit(announce: Callable[[int, int], None]) -> None:
    """Registers ``announce(first_id, last_id)``, called after a publishing transaction
    committed events (in the committing thread, outside the transaction)."""
    if announce not in _announcers:
        _announcers.append(announce)


def recording() -> Recording | None:
    """The publishing transaction open in this thread, if any."""
    return getattr(_local, "recording", None)


@contextmanager
def publishing(db: peewee.Database | None = None, *,
               run_id: int | None = None) -> Iterator[Recording]:
    """A write transaction whose staged events are written just before it commits and
    announced after; ``run_id``: the run they are of, where a statement names none. Nested
    in another, it is a savepoint of the outer one, which writes."""
    db = db or database.obj
    outer = recording()
    if outer is not None:
        with db.atomic():
            yield outer
        return
    current = _local.recording = Recording(uuid.uuid4().hex, run_id)
    try:
        with write_transaction(db):
            yield current
            current.written = _write_staged(db, current)
    finally:
        _local.recording = None
    if current.written is None:
        return
    for announce in list(_announcers):
        try:
            announce(*current.written)
        except Exception:  # committed: nothing said afterwards may undo or fail the change
            log.exception("events %s-%s were committed but not announced", *current.written)


def stage(db: peewee.Database, select_sql: str, params: Sequence = ()) -> None:
    """Stages the events ``select_sql`` yields (the :data:`COLUMNS`, in order); nothing
    outside a publishing transaction."""
    current = recording()
    if current is None:
        return
    _ensure_stage(db, current)
    db.execute_sql(f'INSERT INTO "{STAGE}" ({", ".join(COLUMNS)}) {select_sql}', list(params))


def stage_returning(db: peewee.Database, dml: str, params: Sequence, select_sql: str,
                    select_params: Sequence = ()) -> int:
    """Runs ``dml`` (an UPDATE ending in ``RETURNING id``) and stages, in the same statement,
    the events ``select_sql`` yields from the rows it changed (the CTE ``done``); returns how
    many rows it changed. PostgreSQL only: exact even when another transaction changed some
    of the same rows first. Outside a publishing transaction it only runs ``dml``."""
    current = recording()
    if current is None:
        return len(db.execute_sql(dml, list(params)).fetchall())
    _ensure_stage(db, current)
    return db.execute_sql(
        f'WITH done AS ({dml}) INSERT INTO "{STAGE}" ({", ".join(COLUMNS)}) {select_sql}',
        [*params, *select_params]).rowcount


def stage_rows(db: peewee.Database, rows: Sequence[dict]) -> None:
    """Stages a few events given as dicts of :data:`COLUMNS` (``payload`` a dict or None)."""
    current = recording()
    if current is None or not rows:
        return
    _ensure_stage(db, current)
    p = db.param
    values = ", ".join(f"({', '.join([p] * len(COLUMNS))})" for _ in rows)
    params = [RosterEvent.payload.db_value(row.get(c)) if c == "payload" else row.get(c)
              for row in rows for c in COLUMNS]
    db.execute_sql(f'INSERT INTO "{STAGE}" ({", ".join(COLUMNS)}) VALUES {values}', params)


def json_object(db: peewee.Database, pairs: Sequence[tuple[str, str]]) -> str:
    """SQL making a JSON object (as text) of ``(key, sql expression)`` pairs; keys are
    ours, values may be anything a district wrote (the database escapes them)."""
    inner = ", ".join(f"'{key}', {expression}" for key, expression in pairs)
    return f"json_build_object({inner})" if is_postgres(db) else f"json_object({inner})"


def json_text(db: peewee.Database, sql: str) -> str:
    return f"({sql})::text" if is_postgres(db) else sql


def committed(first: int, last: int, page: int = PAGE) -> Iterator[list[RosterEvent]]:
    """The events with ids in (``first``, ``last``], in order, a page at a time."""
    after = first
    while after < last:
        rows = list(RosterEvent.select().where((RosterEvent.id > after) & (RosterEvent.id <= last))
                    .order_by(RosterEvent.id).limit(page))
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _ensure_stage(db: peewee.Database, current: Recording) -> None:
    if current.staged:
        return
    if is_postgres(db):
        db.execute_sql(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{STAGE}" (seq BIGSERIAL PRIMARY KEY, '
            "kind TEXT, district_id INTEGER, imported_class_id INTEGER, class_sourced_id TEXT, "
            "user_sourced_id TEXT, account_id INTEGER, run_id INTEGER, payload TEXT) "
            "ON COMMIT DELETE ROWS")
    else:
        db.execute_sql(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{STAGE}" (seq INTEGER PRIMARY KEY, '
            "kind TEXT, district_id INTEGER, imported_class_id INTEGER, class_sourced_id TEXT, "
            "user_sourced_id TEXT, account_id INTEGER, run_id INTEGER, payload TEXT)")
    db.execute_sql(f'DELETE FROM "{STAGE}"')  # nothing a transaction without us left
    current.staged = True


def _write_staged(db: peewee.Database, current: Recording) -> tuple[int, int] | None:
    """Moves the staged events to ``roster_event`` under the event lock; returns the range
    of ids written, (first, last]: ids above ``first`` are this transaction's alone."""
    if not current.staged:
        return None
    p = db.param
    if is_postgres(db):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", list(EVENT_LOCK))
    first = db.execute_sql(f'SELECT COALESCE(MAX(id), 0) FROM "{T_EVENT}"').fetchone()[0]
    columns = ", ".join(COLUMNS)
    staged = columns.replace("run_id", f"COALESCE(run_id, CAST({p} AS INTEGER))")
    written = db.execute_sql(
        f'INSERT INTO "{T_EVENT}" ({columns}, request_id, at) SELECT {staged}, {p}, {p} '
        f'FROM "{STAGE}" ORDER BY seq', [current.run_id, current.request_id, utcnow()]).rowcount
    db.execute_sql(f'DELETE FROM "{STAGE}"')
    if not written:
        return None
    last = db.execute_sql(f'SELECT MAX(id) FROM "{T_EVENT}"').fetchone()[0]
    return first, last
