"""The database every model is bound to, and how a URL becomes a connection.

Models are declared against :data:`database`, an :class:`AppDatabaseProxy`, so they exist
before any app does. Each app has its own database: inside an app context the proxy is that
app's (the extension binds it when the context is pushed, and restores the one before when
it is popped); outside any app context it is the process default, the database of the app
initialised last (:func:`bind_database`).
"""
from __future__ import annotations

import json
import os
import weakref
from contextvars import ContextVar
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect

#: The database of the innermost app context, and the ones it hides (restored on leaving),
#: each with the owner that bound it.
_bound: ContextVar[peewee.Database | None] = ContextVar("al_roster_database", default=None)
_hidden: ContextVar[tuple] = ContextVar("al_roster_hidden_databases", default=())


class AppDatabaseProxy(peewee.DatabaseProxy):
    """A proxy whose database is the current app context's, else the process default.

    ``obj`` reads the database bound by :func:`enter_database` in this context (thread or
    task), falling back to the process default that :meth:`initialize` sets. So two apps of
    one process, each in its own app context, each read and write their own database.
    """

    __slots__ = ("_default",)

    @property
    def obj(self) -> peewee.Database | None:
        bound = _bound.get()
        return bound if bound is not None else self._default

    @obj.setter
    def obj(self, value: peewee.Database | None) -> None:
        object.__setattr__(self, "_default", value)

    def __setattr__(self, attr, value):
        object.__setattr__(self, attr, value)

    @property
    def default(self) -> peewee.Database | None:
        """The process default: what code outside any app context uses."""
        return self._default


database = AppDatabaseProxy()


def enter_database(db: peewee.Database, owner: int) -> None:
    """Binds ``db`` in this context until ``owner`` leaves it (an app context's push)."""
    _hidden.set((*_hidden.get(), (owner, _bound.get())))
    _bound.set(db)


def leave_database(owner: int) -> None:
    """Restores the database bound before ``owner``'s last :func:`enter_database` here. A
    leave with no matching enter (an app context pushed before its app was initialised)
    changes nothing."""
    hidden = _hidden.get()
    if hidden and hidden[-1][0] == owner:
        _hidden.set(hidden[:-1])
        _bound.set(hidden[-1][1])

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
    """Opens the database named by ``url`` and makes it the process default (the app that
    owns it binds it in its own app contexts); returns it.

    The previous default may still belong to a live app: only this thread's connection to
    it (outside a transaction) and its idle pooled connections are closed; it reconnects
    when next used."""
    db = open_database(url, connect_timeout=connect_timeout)
    previous = database.default
    if previous is not None:
        if not previous.is_closed() and not previous.in_transaction():
            previous.close()
        if hasattr(previous, "close_idle"):
            previous.close_idle()
    database.initialize(db)
    return db


def is_postgres(db: peewee.Database | None = None) -> bool:
    db = db or database.obj
    if isinstance(db, peewee.DatabaseProxy):
        db = db.obj
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
