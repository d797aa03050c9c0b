"""Roster signals come after the commit from every process that changes the roster: a
command, a web request (the console's undo) and an RQ job."""
from __future__ import annotations

import os
import time

from admin_helpers import CSRF
from admin_helpers import sign_in as console_sign_in
from event_helpers import TODAY, feed, last_id, north_school, receiving
from packages import write_package
from rosters import school
from test_jobs import pg_app, queue_name, redis, work  # noqa: F401  (fixtures)
from test_reconcile import enrol, unenrol

from al_roster import jobs
from al_roster.cli import cli
from al_roster.models import Account, SyncRun
from al_roster.services import sources


def night(tmp_path, name="night"):
    files = school(TODAY)
    enrol("cls-alg1", "stu-9")(files)
    unenrol("cls-alg1", "stu-2")(files)
    return write_package(tmp_path / name, files)


def test_a_sync_from_the_command_line_sends_its_signals(app, runner, tmp_path, db_url):
    north_school(app, tmp_path)
    cursor = last_id()
    with receiving(app, db_url) as received:
        result = runner.invoke(cli, ["sync", "north", str(night(tmp_path))])
    assert result.exit_code == 0, result.output
    kinds = ["member_added", "member_removed", "run_applied"]
    assert [k for k, *_ in feed(cursor)] == kinds
    assert received.kinds() == kinds and all(committed for _, _, committed, _ in received.items)


def test_an_undo_from_the_console_sends_its_signals(app, client, tmp_path, db_url):
    district, sync = north_school(app, tmp_path)
    files = school(TODAY)
    enrol("cls-alg1", "stu-9")(files)
    run = sync(files)
    staff = Account.get(Account.sourced_id == "stu-1")
    staff.is_staff = True
    staff.save()
    console_sign_in(client, staff)
    cursor = last_id()
    with receiving(app, db_url) as received:
        answer = client.post(f"/roster/api/admin/runs/{run.id}/undo",
                             headers={"X-CSRF-Token": CSRF})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert [k for k, *_ in feed(cursor)] == ["member_removed", "run_undone"]
    assert received.kinds() == ["member_removed", "run_undone"]
    assert all(committed for _, _, committed, _ in received.items)


def test_a_sync_job_on_rq_sends_its_signals(pg_app, redis, queue_name, tmp_path,  # noqa: F811
                                               pg_url):
    district, _ = north_school(pg_app, tmp_path)
    drop = tmp_path / "drop"
    drop.mkdir()
    sources.set_csv_drop(district, drop)
    package = write_package(tmp_path / "zipped", school(TODAY), zip_to=drop / "night.zip")
    files = school(TODAY)
    enrol("cls-alg1", "stu-9")(files)
    write_package(tmp_path / "zipped", files, zip_to=package)
    then = time.time() - 600  # complete: not written to for ten minutes
    os.utime(package, (then, then))
    cursor = last_id()
    with receiving(pg_app, pg_url) as received:
        jobs.enqueue_sync(district.id)  # the job the nightly tick queues, queued now
        work(redis, queue_name)
    run = SyncRun.select().order_by(SyncRun.id.desc()).first()
    assert run.status == "applied" and run.source == "csv_drop"
    assert [k for k, *_ in feed(cursor)] == ["member_added", "run_applied"]
    assert received.kinds() == ["member_added", "run_applied"]
    assert all(committed for _, _, committed, _ in received.items)
