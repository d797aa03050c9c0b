"""`al-roster events`: the roster event feed, read from a cursor."""
from __future__ import annotations

import click

from ..services import districts as district_service
from ..services.roster_events import DEFAULT_LIMIT, MAX_LIMIT, events
from .base import cli, emit_json, with_roster


@cli.command("events", help="Roster events after the cursor AFTER (an event id; 0: the oldest "
                            "kept), oldest first. Pass the last id you handled next time.")
@click.option("--after", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=DEFAULT_LIMIT,
              show_default=True)
@click.option("--district", "slug", help="Only this district's events.")
@click.option("--json", "as_json", is_flag=True,
              help='{"events": [...], "next": N}, as GET /roster/api/events answers.')
@with_roster
def events_command(after, limit, slug, as_json) -> None:
    district_id = district_service.get_district(slug).id if slug else None
    page = events(after=after, limit=limit, district_id=district_id)
    if as_json:
        emit_json({"events": [e.to_dict() for e in page],
                   "next": page[-1].id if page else after})
        return
    for event in page:
        what = " ".join(f"{k}={v}" for k, v in (
            ("class", event.class_sourced_id), ("user", event.user_sourced_id),
            ("account", event.account_id), ("run", event.run_id)) if v is not None)
        click.echo(f"{event.id:>8}  {event.at:%Y-%m-%d %H:%M:%S}  {event.kind:<17}{what}")
    if not page:
        click.echo(f"No events after {after}.")
