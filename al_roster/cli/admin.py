"""`al-roster runs`, `run show|approve|reject|undo`, `staff grant|revoke|list`, `why`."""
from __future__ import annotations

import sys

import click

from ..errors import RunStateError
from ..models import SyncRun
from ..services import access, diagnostics
from ..services import districts as district_service
from ..services.run_review import CHANGE_KINDS, district_runs, run_changes
from ..sync.report import run_report
from ..sync.review import approve_run, reject_run, undo_run
from .base import cli, emit_json, state, with_roster
from .sync import print_summary

PAGE_SIZE = 50


def _get_run(run_id: int) -> SyncRun:
    run = SyncRun.get_or_none(SyncRun.id == run_id)
    if run is None:
        click.echo(f"No run {run_id}.", err=True)
        sys.exit(1)
    return run


def _refused(exc: RunStateError) -> None:
    click.echo(exc.message, err=True)
    sys.exit(1)


@cli.command("runs", help="A district's runs, newest first (held runs first).")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True)
@with_roster
def runs(slug, as_json) -> None:
    found = district_runs(district_service.get_district(slug), limit=100)
    found.sort(key=lambda r: (r.status != "held", -r.id))
    reports = [run_report(r, issue_limit=0) for r in found]
    if as_json:
        emit_json(reports)
        return
    for r in reports:
        click.echo(f"{r['run']:>6}  {r['status'].upper():<10}{(r['startedAt'] or '')[:16]:<18}"
                   f"{r['errors']:>5} errors  {r['message'] or ''}")


@cli.group("run", help="One run: show it, approve or reject it when held, undo it when applied.")
def run_group() -> None:
    pass


@run_group.command("show", help="A run's report and a page of its changes.")
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.option("--entity", help="Only this file's changes (users, enrollments, ...).")
@click.option("--kind", type=click.Choice(CHANGE_KINDS))
@click.option("--page", type=int, default=1, show_default=True)
@with_roster
def run_show(run_id, as_json, entity, kind, page) -> None:
    run = _get_run(run_id)
    report = run_report(run)
    changes = run_changes(run, entity=entity, kind=kind, limit=PAGE_SIZE,
                          offset=(max(page, 1) - 1) * PAGE_SIZE)
    if as_json:
        emit_json({**report, "changes": changes})
        return
    print_summary(report)
    verb = "would make" if run.status == "held" else "made"
    click.echo(f"Changes it {verb}:")
    for name, totals in changes["totals"].items():
        shown = ", ".join(f"{k} {v:,}" for k, v in totals.items() if v)
        if shown:
            click.echo(f"  {name:<18}{shown}")
    for item in changes["changes"]:
        extra = "; ".join(f"{k}: {v['before']} -> {v['after']}"
                          for k, v in (item.get("changed") or {}).items())
        click.echo(f"  {item['kind']:<9}{item['entity']:<18}{item['sourcedId']}  {extra}".rstrip())


def _decide(run_id: int, action: str) -> None:
    run = _get_run(run_id)
    options = state().sync_options
    try:
        if action == "approve":
            run = approve_run(run, options, by="cli")
        elif action == "reject":
            run = reject_run(run, by="cli")
        else:
            run = undo_run(run, options, by="cli")
    except RunStateError as exc:
        _refused(exc)
    click.echo(f"Run {run.id} is now {run.status}. {run.message or ''}".rstrip())


@run_group.command("approve", help="Apply a held run.")
@click.argument("run_id", type=int)
@with_roster
def run_approve(run_id) -> None:
    _decide(run_id, "approve")


@run_group.command("reject", help="Discard a held run; nothing changes.")
@click.argument("run_id", type=int)
@with_roster
def run_reject(run_id) -> None:
    _decide(run_id, "reject")


@run_group.command("undo", help="Put the roster back as it was before an applied run.")
@click.argument("run_id", type=int)
@with_roster
def run_undo(run_id) -> None:
    _decide(run_id, "undo")


@cli.group("staff", help="Support staff: who sees every district's rostering. Staff are named "
                         "by account id, never by e-mail.")
def staff() -> None:
    pass


@staff.command("grant", help="Give the account with this id staff access.")
@click.argument("account_id")
@with_roster
def staff_grant(account_id) -> None:
    account = access.grant_staff(account_id)
    click.echo(f"Account {account.id} ({account.name}, district {account.district.slug}) is "
               "now staff.")


@staff.command("revoke", help="Take staff access from the account with this id.")
@click.argument("account_id")
@with_roster
def staff_revoke(account_id) -> None:
    account = access.revoke_staff(account_id)
    click.echo(f"Account {account.id} ({account.name}) is no longer staff.")


@staff.command("list", help="The accounts marked staff.")
@with_roster
def staff_list() -> None:
    accounts = access.staff_accounts()
    for account in accounts:
        click.echo(f"{account.id}\t{account.district.slug}\t{account.sourced_id}\t{account.name}")
    if not accounts:
        click.echo("No account is marked staff (AL_ROSTER_STAFF and the host app's hook may "
                   "name others).")


@cli.command("why", help="Why a student is (or is not) in a class, from the data.")
@click.argument("student")
@click.argument("class_ref", metavar="CLASS")
@click.option("--district", "slug", required=True)
@click.option("--json", "as_json", is_flag=True)
@with_roster
def why(student, class_ref, slug, as_json) -> None:
    # The command line is the operator's: it may name the other district a person is in.
    result = diagnostics.why_not_in_class(district_service.get_district(slug), student,
                                          class_ref, may_see_other_districts=True)
    if as_json:
        emit_json(result)
    else:
        click.echo(result["answer"])
