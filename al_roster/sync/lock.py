"""One sync per district at a time, across processes and machines.

On PostgreSQL a session-level advisory lock (released by the server if the process dies);
on SQLite, whose file lives on one machine, an exclusive ``flock`` on a file beside it.
Either way a killed sync leaves no lock behind, which is how a run left ``running`` is
recognised as dead. A PostgreSQL backend notices a dead client only when it next talks to
it, so the lock's holder asks its server (14 and later) to look every
:data:`CLIENT_CHECK_INTERVAL` while a statement runs: a killed sync's backend stops its
statement within seconds, rolls back and frees the lock, instead of finishing first.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import peewee

from ..models.base import is_postgres

LOCK_NAMESPACE = 0x616C52  # "alR": keeps our advisory locks apart from the host app's
#: How often PostgreSQL checks, mid-statement, that the lock holder's client is still there.
CLIENT_CHECK_INTERVAL = "1s"
#: client_connection_check_interval came with PostgreSQL 14.
CLIENT_CHECK_SINCE = 140000


def watch_for_a_dead_client(db: peewee.Database, interval: str | None = CLIENT_CHECK_INTERVAL
                            ) -> bool:
    """Asks the PostgreSQL server to end this connection's statement soon after its client
    dies (``interval`` None: back to the server's own setting); returns whether the server
    can. Older servers and platforms without the check are left as they are."""
    version = int(db.execute_sql("SHOW server_version_num").fetchone()[0])
    if version < CLIENT_CHECK_SINCE:
        return False
    try:
        with db.atomic():  # a savepoint inside a transaction: a refusal spoils nothing
            if interval is None:
                db.execute_sql("RESET client_connection_check_interval")
            else:
                db.execute_sql("SELECT set_config('client_connection_check_interval', %s, "
                               "false)", [interval])
    except peewee.DatabaseError:  # a platform without the check
        return False
    return True


class DistrictLock:
    def __init__(self, db: peewee.Database, district_id: int, lock_dir: str | os.PathLike):
        self.db, self.district_id, self.lock_dir = db, district_id, Path(lock_dir)
        self._fd: int | None = None
        self.held = False

    def try_acquire(self) -> bool:
        if is_postgres(self.db):
            watch_for_a_dead_client(self.db)
            self.held = bool(self.db.execute_sql(
                "SELECT pg_try_advisory_lock(%s, %s)",
                [LOCK_NAMESPACE, self.district_id]).fetchone()[0])
            if not self.held:
                watch_for_a_dead_client(self.db, None)
            return self.held
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_dir / f"district-{self.district_id}.lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd, self.held = fd, True
        return True

    def release(self) -> None:
        if not self.held:
            return
        if is_postgres(self.db):
            self.db.execute_sql("SELECT pg_advisory_unlock(%s, %s)",
                                [LOCK_NAMESPACE, self.district_id])
            watch_for_a_dead_client(self.db, None)
        elif self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self.held = False

    def __enter__(self) -> DistrictLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
