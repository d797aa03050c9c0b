"""Retention, as a district's privacy officer checks it: with the clock moved forward, run
details, kept packages, processed drop files and removed people's personal fields go exactly
when their window ends, and what support still needs ("why", restore) keeps working."""
from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time

import pytest
from admin_helpers import CSRF, account, half_dropped, holding_whole_runs, sign_in, sync, two_districts
from packages import small_district

from al_roster import jobs
from al_roster.cli import cli
from al_roster.errors import ConfigurationError, RunStateError
from al_roster.models import RosterUser, RunChange, RunIssue, SyncRun, database
from al_roster.models.district import utcnow
from al_roster.services import diagnostics, sources
from al_roster.services.districts import add_district
from al_roster.services.retention import Retention, clean_up
from al_roster.sync.lock import DistrictLock
from al_roster.sync.review import approve_run, undo_run

DAY = dt.timedelta(days=1)


def storage(app):
    return app.extensions["al_roster"].sync_options.storage_dir


def finished(run, days_ago: float, now: dt.datetime) -> SyncRun:
    """The run as if it had finished ``days_ago`` days before ``now``."""
    SyncRun.update(finished_at=now - days_ago * DAY).where(SyncRun.id == run.id).execute()
    return SyncRun.get_by_id(run.id)


def changes(run) -> int:
    return RunChange.select().where(RunChange.run_id == run.id).count()


def issues(run) -> int:
    return RunIssue.select().where(RunIssue.run == run.id).count()


def renaming_nights(district, tmp_path) -> list[SyncRun]:
    """A first load, then three nights each renaming a student (an update, whose
    before-value is a name) and sending an enrollment with a bad role (an issue)."""
    files = small_district(6)
    runs = [sync(district, tmp_path, files, "night-0")]
    for night, name in enumerate(["Ann", "Bea", "Cy"], start=1):
        files["users"][1]["givenName"] = name
        files["enrollments"].append(dict(sourcedId=f"bad-{night}", classSourcedId="cls-1",
                                         schoolSourcedId="sch-1", userSourcedId="stu-1",
                                         role="janitor"))
        runs.append(sync(district, tmp_path, files, f"night-{night}"))
        files["enrollments"].pop()
    assert [r.status for r in runs] == ["applied"] * 4
    return runs


def test_run_details_go_after_their_window_and_such_runs_can_no_longer_be_undone(
        app, tmp_path, runner, client):
    north = add_district("north", "North District", plan="prime", rostering=True)
    now = utcnow()
    first, old, middle, last = renaming_nights(north, tmp_path)
    assert changes(old) == changes(middle) == changes(last) == 1
    assert "Student1" in RunChange.get(RunChange.run_id == old.id).before  # a name, kept
    first, old, middle = (finished(first, 120, now), finished(old, 100, now),
                          finished(middle, 60, now))
    kept_issues = issues(middle)
    assert kept_issues and issues(old)

    report = clean_up(storage(app), now=now).to_dict()
    assert report["runsCleaned"] == 2 and report["changesDeleted"] == 1
    assert (changes(old), issues(old)) == (0, 0)
    assert (changes(middle), issues(middle), changes(last)) == (1, kept_issues, 1)
    assert SyncRun.get_by_id(old.id).status == "applied"  # the run itself is still listed
    assert clean_up(storage(app), now=now).runs_cleaned == 0  # nothing more to do today

    refused = runner.invoke(cli, ["run", "undo", str(old.id)])
    assert refused.exit_code == 1
    assert f"Run {old.id} can no longer be undone" in refused.output
    assert "AL_ROSTER_RUN_DETAIL_DAYS" in refused.output
    staff = account(north, "teacher", "tch-1", is_staff=True)
    sign_in(client, staff)
    shown = client.get(f"/roster/api/admin/runs/{old.id}").get_json()
    assert shown["actions"] == [] and "can no longer be undone" in shown["retentionNote"]
    page = client.get(f"/roster/admin/runs/{old.id}").text
    assert "can no longer be undone" in page and "Undo this run" not in page
    posted = client.post(f"/roster/api/admin/runs/{old.id}/undo", headers={"X-CSRF-Token": CSRF})
    assert posted.status_code == 409 and "can no longer be undone" in posted.get_json()["error"]
    assert client.get(f"/roster/api/admin/runs/{last.id}").get_json()["actions"] == ["undo"]

    # a month later the middle run's details go too; the last night's stay
    later = clean_up(storage(app), now=now + 31 * DAY)
    assert later.runs_cleaned == 1 and (changes(middle), issues(middle)) == (0, 0)
    assert changes(last) == 1
    # a run past the window is refused even before a clean-up removed anything
    assert "more than 90 days ago" in runner.invoke(
        cli, ["run", "undo", str(finished(last, 95, now).id)]).output
    assert changes(last) == 1


def test_a_recent_run_is_undone_as_before(app, tmp_path):
    north = add_district("north", "North District")
    *_, last = renaming_nights(north, tmp_path)
    clean_up(storage(app))
    assert undo_run(last, app.extensions["al_roster"].sync_options).status == "undone"


def test_kept_packages_and_processed_drop_files_go_after_their_window(app, tmp_path, client):
    north, south, files, _ = two_districts(tmp_path)
    holding_whole_runs(north)
    now = utcnow()
    dropped, _ = half_dropped(files)
    old_held = finished(sync(north, tmp_path, dropped, "held-1"), 31, now)
    new_held = finished(sync(north, tmp_path, dropped, "held-2"), 29, now)
    assert os.path.exists(old_held.package_path) and os.path.exists(new_held.package_path)
    packages = storage(app) / "packages"
    stray_old, stray_new = packages / "run-999.zip", packages / "left-over.zip"
    for path, days in ((stray_old, 40), (stray_new, 1)):
        path.write_bytes(b"PK")
        os.utime(path, (time.time() - days * 86400,) * 2)

    drop = tmp_path / "drop"
    (drop / "processed" / "a-folder").mkdir(parents=True)
    sources.set_csv_drop(north, drop)
    processed = drop / "processed"
    outside = tmp_path / "not-ours.zip"
    outside.write_bytes(b"someone else's")
    os.symlink(outside, processed / "link.zip")
    for name, days in (("3-old.zip", 31), ("superseded-by-3-older.zip", 45), ("4-new.zip", 29)):
        (processed / name).write_bytes(b"PK" + name.encode())
        os.utime(processed / name, (time.time() - days * 86400,) * 2)
    waiting = drop / "tonight.zip"
    waiting.write_bytes(b"PK")
    os.utime(waiting, (time.time() - 40 * 86400,) * 2)

    report = clean_up(storage(app), now=now)
    assert report.packages_deleted == 2 and report.drop_files_deleted == 2
    assert not os.path.exists(old_held.package_path) and os.path.exists(new_held.package_path)
    assert not stray_old.exists() and stray_new.exists()
    assert SyncRun.get_by_id(old_held.id).package_path is None
    assert sorted(p.name for p in processed.iterdir()) == ["4-new.zip", "a-folder", "link.zip"]
    assert outside.read_bytes() == b"someone else's" and waiting.exists()  # not processed yet
    with pytest.raises(RunStateError, match="no longer kept"):
        approve_run(SyncRun.get_by_id(old_held.id), app.extensions["al_roster"].sync_options)
    assert SyncRun.get_by_id(old_held.id).status == "held"  # it can still be rejected
    sign_in(client, account(south, "teacher", "tch-1", is_staff=True))
    shown = client.get(f"/roster/api/admin/runs/{old_held.id}").get_json()
    assert shown["actions"] == ["reject"] and "AL_ROSTER_PACKAGE_DAYS" in shown["retentionNote"]
    assert client.get(f"/roster/api/admin/runs/{new_held.id}").get_json()["actions"] == [
        "approve", "reject"]

    two_days_later = clean_up(storage(app), now=now + 2 * DAY)
    assert two_days_later.packages_deleted == 1 and two_days_later.drop_files_deleted == 1
    assert not (processed / "4-new.zip").exists()


def test_removed_people_lose_their_personal_fields_but_why_and_restore_still_work(
        app, tmp_path, runner):
    north = add_district("north", "North District", plan="prime", rostering=True)
    files = small_district(10)
    files["users"][6].update(email="stu6@example.org", identifier="ID-6", phone="555-0106",
                             middleName="Middle", userIds="{LDAP:6}", agentSourcedIds="stu-7")
    sync(north, tmp_path, files, "n1")
    leaving = files["users"][6]["sourcedId"]  # stu-6
    smaller = {**files, "users": [u for u in files["users"] if u["sourcedId"] != leaving],
               "enrollments": [e for e in files["enrollments"] if e["userSourcedId"] != leaving]}
    removal = sync(north, tmp_path, smaller, "n2")
    assert removal.status == "applied"
    now = utcnow() + 91 * DAY  # the clock moved forward
    # run details kept a year, longer than tombstones' personal fields (90 days)
    app.config["AL_ROSTER_RUN_DETAIL_DAYS"] = 365
    settings = Retention.from_config(app.config)

    report = clean_up(storage(app), settings, now=now)
    assert report.tombstones_blanked == 1
    gone = RosterUser.get((RosterUser.district_id == north.id) & (RosterUser.sourced_id == leaving))
    assert (gone.given_name, gone.family_name, gone.middle_name, gone.username, gone.email,
            gone.identifier, gone.phone, gone.user_ids, gone.agent_sourced_ids) == (None,) * 9
    assert (gone.role, gone.org_sourced_ids, gone.removed_run_id) == ("student", "sch-1",
                                                                      removal.id)
    assert gone.row_hash == 0
    present = RosterUser.get((RosterUser.district_id == north.id)
                             & (RosterUser.sourced_id == "stu-5"))
    assert present.given_name == "Student5" and present.username == "stu5"
    assert clean_up(storage(app), settings, now=now).tombstones_blanked == 0

    why = diagnostics.why_not_in_class(north, leaving, "cls-1")
    assert why["reason"] == "user_removed" and why["run"] == removal.id
    assert f"run {removal.id}" in why["answer"] and leaving in why["answer"]
    assert diagnostics.person_detail(north, leaving)["record"]["removedBy"]["run"] == removal.id
    cli_why = runner.invoke(cli, ["why", leaving, "cls-1", "--district", "north"])
    assert "was removed from the roster" in cli_why.output

    refused = runner.invoke(cli, ["run", "undo", str(removal.id)])
    assert refused.exit_code == 1 and "personal fields" in refused.output
    assert "AL_ROSTER_TOMBSTONE_DAYS" in refused.output

    back = sync(north, tmp_path, files, "n3")  # the student comes back
    assert back.counts["users"]["restored"] == 1 and back.counts["users"]["updated"] == 0
    restored = RosterUser.get_by_id(gone.id)
    assert (restored.given_name, restored.email, restored.identifier, restored.phone,
            restored.removed_run_id) == ("Student6", "stu6@example.org", "ID-6", "555-0106",
                                         None)
    assert restored.row_hash != 0
    # the same people in another order: every row is read and compared again by its hash
    again = sync(north, tmp_path, {**files, "users": files["users"][::-1]}, "n4")
    assert again.counts["users"]["identical_to"] is None
    assert again.message == "Applied: nothing changed."  # the hash is the file's again


def test_tombstones_are_blanked_only_after_their_own_window(app, tmp_path):
    north = add_district("north", "North District")
    files = small_district(10)
    sync(north, tmp_path, files, "n1")
    sync(north, tmp_path, {**files, "users": files["users"][:-1]}, "n2")
    now = utcnow() + 89 * DAY
    assert clean_up(storage(app), now=now).tombstones_blanked == 0
    assert RosterUser.get(RosterUser.sourced_id == "stu-10").given_name == "Student10"
    assert clean_up(storage(app), now=now + 2 * DAY).tombstones_blanked == 1
    assert RosterUser.get(RosterUser.sourced_id == "stu-10").given_name is None


def test_teachers_questions_go_after_the_run_detail_window(app, tmp_path):
    from al_roster.models import Account, ImportedClass
    from al_roster.models.questions import TeacherQuestion
    north = add_district("north", "North District")
    teacher = Account.create(district=north, sourced_id="tch-1", role="teacher")
    algebra = ImportedClass.create(district=north, sourced_id="cls-1", title="Algebra")
    now = utcnow()
    for reference, days_ago in (("Q-OLD", 91), ("Q-NEW", 10)):
        TeacherQuestion.create(reference=reference, district=north, imported_class=algebra,
                               teacher=teacher, query="Ana Diaz", answer="not_in_roster",
                               asked_at=now - days_ago * DAY)
    assert clean_up(storage(app), now=now).questions_deleted == 1
    assert [q.reference for q in TeacherQuestion.select()] == ["Q-NEW"]


def test_batches_are_small_and_a_busy_district_waits_for_the_next_clean_up(app, tmp_path):
    north, south, _, _ = two_districts(tmp_path)
    now = utcnow()
    for district in (north, south):
        for run in SyncRun.select().where(SyncRun.district == district):
            for n in range(7):
                RunChange.create(run_id=run.id, entity="users", row_id=n, sourced_id=f"u{n}",
                                 kind="updated", before='{"given_name": "X"}')
            finished(run, 120, now)
    options = app.extensions["al_roster"].sync_options
    taken, release = threading.Event(), threading.Event()

    def syncing_south():
        with app.app_context():
            lock = DistrictLock(database.obj, south.id, options.lock_dir)
            assert lock.try_acquire()
            taken.set()
            release.wait(30)
            lock.release()
            database.obj.close()

    holder = threading.Thread(target=syncing_south)
    holder.start()
    assert taken.wait(10)
    try:
        report = clean_up(storage(app), now=now, batch=3)
    finally:
        release.set()
        holder.join(10)
    assert report.busy == ["south"] and report.changes_deleted == 7
    assert report.batches.batches >= 3 and report.batches.longest < 5
    south_runs = [r.id for r in SyncRun.select().where(SyncRun.district == south)]
    assert RunChange.select().where(RunChange.run_id.in_(south_runs)).count() == 7
    assert clean_up(storage(app), now=now).changes_deleted == 7  # the next night


def test_cleanup_command_cron_job_and_settings(app, tmp_path, runner):
    north = add_district("north", "North District")
    sync(north, tmp_path, small_district(3), "n1")
    result = runner.invoke(cli, ["cleanup", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["runsCleaned"] == 0
    plain = runner.invoke(cli, ["cleanup"])
    assert "Run details of 0 runs deleted" in plain.output
    assert jobs.clean_up()["busyDistricts"] == []  # what rq cron runs nightly
    app.config["AL_ROSTER_RUN_DETAIL_DAYS"] = 0
    with pytest.raises(ConfigurationError, match="AL_ROSTER_RUN_DETAIL_DAYS"):
        Retention.from_config(app.config)
    assert runner.invoke(cli, ["cleanup"]).exit_code == 1
    app.config["AL_ROSTER_RUN_DETAIL_DAYS"] = 7
    assert Retention.from_config(app.config).run_detail_days == 7
