"""Jobs on real Redis and real RQ workers (SimpleWorker, burst), on PostgreSQL: the REST
source with faults, retries for passing faults only, the cron registration, fan-out."""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES, _truncate_postgres, make_app, need_samples, need_service
from packages import small_district, write_package

from al_roster import jobs
from al_roster.models import SyncRun, database
from al_roster.services import sources
from al_roster.services.districts import add_district, roster_counts

try:
    from peers.oneroster_api import serve_oneroster
except ImportError:  # tests/ imported as a package
    from tests.peers.oneroster_api import serve_oneroster

REDIS_URL = os.environ.get("AL_ROSTER_TEST_REDIS", "redis://127.0.0.1:6379/0")
ROSTER_HUB = SAMPLES / "roster-hub-1.1-bulk"
SECRET_ENV = "AL_ROSTER_SOURCE_TEST_DISTRICT_SECRET"


@pytest.fixture
def redis():
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisDown
    conn = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        conn.ping()
    except RedisDown as exc:
        need_service("Redis", exc)
    yield conn
    conn.close()


@pytest.fixture
def queue_name(redis):
    name = f"al_roster_test_{uuid.uuid4().hex[:10]}"
    yield name
    for key in redis.scan_iter(match=f"*{name}*", count=1000):
        redis.delete(key)


@pytest.fixture
def pg_app(pg_url, tmp_path, queue_name, monkeypatch):
    _truncate_postgres(pg_url)
    monkeypatch.setattr(sources, "sleep", lambda seconds: None)
    app = make_app(pg_url, tmp_path, AL_ROSTER_REDIS_URL=REDIS_URL,
                   AL_ROSTER_QUEUE=queue_name, AL_ROSTER_SYNC_CRON="30 6 * * *",
                   AL_ROSTER_SOURCE_ALLOWED_HOSTS="127.0.0.1")
    with app.app_context():
        yield app
    if not database.obj.is_closed():
        database.obj.close()


def work(redis, queue_name) -> None:
    from rq import Queue, SimpleWorker
    SimpleWorker([Queue(queue_name, connection=redis)], connection=redis).work(burst=True)


@pytest.fixture
def api(pg_app, monkeypatch):
    need_samples()
    with serve_oneroster(ROSTER_HUB, "1.1") as server:
        monkeypatch.setenv(SECRET_ENV, server.client_secret)
        yield server


def api_district(api, slug="east", **settings):
    district = add_district(slug, f"{slug.title()} District", plan="prime", rostering=True)
    sources.set_oneroster_api(district, api.base_url, "1.1", api.client_id, SECRET_ENV,
                              **settings)
    return district


def runs(district):
    return list(SyncRun.select().where(SyncRun.district == district).order_by(SyncRun.id))


def test_sync_now_job_pulls_from_the_api_then_deltas(api, redis, queue_name):
    district = api_district(api)
    job = jobs.enqueue_sync(district.id, full=True)
    work(redis, queue_name)
    job.refresh()
    assert job.get_status() == "finished", job.latest_result()
    assert job.return_value()["status"] == "applied"
    assert roster_counts(district)["users"] == 20
    # the next night is a delta pull of what changed since that run
    jobs.enqueue_sync(district.id, full=False)
    work(redis, queue_name)
    last = runs(district)[-1]
    assert last.status == "applied" and "(changes since" in last.source_name
    assert any("dateLastModified" in r.raw_query for r in api.data_requests)


@pytest.mark.parametrize("fault, passing, expected", [
    ("500s", True, "HTTP 500"),
    ("timeout", True, "no answer within"),
    ("429", True, "HTTP 429"),
    ("missing page", False, "HTTP 404"),
    ("bad credentials", False, "refused the credentials"),
])
def test_api_faults_leave_a_failed_run_and_the_copy_unchanged(api, redis, queue_name,
                                                              monkeypatch, fault, passing,
                                                              expected):
    district = api_district(api, page_size=5, timeout=0.3, max_attempts=3)
    jobs.enqueue_sync(district.id, full=True)
    work(redis, queue_name)
    before = roster_counts(district)
    assert before["users"] == 20
    waits = []
    monkeypatch.setattr(sources, "sleep", waits.append)
    if fault == "500s":
        api.fail_all(500)
    elif fault == "timeout":
        api.slow(*range(1, 200), seconds=1.0)
    elif fault == "429":
        api.fail(*range(1, 200), status=429, retry_after="7")
    elif fault == "missing page":
        api.drop_page("users", 10, status=404)
    else:
        monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    job = jobs.enqueue_sync(district.id, full=True)
    work(redis, queue_name)
    job.refresh()
    failed = runs(district)[-1]
    assert failed.status == "failed"
    assert failed.message.startswith("The package could not be fetched, so nothing was changed")
    assert expected in failed.message
    assert "not-the-secret" not in failed.message and api.client_secret not in failed.message
    assert roster_counts(district) == before
    if fault == "429":
        assert waits == [7.0, 7.0]  # Retry-After honoured between attempts
    from rq import Queue
    if passing:  # rq retries it later, with backoff
        assert job.get_status() == "scheduled"
        assert job.retries_left == len(jobs.RETRY_INTERVALS) - 1
        scheduled = Queue(queue_name, connection=redis).scheduled_job_registry
        assert job.id in scheduled.get_job_ids()
    else:  # bad data or bad settings: not retried, the run says why
        assert job.get_status() == "finished"
        assert job.return_value()["status"] == "failed"


def test_cron_registration_enqueues_every_due_district_and_one_failure_stops_none(
        api, redis, queue_name, tmp_path, monkeypatch):
    from rq.cron import CronScheduler
    good = add_district("west", "West District", plan="prime", rostering=True)
    drop = tmp_path / "west-drop"
    drop.mkdir()
    sources.set_csv_drop(good, drop)
    package = write_package(tmp_path / "pkg", small_district(3), zip_to=drop / "west.zip")
    then = time.time() - 600
    os.utime(package, (then, then))
    broken = api_district(api, "east")
    monkeypatch.setenv(SECRET_ENV, "wrong")
    idle = add_district("quiet", "Quiet District", plan="prime", rostering=False)
    sources.set_csv_drop(idle, drop)

    scheduler = CronScheduler(connection=redis)
    scheduler.load_config_from_file(str(Path(ROOT, "al_roster", "cron.py")))
    registered = {job.name.rsplit(".", 1)[-1]: job for job in scheduler.get_jobs()}
    cron_job, cleanup_job = registered["nightly_sync"], registered["cleanup"]
    catch_up = registered["nightly_catch_up"]  # the nights that were lost, every 15 minutes
    assert catch_up.func is jobs.sync_all_districts and catch_up.cron == "*/15 * * * *"
    assert cron_job.cron == "30 6 * * *" and cron_job.queue_name == queue_name
    assert cleanup_job.func is jobs.clean_up and cleanup_job.cron == "0 6 * * *"
    assert cron_job.func is jobs.sync_all_districts
    assert (cron_job.next_enqueue_time.hour, cron_job.next_enqueue_time.minute) == (6, 30)

    cron_job.enqueue(redis)  # force the night
    work(redis, queue_name)
    assert [r.status for r in runs(good)] == ["applied"]
    assert [r.status for r in runs(broken)] == ["failed"]
    assert runs(idle) == []
    assert roster_counts(good)["users"] == 4
    # the same night again queues nothing new for the district that synced; the one whose
    # run failed is tried again (a catch-up attempt), not left until tomorrow
    again = jobs.sync_all_districts()
    assert again["queued"] == [] and again["alreadyQueued"] == ["west"]
    assert again["caughtUp"] == ["east"]
