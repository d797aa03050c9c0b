"""Background jobs on RQ: the nightly sync of every district, and syncs on demand.

Job functions take ids only and build their own app context: inside an app context (a
test, ``flask al-roster ...``) they use it; in an ``rq worker`` process they build the app
named by the AL_ROSTER_APP environment variable (``module:attribute``, a Flask app or a
factory called with no arguments; default ``plugin:create_app``, the reference host app),
or, when that cannot be imported, the standalone al_roster app configured from AL_ROSTER_*
environment variables. ``flask --app X al-roster worker`` (and ``cron``) set AL_ROSTER_APP
to X for the rq process it starts.

Schedule: ``rq cron`` with ``al_roster/cron.py`` (shipped in the package) registers
:func:`sync_all_districts` at AL_ROSTER_SYNC_CRON, and again at AL_ROSTER_CATCHUP_CRON to
queue the nights that were lost. rq 2.x reads cron strings in UTC: the default ``0 7 * * *`` is 07:00
UTC, 2 am (EST) or 3 am (EDT) in US Eastern and 11 pm / midnight in US Pacific: the
districts' night, not the server's. Run exactly one ``rq cron`` process (it takes no lock).
It also registers :func:`clean_up` at AL_ROSTER_CLEANUP_CRON (default 06:00 UTC, before the
syncs; a district syncing at the time is cleaned the next night).

Faults: a source error that may pass (timeouts, 429/5xx after the pull's own retries) and a
district already syncing make the job fail so RQ retries it with backoff (``Retry``; the
worker needs ``--with-scheduler``, which ``al-roster worker`` passes). Bad data is not
retried: it ends as a rejected or held run, for people to look at.
"""
from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, has_app_context

from .errors import SourceError, SyncBusy
from .logsafe import for_log
from .models import District, SyncRun
from .models.base import unavailable_errors
from .services import sources
from .settings import roster_state, standalone_app
from .sync.runner import sync_package

log = logging.getLogger(__name__)

#: Waits (seconds) before each retry of a job that met a passing fault.
RETRY_INTERVALS = [60, 300, 900]
#: How long a finished nightly job's id is kept, so the same night is not queued twice.
NIGHT_TTL = 36 * 3600
JOB_TIMEOUT = 6 * 3600
#: A pull folder older than this belongs to no live job (RQ stops a job at JOB_TIMEOUT).
STALE_PULL_SECONDS = JOB_TIMEOUT + 3600

_app: Flask | None = None


# -- app context and Redis -----------------------------------------------------------------

def load_app() -> Flask:
    """The app a worker runs jobs in (see the module docstring); built once per process."""
    global _app
    if _app is None:
        target = os.environ.get("AL_ROSTER_APP", "plugin:create_app")
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            if "AL_ROSTER_APP" in os.environ:
                raise
            _app = standalone_app()
        else:
            if attr:
                obj = getattr(module, attr)
                _app = obj if isinstance(obj, Flask) else obj()
            else:  # a module alone, as `flask --app module` finds its app or factory
                from flask.cli import find_best_app
                _app = find_best_app(module)
    return _app


@contextmanager
def app_context() -> Iterator[Flask]:
    if has_app_context():
        yield current_app._get_current_object()
        return
    with load_app().app_context():
        yield current_app._get_current_object()


def redis_connection(url: str | None = None):
    """A Redis connection from AL_ROSTER_REDIS_URL, or None when jobs run inline. A Redis
    that does not answer costs seconds, not forever."""
    from redis import Redis
    url = url or current_app.config.get("AL_ROSTER_REDIS_URL")
    return Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30) if url else None


def require_redis(url: str | None = None) -> str:
    """AL_ROSTER_REDIS_URL, once Redis there answers; raises RedisUnreachable ("Redis at URL
    is unreachable") for the commands that cannot work without it."""
    from .services.redis_link import check_reachable
    url = url or current_app.config["AL_ROSTER_REDIS_URL"]
    check_reachable(url)
    return url


def job_queue(connection=None, name: str | None = None):
    from rq import Queue
    connection = connection or _current_connection() or redis_connection()
    if connection is None:
        raise SourceError("AL_ROSTER_REDIS_URL is not set, so there is no job queue.")
    return Queue(name or current_app.config["AL_ROSTER_QUEUE"], connection=connection)


def _current_connection():
    from rq import get_current_job
    job = get_current_job()
    return job.connection if job is not None else None


def _retry():
    from rq import Retry
    return Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS)


# -- the jobs ----------------------------------------------------------------------------

def sync_district(district_id: int, full: bool = False) -> dict:
    """Fetches the district's next package from its source and syncs it.

    Returns a summary (``status``, ``run``, ``message``). Raises, so RQ retries, only for
    faults that may pass; the failed run is recorded first either way.
    """
    with app_context():
        result = run_district_sync(district_id, full=full, raise_passing=True)
        return result | {"database": database_fingerprint()}


def database_fingerprint() -> str:
    """Names this app's database in a job's result without its address or password, so
    the nightly tick can tell a job that ran against another database."""
    import hashlib
    url = str(current_app.config["AL_ROSTER_DATABASE_URL"])
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def run_district_sync(district_id: int, *, full: bool = False, raise_passing: bool = False) -> dict:
    district = District.get_or_none(District.id == district_id)
    if district is None:
        return {"district": district_id, "status": "skipped", "message": "No such district."}
    if district.source_kind == sources.NONE or not district.can_use_rostering:
        return _summary(district, None, "skipped",
                        "Rostering is not enabled or the district has no source.")
    options = roster_state().sync_options
    sources.sweep_stale_pulls(options.storage_dir / "pulls", older_than=STALE_PULL_SECONDS)
    work = options.storage_dir / "pulls" / f"{district.id}-{uuid.uuid4().hex[:8]}"
    try:
        try:
            fetched = sources.fetch_package(district, work, full=full)
        except SourceError as exc:
            run = sources.record_source_failure(district, exc)
            log.warning("district %s: source failed (run %s): %s", district.slug, run.id,
                        for_log(exc.message, 500))
            if raise_passing and sources.is_passing(exc):
                raise
            return _summary(district, run, run.status, run.message)
        if fetched is None:
            return _summary(district, None, "nothing new", _nothing_new(district))
        return _sync_fetched(district, fetched, options)
    finally:
        sources.discard_pull(work)


def _sync_fetched(district: District, fetched: sources.Fetched, options) -> dict:
    run = None
    try:
        run = sync_package(district, fetched.path, options, source=district.source_kind,
                           source_name=fetched.source_name, file=fetched.file,
                           skipped=fetched.skipped)
    except SyncBusy:
        raise  # nothing was taken: the file stays, RQ retries later
    except unavailable_errors():
        raise  # the database went away mid-run: nothing was kept; the file stays for the retry
    except Exception:
        run = (SyncRun.select().where(SyncRun.district == district)
               .order_by(SyncRun.id.desc()).first())
        raise
    finally:
        if fetched.file is not None:
            fetched.file.close()
        if district.source_kind == sources.CSV_DROP and run is not None:
            sources.mark_processed(district, Path(fetched.path), run)
    return _summary(district, run, run.status, run.message)


def _nothing_new(district: District) -> str:
    message = "No new complete file in the drop."
    refused = sources.drop_refusals(district) if district.source_kind == sources.CSV_DROP else []
    if refused:
        message += " Not taken: " + "; ".join(
            f"{for_log(name, 80)} ({reason})" for name, reason in refused[:5]) + "."
    return message


def _summary(district: District, run: SyncRun | None, status: str, message: str) -> dict:
    return {"district": district.slug, "run": run.id if run else None, "status": status,
            "message": message}


def due_districts() -> list[District]:
    """Districts the nightly sync covers: a source set and rostering enabled."""
    return [d for d in District.select().where(District.source_kind != sources.NONE,
                                               District.rostering_enabled == True)  # noqa: E712
            .order_by(District.id) if d.can_use_rostering]


def nightly_job_id(queue_name: str, district_id: int, night: dt.date | None = None) -> str:
    night = night or dt.datetime.now(dt.UTC).date()
    return _job_id(f"{queue_name}-sync-{district_id}-{night.isoformat()}")


def _job_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def sync_all_districts(now: dt.datetime | None = None) -> dict:
    """Enqueues one :func:`sync_district` job per due district, one id per district and
    night: a second run the same night queues nothing new. One failure stops no other.

    Run at the nightly hour and at every catch-up tick: a district whose night was lost
    (nothing queued while Redis was down, a killed worker, a flushed Redis, retries used up)
    and that has no applied, held or rejected run since the nightly hour is queued again
    under a new id (``caughtUp``); see :mod:`al_roster.schedule`."""
    from rq.exceptions import DuplicateJobError

    from . import schedule
    with app_context() as app:
        queue = job_queue()
        start = schedule.night_start(app.config["AL_ROSTER_SYNC_CRON"], now)
        queued, caught_up, already, failed = [], [], [], {}
        for district in due_districts():
            nightly_id = nightly_job_id(queue.name, district.id, start.date())
            try:
                job_id = schedule.next_attempt(queue, district, nightly_id, start, now,
                                               database=database_fingerprint())
                if job_id is None:
                    already.append(district.slug)
                    continue
                queue.enqueue(sync_district, district.id, job_id=job_id,
                              unique=True, retry=_retry(), job_timeout=JOB_TIMEOUT,
                              result_ttl=NIGHT_TTL, failure_ttl=NIGHT_TTL,
                              description=f"nightly sync of {district.slug}")
                (queued if job_id == nightly_id else caught_up).append(district.slug)
                if job_id != nightly_id:
                    log.warning("district %s: tonight's sync was lost; queued again as %s",
                                district.slug, job_id)
            except DuplicateJobError:
                already.append(district.slug)
            except Exception as exc:  # one district's failure never stops another's
                log.exception("could not queue the sync of %s", district.slug)
                failed[district.slug] = str(exc)
        return {"queued": queued, "caughtUp": caught_up, "alreadyQueued": already,
                "failed": failed}


def run_all_inline() -> list[dict]:
    """Without Redis: syncs every due district in turn, in this process."""
    results = []
    with app_context():
        for district in due_districts():
            try:
                results.append(run_district_sync(district.id))
            except Exception as exc:  # recorded on the run; carry on with the next
                log.exception("sync of %s failed", district.slug)
                results.append({"district": district.slug, "run": None, "status": "failed",
                                "message": str(exc)})
    return results


def enqueue_sync(district_id: int, full: bool = True):
    """Queues a sync of one district now (the `sync-now` command); returns the rq Job."""
    with app_context():
        return job_queue().enqueue(
            sync_district, district_id, full=full, retry=_retry(), job_timeout=JOB_TIMEOUT,
            job_id=_job_id(f"{current_app.config['AL_ROSTER_QUEUE']}-sync-now-{district_id}-"
                           f"{uuid.uuid4().hex[:12]}"),
            description=f"sync of district {district_id} on demand")


def clean_up() -> dict:
    """The nightly clean-up: what is past its retention window is forgotten
    (:mod:`al_roster.services.retention`); returns its report."""
    from .services.retention import Retention
    from .services.retention import clean_up as clean
    with app_context() as app:
        report = clean(app.extensions["al_roster"].sync_options.storage_dir,
                       Retention.from_config(app.config))
        return report.to_dict()


def register_cron(registry) -> None:
    """Registers the nightly sync with ``rq.cron`` (the module, in a ``rq cron`` config file)
    or a ``CronScheduler``, at AL_ROSTER_SYNC_CRON (UTC) on AL_ROSTER_QUEUE, and the
    clean-up (:func:`clean_up`) at AL_ROSTER_CLEANUP_CRON."""
    with app_context() as app:
        registry.register(sync_all_districts, queue_name=app.config["AL_ROSTER_QUEUE"],
                          cron=app.config["AL_ROSTER_SYNC_CRON"],
                          name=f"{app.config['AL_ROSTER_QUEUE']}.nightly_sync",
                          job_timeout=600)
        if app.config.get("AL_ROSTER_CATCHUP_CRON"):  # the nights that were lost
            registry.register(sync_all_districts, queue_name=app.config["AL_ROSTER_QUEUE"],
                              cron=app.config["AL_ROSTER_CATCHUP_CRON"],
                              name=f"{app.config['AL_ROSTER_QUEUE']}.nightly_catch_up",
                              job_timeout=600)
        registry.register(clean_up, queue_name=app.config["AL_ROSTER_QUEUE"],
                          cron=app.config["AL_ROSTER_CLEANUP_CRON"],
                          name=f"{app.config['AL_ROSTER_QUEUE']}.cleanup",
                          job_timeout=JOB_TIMEOUT)
