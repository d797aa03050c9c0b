"""A sync that is rejected, held, fails or is killed writes no roster events and sends no
signals (SQLite and PostgreSQL)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from event_helpers import TODAY, feed, last_id, north_school, receiving
from packages import write_package
from rosters import school
from test_reconcile import enrol, unenrol

from al_roster.models import Membership, SyncRun
from al_roster.sync import reconcile
from al_roster.sync.runner import sync_package

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def north(app, tmp_path):
    return north_school(app, tmp_path)


def night(files=None):
    """Tonight's file: one student more and one fewer, so a sync that applied would write."""
    files = files or school(TODAY)
    enrol("cls-alg1", "stu-9")(files)
    unenrol("cls-alg1", "stu-2")(files)
    return files


def test_a_rejected_sync_writes_no_events(north, app, tmp_path, db_url):
    district, _ = north
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    cursor = last_id()
    with receiving(app, db_url) as received:
        run = sync_package(district, bad, app.extensions["al_roster"].sync_options)
    assert run.status == "rejected"
    assert feed(cursor) == [] and received.items == []


def test_a_held_sync_writes_no_events_until_approved(north, app, tmp_path, db_url):
    district, sync = north
    district.hold_whole_runs, district.deletion_threshold = True, 0.1
    district.save()
    files = night()
    files["enrollments"] = [e for e in files["enrollments"] if e["classSourcedId"] != "cls-co"]
    cursor = last_id()
    with receiving(app, db_url) as received:
        run = sync(files)
    assert run.status == "held"
    assert feed(cursor) == [] and received.items == []
    from al_roster.sync.review import reject_run
    reject_run(run, by="test")
    assert feed(cursor) == []


def test_a_sync_failing_after_its_events_were_staged_writes_none(north, app, monkeypatch,
                                                                 db_url):
    district, sync = north
    real = reconcile.reconcile_imported_classes

    def then_fail(*args, **kwargs):
        real(*args, **kwargs)  # archive, member events staged...
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("al_roster.sync.runner.reconcile_imported_classes", then_fail)
    cursor = last_id()
    with receiving(app, db_url) as received, pytest.raises(RuntimeError):
        sync(night())
    assert SyncRun.select().order_by(SyncRun.id.desc()).first().status == "failed"
    assert feed(cursor) == [] and received.items == []
    assert not Membership.select().where(Membership.user_sourced_id == "stu-9").exists()


KILLED_SYNC = textwrap.dedent("""
    import sys, time
    sys.path[:0] = [sys.argv[4], sys.argv[4] + "/tests"]
    from plugin import create_app
    from al_roster.models import District
    from al_roster.sync import events
    from al_roster.sync.runner import sync_package

    written = events._write_staged

    def write_then_stop(db, current):
        span = written(db, current)
        open(sys.argv[3], "w").write(repr(span))  # in roster_event, not committed yet
        time.sleep(600)

    events._write_staged = write_then_stop
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "AL_ROSTER_DATABASE_URL": sys.argv[1],
                      "AL_ROSTER_STORAGE_DIR": sys.argv[2]})
    with app.app_context():
        district = District.get(District.slug == "north")
        sync_package(district, sys.argv[5], app.extensions["al_roster"].sync_options)
""")


def test_a_sync_killed_after_writing_its_events_leaves_none(north, app, tmp_path, db_url):
    district, _ = north
    package = write_package(tmp_path / "night", night())
    marker = tmp_path / "written"
    cursor = last_id()
    storage = app.config["AL_ROSTER_STORAGE_DIR"]
    from al_roster.models import database
    database.obj.close()
    errors = tmp_path / "stderr"
    with open(errors, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", KILLED_SYNC, db_url, storage, str(marker), ROOT, str(package)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            assert process.poll() is None, errors.read_text()[-2000:]
            time.sleep(0.1)
        assert marker.exists(), "the sync never wrote its events"
        assert marker.read_text() != "None"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    deadline = time.monotonic() + 60  # the server ends the dead backend, and its transaction
    while time.monotonic() < deadline:
        try:
            with receiving(app, db_url) as received:
                ran = sync_package(district, package, app.extensions["al_roster"].sync_options)
            break
        except Exception:  # noqa: BLE001 - the dead process's lock is not released yet
            time.sleep(0.5)
    runs = list(SyncRun.select().order_by(SyncRun.id))
    assert runs[-2].status == "failed" and "stopped before it finished" in runs[-2].message
    # The killed run left nothing; the next one wrote its own, once, and they were sent.
    kinds = [k for k, *_ in feed(cursor)]
    assert kinds == ["member_added", "member_removed", "run_applied"]
    assert ran.status == "applied" and received.kinds() == kinds
