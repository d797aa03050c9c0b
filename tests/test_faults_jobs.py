"""Syncs when the database or the queue goes away: nothing partial is kept, no night is lost.

On PostgreSQL with a Redis of the test's own (``redis-server`` on a free port, which the
tests may flush): the sync's backend terminated mid-transaction, an ``rq worker`` killed
mid-job (its process group, started here), the queue flushed before a worker took the job.
Jobs run in real RQ workers; each night's tick is :func:`al_roster.jobs.sync_all_districts`,
what ``rq cron`` runs at AL_ROSTER_SYNC_CRON and AL_ROSTER_CATCHUP_CRON.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import psycopg2
import pytest
from conftest import ROOT, _truncate_postgres, make_app
from fault_helpers import own_redis

from al_roster import jobs
from al_roster.demo.generator import generate_district
from al_roster.models import SyncRun, database
from al_roster.services import sources
from al_roster.services.districts import add_district, roster_counts
from al_roster.sync.lock import LOCK_NAMESPACE

STUDENTS = 3000
CLI = os.path.join(os.path.dirname(sys.executable), "al-roster")


@pytest.fixture
def redis():
    with own_redis() as server:
        yield server


@pytest.fixture
def site(pg_url, tmp_path, redis):
    """The app on PostgreSQL and the test's own Redis; its nightly hour was an hour ago."""
    _truncate_postgres(pg_url)
    hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    queue = f"al_roster_faults_{uuid.uuid4().hex[:8]}"
    app = make_app(pg_url, tmp_path, AL_ROSTER_REDIS_URL=redis.url, AL_ROSTER_QUEUE=queue,
                   AL_ROSTER_SYNC_CRON=f"{hour_ago.minute} {hour_ago.hour} * * *")
    with app.app_context():
        yield app
    if not database.obj.is_closed():
        database.obj.close()


def drop_district(tmp_path, slug="north"):
    """A district whose CSV drop holds one settled zip of a 3,000-student district."""
    district = add_district(slug, f"{slug.title()} District", plan="prime", rostering=True)
    drop = tmp_path / f"{slug}-drop"
    drop.mkdir()
    generate_district(tmp_path / f"{slug}-package", STUDENTS, seed=3, zip_path=drop / "night.zip")
    then = time.time() - 600
    os.utime(drop / "night.zip", (then, then))
    sources.set_csv_drop(district, drop)
    return district, drop


def queue_of(app, redis):
    from rq import Queue
    return Queue(app.config["AL_ROSTER_QUEUE"], connection=redis.client())


def work(app, redis) -> None:
    from rq import SimpleWorker
    queue = queue_of(app, redis)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def runs(district):
    return list(SyncRun.select().where(SyncRun.district == district).order_by(SyncRun.id))


def lock_holder(pg_url, district_id: int, *, writing: bool, timeout: float = 60) -> int:
    """The pid of the backend holding the district's sync lock (once it has written, when
    ``writing``): the sync's own connection."""
    conn = psycopg2.connect(pg_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                cur.execute(
                    "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = %s "
                    "AND l.database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) "
                    "AND l.granted AND (NOT %s OR a.backend_xid IS NOT NULL)",
                    [LOCK_NAMESPACE, district_id, writing])
                row = cur.fetchone()
                if row:
                    return row[0]
                time.sleep(0.02)
    finally:
        conn.close()
    raise AssertionError("the sync never took the district's lock")


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a worker this test started)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def lock_is_free(pg_url, district_id: int) -> bool:
    conn = psycopg2.connect(pg_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, district_id])
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


def terminate(pg_url, pid: int) -> None:
    conn = psycopg2.connect(pg_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        conn.close()


def test_a_sync_whose_backend_is_terminated_mid_run_fails_keeps_nothing_and_its_retry_applies(
        site, redis, pg_url, tmp_path):
    district, drop = drop_district(tmp_path)
    job = jobs.enqueue_sync(district.id)
    killer = threading.Thread(target=lambda: terminate(  # mid-transaction
        pg_url, lock_holder(pg_url, district.id, writing=True)))
    killer.start()
    work(site, redis)  # the worker, in this thread
    killer.join(timeout=60)

    [failed] = runs(district)
    assert failed.status == "failed"
    assert "lost its database connection and changed nothing" in failed.message
    assert roster_counts(district)["users"] == 0  # nothing partial was kept
    assert lock_is_free(pg_url, district.id)  # the district's lock went with the connection
    assert (drop / "night.zip").exists()  # the file waits for the retry
    job.refresh()
    assert job.get_status() == "scheduled"  # RQ retries it after its backoff

    queue = queue_of(site, redis)  # the backoff has passed
    queue.scheduled_job_registry.remove(job)
    queue.enqueue_job(job)
    work(site, redis)
    assert [r.status for r in runs(district)] == ["failed", "applied"]
    assert roster_counts(district)["users"] > STUDENTS
    assert not (drop / "night.zip").exists()  # taken, and moved to processed/


def test_a_worker_killed_mid_job_does_not_cost_the_district_its_night(site, redis, pg_url,
                                                                      tmp_path):
    district, _ = drop_district(tmp_path)
    tick = jobs.sync_all_districts()  # the nightly hour
    assert tick["queued"] == ["north"]
    env = dict(os.environ, AL_ROSTER_DATABASE_URL=pg_url, AL_ROSTER_REDIS_URL=redis.url,
               AL_ROSTER_QUEUE=site.config["AL_ROSTER_QUEUE"], SECRET_KEY="test",
               AL_ROSTER_STORAGE_DIR=site.config["AL_ROSTER_STORAGE_DIR"],
               PYTHONPATH=str(ROOT))
    env.pop("AL_ROSTER_APP", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--url", redis.url, "--burst",
         site.config["AL_ROSTER_QUEUE"]], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock_holder(pg_url, district.id, writing=True)
        horses = children_of(worker.pid)  # RQ's work horse, in a process group of its own
        assert horses, "the worker has no work horse running the job"
        for pid in [*horses, worker.pid]:  # the worker and its work horse, mid-job
            os.kill(pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    assert [r.status for r in runs(district)] == ["running"]  # left by the dead process
    assert roster_counts(district)["users"] == 0
    # The dead worker's backend notices its client is gone mid-statement and frees the lock.
    deadline = time.monotonic() + 15
    while not lock_is_free(pg_url, district.id):
        assert time.monotonic() < deadline, "the dead worker's backend still holds the lock"
        time.sleep(0.1)

    # A tick soon after (before RQ's heartbeat expires) leaves the job alone...
    assert jobs.sync_all_districts()["caughtUp"] == []
    # ...the next cron tick once the dead worker's heartbeat has run out queues it again,
    # though tonight's job id was used.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)
    tick = jobs.sync_all_districts(now=later)
    assert tick["caughtUp"] == ["north"] and tick["queued"] == []
    work(site, redis)
    assert [r.status for r in runs(district)] == ["failed", "applied"]
    assert "stopped before it finished" in runs(district)[0].message
    assert roster_counts(district)["users"] > STUDENTS
    # The night is done: later ticks queue nothing more.
    assert jobs.sync_all_districts(now=later)["caughtUp"] == []
    assert jobs.sync_all_districts(now=later)["queued"] == []


def cli(env, *args):
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_night_that_could_not_be_queued_or_was_flushed_is_queued_by_the_next_tick(
        site, redis, pg_url, tmp_path):
    district, _ = drop_district(tmp_path)
    env = dict(os.environ, AL_ROSTER_DATABASE_URL=pg_url, AL_ROSTER_REDIS_URL=redis.url,
               AL_ROSTER_QUEUE=site.config["AL_ROSTER_QUEUE"],
               AL_ROSTER_STORAGE_DIR=site.config["AL_ROSTER_STORAGE_DIR"],
               AL_ROSTER_INSTANCE_PATH=str(tmp_path / "instance"))
    redis.stop()  # down at the nightly hour
    missed = cli(env, "nightly")
    assert missed.returncode != 0
    assert f"Redis at {redis.url} is unreachable" in missed.stdout + missed.stderr
    assert "Traceback" not in missed.stdout + missed.stderr

    redis.start()  # back, and empty
    assert jobs.sync_all_districts()["queued"] == ["north"]  # the next tick
    redis.client().flushall()  # lost again before a worker took it
    assert jobs.sync_all_districts()["queued"] == ["north"]
    work(site, redis)
    assert [r.status for r in runs(district)] == ["applied"]
    assert jobs.sync_all_districts()["alreadyQueued"] == ["north"]  # the night is done
