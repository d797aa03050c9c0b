"""The app a job runs in: `flask --app X al-roster worker` and `cron` hand X to the rq
processes (real worker, real Redis), refuse an AL_ROSTER_APP naming another app, and a night
whose job failed or ran in another app's database is queued again."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, make_app
from packages import small_district, write_package
from signin_helpers import bind
from test_jobs import REDIS_URL, redis  # noqa: F401  (fixture)

from al_roster import jobs
from al_roster.models import SyncRun, database
from al_roster.services import sources
from al_roster.services.districts import add_district

TESTS = Path(__file__).resolve().parent
pytestmark = pytest.mark.redis


@pytest.fixture
def queue_name(redis):  # noqa: F811
    name = f"al_roster_test_{uuid.uuid4().hex[:10]}"
    yield name
    for key in redis.scan_iter(match=f"*{name}*", count=1000):
        redis.delete(key)


def drop_district(folder: Path, slug: str = "north", students: int = 4):
    district = add_district(slug, f"{slug.title()} District", plan="prime", rostering=True)
    drop = folder / f"{slug}-drop"
    drop.mkdir()
    put_in_drop(folder, drop, small_district(students))
    sources.set_csv_drop(district, drop)
    return district


def put_in_drop(folder: Path, drop: Path, files: dict, name: str = "night") -> None:
    write_package(folder / f"package-{name}", files, zip_to=drop / f"{name}.zip")
    then = time.time() - 600
    os.utime(drop / f"{name}.zip", (then, then))


def runs(district) -> list[SyncRun]:
    return list(SyncRun.select().where(SyncRun.district == district).order_by(SyncRun.id))


def work(redis, queue_name, app) -> None:  # noqa: F811
    from rq import Queue, SimpleWorker
    worker = SimpleWorker([Queue(queue_name, connection=redis)], connection=redis)
    bind(app)
    with app.app_context():  # the job builds nothing: it runs in ``app``
        worker.work(burst=True)


def test_a_nightly_run_in_another_apps_database_leaves_the_night_open(redis, queue_name,  # noqa: F811
                                                                      tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'roster.sqlite3'}", tmp_path,
                   AL_ROSTER_REDIS_URL=REDIS_URL, AL_ROSTER_QUEUE=queue_name)
    elsewhere = make_app(f"sqlite:///{tmp_path / 'other.sqlite3'}", tmp_path / "other",
                         AL_ROSTER_REDIS_URL=REDIS_URL, AL_ROSTER_QUEUE=queue_name)
    bind(app)
    with app.app_context():
        district = drop_district(tmp_path)
        assert jobs.sync_all_districts()["queued"] == ["north"]
    work(redis, queue_name, elsewhere)  # a worker that built the wrong app: "No such district"
    bind(app)
    with app.app_context():
        again = jobs.sync_all_districts()
        assert again["caughtUp"] == ["north"] and again["alreadyQueued"] == []
        work(redis, queue_name, app)
        assert [r.status for r in runs(district)] == ["applied"]
        done = jobs.sync_all_districts()
        assert done["alreadyQueued"] == ["north"] and done["caughtUp"] == []
    database.close()


def test_a_failed_nightly_is_queued_again_at_the_next_tick(redis, queue_name, tmp_path):  # noqa: F811
    app = make_app(f"sqlite:///{tmp_path / 'roster.sqlite3'}", tmp_path,
                   AL_ROSTER_REDIS_URL=REDIS_URL, AL_ROSTER_QUEUE=queue_name)
    with app.app_context():
        district = drop_district(tmp_path)
        drop = Path(district.source_config["directory"])
        drop.rename(tmp_path / "moved")  # the drop folder is gone: the run fails
        assert jobs.sync_all_districts()["queued"] == ["north"]
        work(redis, queue_name, app)
        (tmp_path / "moved").rename(drop)  # fixed
        assert jobs.sync_all_districts()["caughtUp"] == ["north"]
        work(redis, queue_name, app)
        assert jobs.sync_all_districts()["alreadyQueued"] == ["north"]
    database.close()


def flask_roster(args: list[str], env: dict, timeout: int = 120, *,
                 app: str = "host:create_app", cwd: Path = TESTS) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", app,
                           "al-roster", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def host_env(tmp_path: Path, queue_name: str) -> dict:
    env = dict(os.environ, AL_ROSTER_DATABASE_URL=f"sqlite:///{tmp_path / 'roster.sqlite3'}",
               AL_ROSTER_STORAGE_DIR=str(tmp_path / "storage"), AL_ROSTER_REDIS_URL=REDIS_URL,
               AL_ROSTER_QUEUE=queue_name, HOST_DATABASE=str(tmp_path / "host.sqlite3"),
               PYTHONPATH=str(ROOT))
    env.pop("AL_ROSTER_APP", None)
    return env


def test_the_worker_command_runs_jobs_in_the_app_it_was_given(redis, queue_name, tmp_path):  # noqa: F811
    """``flask --app host:create_app al-roster worker``: a real rq worker builds the host
    app, so the sync it runs reaches the receivers the host connected."""
    from host import Course, create_app
    from rosters import account_for

    from al_roster.services.class_import import import_classes
    env = host_env(tmp_path, queue_name)
    app = create_app({"AL_ROSTER_DATABASE_URL": env["AL_ROSTER_DATABASE_URL"],
                      "AL_ROSTER_STORAGE_DIR": env["AL_ROSTER_STORAGE_DIR"],
                      "AL_ROSTER_REDIS_URL": REDIS_URL, "AL_ROSTER_QUEUE": queue_name,
                      "HOST_DATABASE": env["HOST_DATABASE"]})
    from al_roster.schema import upgrade
    upgrade(app.extensions["al_roster"].db)
    with app.app_context():
        district = drop_district(tmp_path, students=12)
        assert jobs.run_district_sync(district.id)["status"] == "applied"  # here, in-process
        (algebra,) = import_classes(account_for(district, "tch-1", "teacher"), ["cls-1"])
        assert Course.get(Course.roster_class_id == algebra.id).students == 12
        drop = Path(district.source_config["directory"])
        put_in_drop(tmp_path, drop, small_district(11), "second-night")  # Student12 leaves
        job = jobs.enqueue_sync(district.id)
    started = flask_roster(["worker", "--burst"], env)
    assert started.returncode == 0, started.stderr
    assert "AL_ROSTER_APP=host:create_app" in started.stderr
    job.refresh()
    assert job.get_status() == "finished", job.latest_result()
    with app.app_context():
        assert job.return_value()["status"] == "applied"
        assert job.return_value()["database"] == jobs.database_fingerprint()
        # The host's receiver ran in the worker: its own table follows the roster.
        assert Course.get(Course.roster_class_id == algebra.id).students == 11
    database.close()


def test_the_reference_apps_nightly_on_rq_keeps_its_own_tables(redis, queue_name, tmp_path):  # noqa: F811
    """plugin.py's seats follow a sync a real worker ran (flask --app plugin:create_app)."""
    from rosters import account_for

    import plugin
    from al_roster.services.class_import import import_classes
    env = host_env(tmp_path, queue_name)
    app = make_app(env["AL_ROSTER_DATABASE_URL"], tmp_path, AL_ROSTER_REDIS_URL=REDIS_URL,
                   AL_ROSTER_QUEUE=queue_name)
    with app.app_context():
        district = drop_district(tmp_path, students=12)
        assert jobs.run_district_sync(district.id)["status"] == "applied"
        import_classes(account_for(district, "tch-1", "teacher"), ["cls-1"])
        put_in_drop(tmp_path, Path(district.source_config["directory"]), small_district(11),
                    "second-night")
        jobs.enqueue_sync(district.id)
    started = flask_roster(["worker", "--burst"], env, app="plugin:create_app", cwd=ROOT)
    assert started.returncode == 0, started.stderr
    with app.app_context():
        seats = {s.user_sourced_id: s.active for s in plugin.Seat.select()}
        assert seats["stu-12"] is False and seats["stu-11"] is True and seats["tch-1"] is True
    database.close()


def test_worker_and_cron_refuse_an_al_roster_app_naming_another_app(queue_name, tmp_path):
    env = host_env(tmp_path, queue_name) | {"AL_ROSTER_APP": "plugin:create_app"}
    for command in ("worker", "cron"):
        refused = flask_roster([command, "--burst"] if command == "worker" else [command], env)
        assert refused.returncode != 0
        assert "AL_ROSTER_APP names plugin:create_app" in refused.stderr
        assert "host:create_app" in refused.stderr and "Traceback" not in refused.stderr


def test_commands_on_a_database_without_the_schema_say_to_upgrade(tmp_path):
    from flask import Flask

    from al_roster import ALRoster
    app = Flask(__name__, instance_path=str(tmp_path))
    ALRoster(app)  # SQLite in the instance folder, never upgraded
    for args in (["district", "list"], ["runs", "north"], ["district", "show", "north"]):
        result = app.test_cli_runner().invoke(args=["al-roster", *args])
        assert result.exit_code == 1, result.output
        assert "run `al-roster db upgrade`" in result.output
        assert "Traceback" not in result.output and "OperationalError" not in result.output
    database.close()
