"""The database every model is bound to, and how a URL becomes a connection.

Models are declared against :data:`database`, a :class:`peewee.DatabaseProxy`, so they exist
before any app does; :func:`bind_database` points the proxy at SQLite or PostgreSQL.
"""
from __future__ import annotations

import json
import os
import weakref
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect

database = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers (sign-ins) are not blocked by a running sync
    "foreign_keys": 1,
    "busy_timeout": 30_000,
    "synchronous": "normal",
    "cache_size": -64_000,
}


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class JSONText(peewee.TextField):
    """JSON kept as text, the same on SQLite and PostgreSQL."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True, default=str)

    def python_value(self, value):
        return None if value is None else json.loads(value)


def open_database(url: str, *, connect_timeout: float | None = None) -> peewee.Database:
    """A database for ``sqlite:///path`` or ``postgresql://...`` (not yet connected).
    ``connect_timeout``: seconds a PostgreSQL connection may take to open."""
    scheme = urlparse(url).scheme
    if scheme.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ":memory:"
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, autoconnect=True)
    if scheme in ("postgres", "postgresql"):
        # Pooled: a sign-in is a few millisecond queries, and opening a PostgreSQL connection
        # for every request cost as much again. Waits up to POOL_WAIT_SECONDS for a free one.
        pooled = "postgresql+pool://" + url.split("://", 1)[1]
        extra = {"connect_timeout": max(1, round(connect_timeout))} if connect_timeout else {}
        db = connect(pooled, max_connections=POOL_MAX_CONNECTIONS,
                     stale_timeout=POOL_STALE_SECONDS, timeout=POOL_WAIT_SECONDS, **extra)
        _forget_after_fork.add(db)
        return db
    raise ValueError(f"AL_ROSTER_DATABASE_URL must be sqlite:/// or postgresql://, not {scheme}://")


POOL_MAX_CONNECTIONS = 32
POOL_STALE_SECONDS = 300
POOL_WAIT_SECONDS = 30
# A forked child (a preloading WSGI server's worker, an RQ work-horse) must not use the
# parent's pooled sockets: it forgets them (without closing them under the parent's feet).
_forget_after_fork: weakref.WeakSet = weakref.WeakSet()
os.register_at_fork(after_in_child=lambda: [db.dispose() for db in list(_forget_after_fork)])


def bind_database(url: str, *, connect_timeout: float | None = None) -> peewee.Database:
    """Point the models at the database named by ``url`` and return it."""
    db = open_database(url, connect_timeout=connect_timeout)
    current = database.obj
    if current is not None and hasattr(current, "close_all"):
        current.close_all()  # its idle pooled connections, not only this thread's
    elif current is not None and not current.is_closed():
        current.close()
    database.initialize(db)
    return db


def is_postgres(db: peewee.Database | None = None) -> bool:
    db = db or database.obj
    return isinstance(db, peewee.PostgresqlDatabase)


def write_transaction(db: peewee.Database | None = None):
    """A transaction that will write: on SQLite it takes the write lock up front, so two
    writers wait their turn (busy_timeout) instead of one failing with 'database is locked'."""
    db = db or database.obj
    return db.atomic() if is_postgres(db) else db.atomic("IMMEDIATE")


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """What peewee raises when the database cannot be reached or the connection died (the
    server restarted, a backend was terminated), and when the pool has no free connection."""
    from playhouse.pool import MaxConnectionsExceeded
    return (peewee.OperationalError, peewee.InterfaceError, MaxConnectionsExceeded)


def discard_connection(db: peewee.Database | None = None) -> None:
    """Forgets this thread's connection after the server went away, without returning it to
    the pool: its transaction is lost with it, and the next query opens a fresh connection
    (the pool checks every idle one before handing it out), so nothing needs a restart."""
    db = db or database.obj
    if db is None:
        return
    state = db._state
    conn = state.conn
    state.reset()  # closed, no transactions: peewee would refuse to close mid-transaction
    if conn is None:
        return
    pool_lock = getattr(db, "_pool_lock", None)
    if pool_lock is not None:
        with pool_lock:
            db._in_use.pop(db.conn_key(conn), None)
            db._pool_available.notify()
    try:
        conn.close()
    except Exception:  # already gone
        pass
