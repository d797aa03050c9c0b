"""A PostgreSQL database of its own for a benchmark run: made empty, dropped afterwards.

The server is the one ``AL_ROSTER_BENCH_PG`` names (an admin database URL), by default the
local test server.
"""
from __future__ import annotations

import os

PG_ADMIN = os.environ.get("AL_ROSTER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _admin_execute(statement: str, name: str) -> None:
    import psycopg2
    from psycopg2 import sql
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL(statement).format(sql.Identifier(name)))
    finally:
        admin.close()


def create_database(name: str) -> str:
    """A new, empty database (dropped first if it exists); returns its URL."""
    drop_database(name)
    _admin_execute("CREATE DATABASE {}", name)
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    _admin_execute("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


class ScratchDatabase:
    """``url`` of a new database named ``name``; ``drop()`` when done."""

    def __init__(self, name: str):
        self.name = name
        self.url = create_database(name)

    def drop(self) -> None:
        drop_database(self.name)
