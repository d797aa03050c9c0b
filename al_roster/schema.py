"""Applying the numbered migrations in ``migrations/`` (peewee's playhouse.migrations)."""
from __future__ import annotations

import sys
from pathlib import Path

import peewee
from playhouse.migrations import Runner

HISTORY_TABLE = "al_roster_migration"


def migrations_dir() -> Path:
    """The migrations folder: beside the package in a checkout, under share/ when installed."""
    for candidate in (Path(__file__).resolve().parent.parent / "migrations",
                      Path(sys.prefix) / "share" / "al_roster" / "migrations"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("The al_roster migrations folder was not found.")


def runner(db: peewee.Database) -> Runner:
    return Runner(db, directory=str(migrations_dir()), table_name=HISTORY_TABLE)


def upgrade(db: peewee.Database) -> list[str]:
    return runner(db).up()


def downgrade(db: peewee.Database, target: str | None = None) -> list[str]:
    return runner(db).down(target)


def pending(db: peewee.Database) -> list[str]:
    return [m.name for m in runner(db).status() if m.path and not m.applied]
