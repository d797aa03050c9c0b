"""The ``al-roster`` command line (also ``flask al-roster`` inside a host app).

Thin click wrappers over the services: each command parses, calls one function, prints.
Outside a host app the settings come from AL_ROSTER_* environment variables.
"""
from __future__ import annotations

import functools
import json
import os
import sys

import click
from flask import Flask, current_app, has_app_context
from flask.cli import ScriptInfo

from . import schema
from .errors import RosterError, SyncBusy
from .models.runs import APPLIED, HELD, REJECTED
from .services import districts as district_service
from .sync.report import run_report
from .sync.runner import sync_package

EXIT_CODES = {APPLIED: 0, REJECTED: 2, HELD: 3}


def standalone_app() -> Flask:
    """An app carrying only al_roster, configured from the environment."""
    from .extension import ALRoster
    from .settings import from_environment

    instance = os.path.abspath(os.environ.get("AL_ROSTER_INSTANCE_PATH", "instance"))
    app = Flask("al_roster_cli", instance_path=instance)
    app.config.update(from_environment())
    ALRoster(app)
    return app


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


def state():
    return current_app.extensions["al_roster"]


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group(name="al-roster", help="OneRoster rostering through ClassLink.")
def cli() -> None:
    pass


# -- database -----------------------------------------------------------------------------
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


# -- districts ----------------------------------------------------------------------------
@cli.group(help="Districts and their settings.")
def district() -> None:
    pass


@district.command("add", help="Create a district.")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--classlink-tenant-id")
@click.option("--plan", type=click.Choice(["prime", "basic"]), default="basic", show_default=True)
@click.option("--rostering/--no-rostering", default=False, show_default=True,
              help="Enable ClassLink rostering (Prime plan only).")
@click.option("--threshold", type=float, help="Deletion threshold, a share (0.1 = 10%).")
@with_roster
def district_add(slug, name, classlink_tenant_id, plan, rostering, threshold) -> None:
    created = district_service.add_district(
        slug, name, classlink_tenant_id=classlink_tenant_id, plan=plan, rostering=rostering,
        deletion_threshold=threshold)
    click.echo(f"District {created.slug} created ({created.plan} plan, rostering "
               f"{'enabled' if created.rostering_enabled else 'disabled'}).")


@district.command("show", help="A district's settings, last run and roster counts.")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True)
@with_roster
def district_show(slug, as_json) -> None:
    info = district_service.describe_district(district_service.get_district(slug))
    if as_json:
        emit_json(info)
        return
    click.echo(f"{info['name']} ({info['slug']}): {info['plan']} plan, rostering "
               f"{'enabled' if info['rosteringEnabled'] else 'disabled'}, "
               f"deletion threshold {info['deletionThreshold']:.0%}")
    last = info["lastRun"]
    click.echo(f"Last run: {last['run']} {last['status']} at {last['startedAt']}" if last
               else "Last run: none yet")
    for name, count in info["counts"].items():
        click.echo(f"  {name:<18}{count:>10,}")


@district.command("list", help="Every district.")
@with_roster
def district_list() -> None:
    from .models import District
    for row in District.select().order_by(District.slug):
        click.echo(f"{row.slug:<24}{row.plan:<8}{'rostering' if row.rostering_enabled else ''}")


# -- syncing ------------------------------------------------------------------------------
@cli.command("sync", help="Sync a OneRoster CSV package (a zip or a folder) into a district.")
@click.argument("slug")
@click.argument("path", type=click.Path(exists=False))
@click.option("--json", "as_json", is_flag=True)
@with_roster
def sync(slug, path, as_json) -> None:
    target = district_service.get_district(slug)
    try:
        run = sync_package(target, path, state().sync_options, source="cli")
    except SyncBusy as exc:
        raise click.ClickException(exc.message) from exc
    report = run_report(run)
    if as_json:
        emit_json(report)
    else:
        print_summary(report)
    sys.exit(EXIT_CODES.get(run.status, 1))


def print_summary(report: dict) -> None:
    click.echo(f"Run {report['run']} for {report['district']}: {report['status'].upper()} "
               f"(OneRoster {report['version'] or '?'})")
    if report["counts"]:
        click.echo(f"  {'file':<18}{'mode':<8}{'created':>9}{'updated':>9}{'deleted':>9}"
                   f"{'unchanged':>11}")
        for name, c in report["counts"].items():
            click.echo(f"  {name:<18}{report['files'].get(name, ''):<8}"
                       f"{c['created'] + c['restored']:>9,}{c['updated']:>9,}{c['deleted']:>9,}"
                       f"{c['unchanged']:>11,}")
    if report["errors"] or report["warnings"]:
        click.echo(f"  {report['errors']:,} errors, {report['warnings']:,} warnings:")
        for issue in report["issues"][:20]:
            where = ":".join(str(x) for x in (issue["file"], issue["line"]) if x)
            click.echo(f"    {issue['severity']:<8}{where} {issue['field'] or ''}: {issue['message']}")
        if len(report["issues"]) > 20:
            click.echo(f"    ... and {len(report['issues']) - 20} more (use --json)")
    click.echo(report["message"] or "")


@cli.command("generate", help="Write a realistic generated district as a OneRoster bulk package.")
@click.argument("out", type=click.Path())
@click.option("--students", type=int, required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--oneroster-version", type=click.Choice(["1.1", "1.2"]), default="1.1",
              show_default=True)
@click.option("--zip", "zip_path", type=click.Path(), help="Also write the package as this zip.")
def generate(out, students, seed, oneroster_version, zip_path) -> None:
    from .oneroster.generator import generate_district
    counts = generate_district(out, students, seed=seed, version=oneroster_version,
                               zip_path=zip_path)
    click.echo(f"Wrote {out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()
                                            if isinstance(v, int)))


def main() -> None:
    cli(prog_name="al-roster")


@cli.command("demo", help="Create (or refresh) the demo district from a generated package.")
@click.option("--students", type=int, default=600, show_default=True)
@with_roster
def demo(students) -> None:
    from .services.demo import load_demo_district
    options = state().sync_options
    run = load_demo_district(students, options.storage_dir / "demo-package", options)
    click.echo(f"Demo district 'demo': run {run.id} {run.status}. {run.message}")
