"""Which night it is, and whether a district still needs tonight's sync.

The nightly sync is queued at ``AL_ROSTER_SYNC_CRON``, one job id per district and night.
Tonight's job can be lost: Redis was down at that hour (nothing was queued), a worker was
killed mid-job (the job stays "started" with nobody running it), Redis was flushed (the job
is gone), or its last retry failed. Each cron tick, the nightly one and the catch-up ticks
at ``AL_ROSTER_CATCHUP_CRON``, asks :func:`next_attempt` per district:

- a run that started since tonight's nightly hour and was decided (applied, held for review
  or rejected) means the night is done;
- so does tonight's latest attempt having finished in this app's database with nothing to
  retry (a drop with nothing new), or being queued, scheduled for a retry or running on a
  live worker;
- otherwise (no attempt yet, or the latest one failed, stopped or was abandoned, or it
  finished with a failed run, or it ran in another database: a worker that built the wrong
  app, see ``al-roster worker``) the next attempt id is returned: tonight's nightly id if
  unused, then ``...-again-1`` up to ``-again-3``, so a night costs at most four attempts
  (each with RQ's own retries).

A started job is abandoned when its worker stopped sending heartbeats: its entry in the
queue's started-job registry has expired (RQ gives a heartbeat about 90 seconds).
"""
from __future__ import annotations

import datetime as dt

from croniter import croniter

from .models import District, SyncRun
from .models.runs import APPLIED, HELD, PARTIAL, REJECTED

MAX_CATCH_UPS = 3
#: A night with one of these runs is handled: its file was read and decided (or held) once.
DECIDED = (APPLIED, HELD, PARTIAL, REJECTED)
PENDING = ("queued", "scheduled", "deferred", "created")


def night_start(cron: str, now: dt.datetime | None = None) -> dt.datetime:
    """The latest time at or before ``now`` (UTC) that the nightly cron fired."""
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return croniter(cron, now + dt.timedelta(seconds=1)).get_prev(dt.datetime)


def attempt_ids(nightly_id: str) -> list[str]:
    return [nightly_id] + [f"{nightly_id}-again-{n}" for n in range(1, MAX_CATCH_UPS + 1)]


def decided_since(district: District, start: dt.datetime) -> bool:
    naive = start.astimezone(dt.UTC).replace(tzinfo=None)
    return SyncRun.select().where((SyncRun.district == district) & (SyncRun.started_at >= naive)
                                  & SyncRun.status.in_(DECIDED)).exists()


#: A finished attempt with one of these results did not do the night's sync.
UNDONE_RESULTS = ("failed", "skipped")


def next_attempt(queue, district: District, nightly_id: str, start: dt.datetime,
                 now: dt.datetime | None = None, *, database: str | None = None) -> str | None:
    """The job id to queue for ``district`` tonight, or None when nothing should be.
    ``database`` is this app's database fingerprint (what a finished job reports)."""
    if decided_since(district, start):
        return None
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    ids = attempt_ids(nightly_id)
    latest = None
    for job_id in ids:
        try:
            latest = Job.fetch(job_id, connection=queue.connection)
        except NoSuchJobError:
            return job_id if latest is None or _lost(queue, latest, now, database) else None
    return None  # tonight's attempts are used up; tomorrow's nightly comes next


def _lost(queue, job, now: dt.datetime | None, database: str | None = None) -> bool:
    status = job.get_status(refresh=False)
    status = getattr(status, "value", status)
    if status == "finished":
        return _finished_in_vain(job, database)
    if status in PENDING:
        return False
    if status == "started":
        at = (now or dt.datetime.now(dt.UTC)).timestamp()
        expired = set(queue.started_job_registry.get_expired_job_ids(at))
        alive = set(queue.started_job_registry.get_job_ids(cleanup=False))
        return job.id in expired or job.id not in alive
    return True  # failed (retries used up), stopped, canceled


def _finished_in_vain(job, database: str | None) -> bool:
    """A finished attempt that did not sync the district in this app's database."""
    result = job.return_value()
    if not isinstance(result, dict):
        return True
    if database is not None and result.get("database") != database:
        return True  # a misrouted worker: another app, another database
    return result.get("status") in UNDONE_RESULTS
