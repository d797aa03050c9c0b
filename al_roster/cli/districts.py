"""`al-roster district ...`: creating, changing and describing districts, their sources,
who sees their console, and a district deleted or handed its data back (with the record of
both). Each command parses its options and calls the service that holds the rules."""
from __future__ import annotations

import getpass
import socket

import click

from ..models import District, PrivacyAudit
from ..oneroster.entities import VERSIONS
from ..services import access, sources
from ..services import districts as district_service
from ..services.districts import OPERATOR, DistrictChanges, SourceChange
from ..services.export import export_district
from ..services.purge import purge_district
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
    for row in District.select().order_by(District.slug):
        click.echo(f"{row.slug:<24}{row.plan:<8}{'rostering' if row.rostering_enabled else ''}")


@district.command("set", help="Change a district's settings.")
@click.argument("slug")
@click.option("--name", help="The district's name, as people see it.")
@click.option("--classlink-tenant-id", help="The ClassLink tenant whose sign-ins belong to this "
                                            "district ('' for none).")
@click.option("--threshold", type=float, help="Deletion threshold, a share (0.1 = 10%).")
@click.option("--plan", type=click.Choice(["prime", "basic"]))
@click.option("--rostering/--no-rostering", default=None,
              help="Enable ClassLink rostering (Prime plan only).")
@click.option("--contacts", help="Comma-separated e-mails told about held or failed runs.")
@click.option("--scope-threshold", type=float,
              help="Share of one school's or term's records a run may remove (0.25 = 25%).")
@click.option("--update-threshold", type=float,
              help="Share of an entity a run may rewrite before its updates are held.")
@click.option("--hold-whole-runs/--hold-risky-part", default=None,
              help="Hold a risky run whole, or apply what is safe and hold the rest.")
@click.option("--removal-grace", type=int,
              help="Bulk runs a record must be missing from before removal (0: off).")
@click.option("--timezone", help="The district's time zone, an IANA name (America/Chicago): "
                                 "enrollments begin and end on its calendar.")
@with_roster
def district_set(slug, name, classlink_tenant_id, threshold, plan, rostering, contacts,
                 scope_threshold, update_threshold, hold_whole_runs, removal_grace,
                 timezone) -> None:
    changes = DistrictChanges(
        name=name, classlink_tenant_id=classlink_tenant_id, plan=plan, rostering=rostering,
        deletion_threshold=threshold, contacts=contacts, scope_threshold=scope_threshold,
        update_threshold=update_threshold, hold_whole_runs=hold_whole_runs,
        removal_grace_runs=removal_grace, timezone=timezone)
    target = district_service.update_district(district_service.get_district(slug), changes,
                                              by=OPERATOR)
    click.echo(f"District {target.slug}: {target.plan} plan, rostering "
               f"{'enabled' if target.rostering_enabled else 'disabled'}, deletion threshold "
               f"{target.deletion_threshold:.0%} (a school or term {target.scope_threshold:.0%}, "
               f"updates {target.update_threshold:.0%}; "
               f"{'whole runs held' if target.hold_whole_runs else 'only the risky part held'}"
               f", removal grace {target.removal_grace_runs or 'off'}), "
               f"time zone {target.timezone}, contacts {target.contacts or 'none'}.")


@district.command("grant-admin", help="Let an account (by sourcedId, or by an e-mail only one "
                                      "of the district's accounts has) see its district's "
                                      "support console.")
@click.argument("slug")
@click.argument("who")
@with_roster
def district_grant_admin(slug, who) -> None:
    account = access.grant_district_admin(district_service.get_district(slug), who)
    click.echo(f"{account.name} ({account.sourced_id}) now sees {slug}'s rostering console.")


@district.command("source", help="Set where a district's OneRoster packages come from.")
@click.argument("slug")
@click.option("--csv-drop", "csv_drop", type=click.Path(file_okay=False),
              help="Folder the district's zips arrive in (an SFTP drop).")
@click.option("--settle-seconds", type=int, default=sources.DEFAULT_SETTLE_SECONDS,
              show_default=True, help="A drop file unchanged this long is complete.")
@click.option("--oneroster-api", "api_url",
              help="The OneRoster REST server's https address (a public host, or one listed "
                   "in AL_ROSTER_SOURCE_ALLOWED_HOSTS).")
@click.option("--oneroster-version", type=click.Choice(["1.1", "1.2"]))
@click.option("--client-id")
@click.option("--client-secret-env",
              help="NAME of the environment variable holding the client secret; it starts "
                   "with AL_ROSTER_SOURCE_ (e.g. AL_ROSTER_SOURCE_SPRINGFIELD_SECRET).")
@click.option("--token-url", help="OAuth 2 token endpoint (1.2), if not {url}/token.")
@click.option("--none", "clear", is_flag=True, help="Remove the district's source.")
@click.option("--json", "as_json", is_flag=True)
@with_roster
def district_source(slug, csv_drop, settle_seconds, api_url, oneroster_version, client_id,
                    client_secret_env, token_url, clear, as_json) -> None:
    target = district_service.get_district(slug)
    if sum([bool(csv_drop), bool(api_url), clear]) > 1:
        raise click.UsageError("Choose one of --csv-drop, --oneroster-api and --none.")
    change = None
    if csv_drop:
        change = SourceChange(sources.CSV_DROP, directory=csv_drop, settle_seconds=settle_seconds)
    elif api_url:
        change = SourceChange(sources.ONEROSTER_API, url=api_url, version=oneroster_version or "",
                              client_id=client_id or "",
                              client_secret_env=client_secret_env or "", token_url=token_url)
    elif clear:
        change = SourceChange(sources.NONE)
    if change is not None:
        district_service.update_district(target, DistrictChanges(source=change), by=OPERATOR)
    info = sources.describe_source(target)
    if as_json:
        emit_json(info)
        return
    click.echo(_describe(slug, info))


def _describe(slug: str, info: dict) -> str:
    if info["kind"] == sources.CSV_DROP:
        return f"{slug}: CSV drop at {info['directory']}"
    if info["kind"] == sources.ONEROSTER_API:
        secret = "set" if info["secretSet"] else "NOT set in this environment"
        return (f"{slug}: OneRoster {info['version']} API at {info['url']}, client id "
                f"{info['client_id']}, secret from ${info['client_secret_env']} ({secret})")
    return f"{slug}: no source"


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
