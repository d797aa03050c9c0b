"""`al-roster db`: the schema."""
from __future__ import annotations

import click

from .. import schema
from .base import cli, state, with_roster


@cli.group(help="The database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply pending migrations.")
@with_roster
def db_upgrade() -> None:
    applied = schema.upgrade(state().db)
    click.echo("Applied: " + ", ".join(applied) if applied else "The database is up to date.")


@db.command("downgrade", help="Revert the latest migration (or back through TARGET).")
@click.argument("target", required=False)
@with_roster
def db_downgrade(target) -> None:
    reverted = schema.downgrade(state().db, target)
    click.echo("Reverted: " + ", ".join(reverted) if reverted else "Nothing to revert.")
