"""`al-roster sync-now`, `nightly`, `worker`, `cron`: jobs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from .. import jobs
from ..services import districts as district_service
from .base import cli, emit_json, state, with_roster

#: The schedule ``al-roster cron`` hands ``rq cron``: shipped in the package.
CRON_CONFIG = Path(__file__).resolve().parents[1] / "cron.py"
#: What a worker builds when no host app is involved: the standalone app.
STANDALONE_APP = "al_roster.extension:standalone_app"


@cli.command("sync-now", help="Sync a district from its source now (queued when Redis is set).")
@click.argument("slug")
@click.option("--full", is_flag=True, help="A full pull from a REST source, not a delta.")
@click.option("--json", "as_json", is_flag=True)
@with_roster
def sync_now(slug, full, as_json) -> None:
    target = district_service.get_district(slug)
    if state().setting("AL_ROSTER_REDIS_URL"):
        jobs.require_redis()  # "Redis at URL is unreachable": exit 1, nothing queued
        job = jobs.enqueue_sync(target.id, full=full)
        result = {"district": slug, "queued": job.id, "queue": job.origin}
        if as_json:
            emit_json(result)
        else:
            click.echo(f"Queued job {job.id} on {job.origin}; `al-roster district show {slug}` "
                       "shows its run when a worker has done it.")
        return
    result = jobs.run_district_sync(target.id, full=full)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"{slug}: {result['status']}"
                   + (f" (run {result['run']})" if result["run"] else "")
                   + f". {result['message']}")
    if result["status"] in ("failed", "rejected"):
        sys.exit(1)


@cli.command("nightly", help="Sync every due district now: queued with Redis, inline without.")
@click.option("--json", "as_json", is_flag=True)
@with_roster
def nightly(as_json) -> None:
    if state().setting("AL_ROSTER_REDIS_URL"):
        jobs.require_redis()  # exit 1; the next cron tick queues the night that was missed
        result = jobs.sync_all_districts()
        if as_json:
            emit_json(result)
        else:
            click.echo(f"Queued {len(result['queued'])} district syncs"
                       + (f"; queued again, tonight's was lost: {', '.join(result['caughtUp'])}"
                          if result.get("caughtUp") else "")
                       + (f"; already queued tonight: {', '.join(result['alreadyQueued'])}"
                          if result["alreadyQueued"] else "") + ".")
        if result["failed"]:
            sys.exit(1)
        return
    results = jobs.run_all_inline()
    if as_json:
        emit_json(results)
        return
    if not results:
        click.echo("No district has a source and rostering enabled.")
    for row in results:
        click.echo(f"{row['district']}: {row['status']}"
                   + (f" (run {row['run']})" if row["run"] else "") + f". {row['message']}")


def _rq(args: list[str]) -> None:
    url = state().setting("AL_ROSTER_REDIS_URL")
    if not url:
        raise click.ClickException("AL_ROSTER_REDIS_URL is not set; without Redis, "
                                   "`al-roster nightly` syncs inline instead.")
    jobs.require_redis(url)  # rq would otherwise stop with a traceback
    env = dict(os.environ)
    env.setdefault("AL_ROSTER_REDIS_URL", url)
    env["AL_ROSTER_APP"], path = _app_for_jobs()
    if path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (path, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "rq.cli", *args, "--url", url]
    click.echo(f"$ AL_ROSTER_APP={env['AL_ROSTER_APP']} " + " ".join(command[2:]), err=True)
    sys.exit(subprocess.call(command, env=env))


def _app_for_jobs() -> tuple[str, str | None]:
    """The app the rq processes build (AL_ROSTER_APP), and the folder to import it from: the
    host app of ``flask --app X``, else AL_ROSTER_APP, else the standalone app. A host app
    and an AL_ROSTER_APP naming another one refuse to start: jobs would run elsewhere."""
    from flask.cli import ScriptInfo, prepare_import
    named = os.environ.get("AL_ROSTER_APP")
    info = click.get_current_context().find_object(ScriptInfo)
    given = info.app_import_path if info is not None else None
    if not given:
        return named or STANDALONE_APP, None
    path, _, attr = given.partition(":")
    before = list(sys.path)
    module = prepare_import(path)
    folder = next((p for p in sys.path if p not in before), None)
    target = f"{module}:{attr.removesuffix('()')}" if attr else module
    if named and named != target:
        raise click.ClickException(
            f"AL_ROSTER_APP names {named}, but this command runs in {target} (--app): the "
            "jobs would run in another app, without its receivers, maybe on another database. "
            "Unset AL_ROSTER_APP or make them agree.")
    return target, folder


@cli.command("worker", help="Start an RQ worker on the al_roster queue (`rq worker`).",
             context_settings={"ignore_unknown_options": True})
@click.argument("rq_args", nargs=-1, type=click.UNPROCESSED)
@with_roster
def worker(rq_args) -> None:
    _rq(["worker", "--with-scheduler", *rq_args, state().setting("AL_ROSTER_QUEUE")])


@cli.command("cron", help="Start the one RQ cron process with the package's schedule "
                          "(`rq cron al_roster/cron.py`).",
             context_settings={"ignore_unknown_options": True})
@click.argument("rq_args", nargs=-1, type=click.UNPROCESSED)
@with_roster
def cron(rq_args) -> None:
    _rq(["cron", *rq_args, str(CRON_CONFIG)])
