"""`al-roster district purge|export|audit`, `cleanup`: a district deleted, handed its data
back, the record of both, and what is past its retention window forgotten."""
from __future__ import annotations

import getpass
import socket

import click

from ..oneroster.entities import VERSIONS
from ..services import districts as district_service
from ..services.export import export_district
from ..services.purge import purge_district
from ..services.retention import Retention, clean_up
from .base import cli, emit_json, state, with_roster
from .districts import district


def operator() -> str:
    """Who ran the command, for the audit record: the operator's login on this machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli ({user}@{socket.gethostname()})"


@district.command("purge", help="Delete a district and everything derived from it: roster "
                                "copy, runs, accounts, imported classes, LTI deployment, kept "
                                "packages and drop files. Cannot be undone.")
@click.argument("slug")
@click.option("--confirm", "confirm", required=True, metavar="SLUG",
              help="The district's slug again, to confirm.")
@click.option("--wait", "wait_seconds", type=float, default=0.0, show_default=True,
              help="Seconds to wait for a running sync of the district before refusing.")
@click.option("--json", "as_json", is_flag=True)
@with_roster
def district_purge(slug, confirm, wait_seconds, as_json) -> None:
    if confirm != slug:
        raise click.UsageError(f"--confirm must repeat the slug ({slug}); nothing was deleted.")
    target = district_service.get_district(slug)
    report = purge_district(target, state().sync_options.storage_dir, by=operator(),
                            wait_seconds=wait_seconds, staff_ids=state().staff.account_ids)
    if as_json:
        emit_json(report.to_dict())
        return
    click.echo(f"District {slug} purged (audit record {report.audit}). Rows deleted:")
    for table, count in report.tables.items():
        click.echo(f"  {table:<26}{count:>12,}")
    click.echo("On disk:")
    for kind, count in report.files.items():
        click.echo(f"  {kind:<26}{count:>12,}")
    for note in report.notes:
        click.echo(f"Note: {note}")


@district.command("export", help="Write the district's present roster copy as a OneRoster bulk "
                                 "package (zip), with its imported classes and memberships.")
@click.argument("slug")
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
@click.option("--oneroster-version", "version", type=click.Choice(VERSIONS),
              default="1.1", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_roster
def district_export(slug, out, version, as_json) -> None:
    result = export_district(district_service.get_district(slug), out, version=version,
                             by=operator())
    if as_json:
        emit_json(result)
        return
    click.echo(f"Wrote {out}: OneRoster {version} bulk package of {slug}.")
    for name, count in result["rows"].items():
        click.echo(f"  {name:<30}{count:>12,}")


@district.command("audit", help="Purges and exports done, newest first: slug, who, when, counts.")
@click.option("--json", "as_json", is_flag=True)
@with_roster
def district_audit(as_json) -> None:
    from ..models import PrivacyAudit
    rows = [{"id": a.id, "action": a.action, "district": a.district_slug, "by": a.by,
             "at": a.at.isoformat() + "Z", "counts": a.counts}
            for a in PrivacyAudit.select().order_by(PrivacyAudit.id.desc())]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['at'][:19]}  {row['action']:<7}{row['district']:<24}{row['by'] or ''}")
    if not rows:
        click.echo("No district has been purged or exported.")


@cli.command("cleanup", help="Forget what is past its retention window: run details "
                             "(AL_ROSTER_RUN_DETAIL_DAYS), kept packages and processed drop "
                             "files (AL_ROSTER_PACKAGE_DAYS), tombstones' personal fields "
                             "(AL_ROSTER_TOMBSTONE_DAYS), roster events (AL_ROSTER_EVENT_DAYS).")
@click.option("--json", "as_json", is_flag=True)
@with_roster
def cleanup(as_json) -> None:
    retention = Retention.from_config(state().config)
    report = clean_up(state().sync_options.storage_dir, retention).to_dict()
    if as_json:
        emit_json(report)
        return
    click.echo(f"Run details of {report['runsCleaned']:,} runs deleted "
               f"({report['changesDeleted']:,} changes, {report['issuesDeleted']:,} issues); "
               f"{report['tombstonesBlanked']:,} removed users' personal fields blanked; "
               f"{report['packagesDeleted']:,} kept packages and {report['dropFilesDeleted']:,} "
               f"processed drop files deleted; {report['eventsDeleted']:,} roster events and "
               f"{report['noncesForgotten']:,} spent nonces "
               f"forgotten. {report['batches']:,} batches, the longest "
               f"{report['longestBatchSeconds']:.3f} s; {report['seconds']:.1f} s in all.")
    if report["busyDistricts"]:
        click.echo("Syncing, left for the next clean-up: " + ", ".join(report["busyDistricts"]))
