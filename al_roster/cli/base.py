"""The ``al-roster`` click group and what every command shares: the app context, output."""
from __future__ import annotations

import functools
import json

import click
import peewee
from flask import current_app, has_app_context
from flask.cli import ScriptInfo

from ..errors import RosterError
from ..settings import standalone_app


def with_roster(command):
    """Runs the command inside an app context: the host app's, or a standalone one."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return _guarded(command, *args, **kwargs)
        info = click.get_current_context().find_object(ScriptInfo)
        app = info.load_app() if info is not None else standalone_app()
        with app.app_context():
            return _guarded(command, *args, **kwargs)
    return wrapper


def _guarded(command, *args, **kwargs):
    try:
        return command(*args, **kwargs)
    except RosterError as exc:
        raise click.ClickException(exc.message) from exc
    except (peewee.OperationalError, peewee.ProgrammingError) as exc:
        if not missing_schema(exc):
            raise
        raise click.ClickException(NO_SCHEMA) from exc


NO_SCHEMA = ("This database has no al_roster tables yet (or not all of them): run "
             "`al-roster db upgrade` (in a host app, `flask --app YOURAPP al-roster db "
             "upgrade`), then try again.")


def missing_schema(exc: Exception) -> bool:
    """True for SQLite's "no such table" and PostgreSQL's undefined table or column."""
    text = str(exc)
    return ("no such table" in text or "no such column" in text
            or getattr(getattr(exc, "orig", None), "pgcode", None) in ("42P01", "42703")
            or ("does not exist" in text and ("relation" in text or "column" in text)))


def state():
    return current_app.extensions["al_roster"]


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group(name="al-roster", help="OneRoster rostering through ClassLink.")
def cli() -> None:
    pass
