"""`al-roster cleanup`: what is past its retention window forgotten."""
from __future__ import annotations

import click

from ..services.retention import Retention, clean_up
from .base import cli, emit_json, state, with_roster


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
