"""`al-roster district ...`: creating and describing districts."""
from __future__ import annotations

import click

from ..services import districts as district_service
from .base import cli, emit_json, state, with_roster


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
    info = district_service.describe_district(district_service.get_district(slug),
                                             state().sync_options)
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
    from ..models import District
    for row in District.select().order_by(District.slug):
        click.echo(f"{row.slug:<24}{row.plan:<8}{'rostering' if row.rostering_enabled else ''}")
