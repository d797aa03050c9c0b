"""`al-roster sync`, `generate` and `demo`: packages into districts."""
from __future__ import annotations

import sys

import click

from ..errors import SyncBusy
from ..models.runs import APPLIED, HELD, PARTIAL, REJECTED
from ..oneroster.entities import VERSIONS
from ..services import districts as district_service
from ..sync.report import run_report
from ..sync.runner import sync_package
from .base import cli, emit_json, state, with_roster

#: 3: held whole, nothing applied; 4: applied, removals held for review.
EXIT_CODES = {APPLIED: 0, REJECTED: 2, HELD: 3, PARTIAL: 4}

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


@cli.command("generate", help="Write a realistic generated district as a OneRoster bulk package "
             "(or, with --delta-from, as a delta package against an older one).")
@click.argument("out", type=click.Path())
@click.option("--students", type=int, required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--oneroster-version", type=click.Choice(VERSIONS), default="1.1",
              show_default=True)
@click.option("--zip", "zip_path", type=click.Path(), help="Also write the package as this zip.")
@click.option("--delta-from", "delta_from", type=click.Path(exists=True),
              help="An older bulk package (zip or folder): write to OUT the delta package "
                   "that turns it into the generated district.")
def generate(out, students, seed, oneroster_version, zip_path, delta_from) -> None:
    from ..demo.generator import generate_district
    if delta_from is None:
        counts = generate_district(out, students, seed=seed, version=oneroster_version,
                                   zip_path=zip_path)
    else:
        counts = _generate_delta(out, students, seed, oneroster_version, zip_path, delta_from)
    kind = "delta " if delta_from else ""
    click.echo(f"Wrote {kind}{out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()
                                                  if isinstance(v, int)))


def _generate_delta(out, students, seed, version, zip_path, delta_from) -> dict[str, int]:
    import tempfile

    from ..demo.generator import generate_district
    from ..demo.package_delta import write_package_delta
    from ..errors import RosterError
    with tempfile.TemporaryDirectory(prefix="al-roster-generate-") as new:
        generate_district(new, students, seed=seed, version=version)
        try:
            return write_package_delta(delta_from, new, out, zip_path=zip_path, seed=seed)
        except RosterError as exc:
            raise click.ClickException(exc.message) from exc


@cli.command("demo", help="Create (or refresh) the demo district from a generated package.")
@click.option("--students", type=int, default=8000, show_default=True,
              help="8,000 makes eleven schools: the second night leaves the smallest out.")
@with_roster
def demo(students) -> None:
    from ..demo.district import load_demo_district
    options = state().sync_options
    run = load_demo_district(students, options.storage_dir / "demo-package", options)
    click.echo(f"Demo district 'demo': run {run.id} {run.status}. {run.message}")
    if run.status != "applied":
        click.echo(f"Sign in as a district administrator and review run {run.id}.")
