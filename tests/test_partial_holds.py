"""Holding only what is risky: a run applies what is safe and holds the removals (or mass
updates) of the school, term or entity that tripped a guard, on SQLite and PostgreSQL."""
from __future__ import annotations

import copy

import pytest
from packages import write_package
from rosters import account_for
from school_rosters import schools_district, with_new_students, without_school, without_students

from al_roster.models import Course, Enrollment, Membership, Org, RosterClass, RosterUser, RunChange, SyncRun
from al_roster.models.runs import APPLIED, HELD, PARTIAL, UNDONE
from al_roster.services.class_import import import_classes
from al_roster.services.districts import OPERATOR, DistrictChanges, add_district, update_district
from al_roster.services.provisioning import sign_in_roster_user
from al_roster.sync.review import approve_run, reject_run, undo_run
from al_roster.sync.runner import sync_package


@pytest.fixture
def spread(app, tmp_path):
    district = add_district("spread", "Spread District", plan="prime", rostering=True)
    options = app.extensions["al_roster"].sync_options
    steps = iter(range(100))

    def sync(files, modes=None):
        package = write_package(tmp_path / f"p{next(steps)}", files, modes=modes)
        return sync_package(district, package, options)

    files = schools_district()
    assert sync(files).status == APPLIED
    return district, sync, files, options


def present(model, district, **where):
    query = model.select().where((model.district_id == district.id)
                                 & model.removed_run_id.is_null())
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    return query.count()


def held(run, kind="held_removal", entity=None):
    query = RunChange.select().where((RunChange.run_id == run.id) & (RunChange.kind == kind))
    if entity:
        query = query.where(RunChange.entity == entity)
    return query.count()


def dropped_school_with_arrivals(spread):
    district, sync, files, options = spread
    teacher = account_for(district, "tch-2", "teacher")
    import_classes(teacher, ["cls-2-fall"])
    run = sync(with_new_students(without_school(files, "sch-1"), "sch-2", 3))
    return run


def test_a_dropped_school_is_held_while_its_new_students_apply(spread):
    district = spread[0]
    run = dropped_school_with_arrivals(spread)
    assert run.status == PARTIAL
    assert "School 1 High: 22 of 22 enrollments would be removed" in run.message
    assert present(RosterUser, district, sourced_id="new-sch-2-1") == 1
    sign_in_roster_user(district, "new-sch-2-1", via="sso")
    assert Membership.select().where((Membership.user_sourced_id == "new-sch-2-1")
                                     & Membership.removed_at.is_null()).count() == 1
    # The school's copy is as it was; only its removals wait.
    assert present(Enrollment, district, school_sourced_id="sch-1") == 22
    assert present(RosterClass, district, school_sourced_id="sch-1") == 2
    assert present(RosterUser, district, org_sourced_ids="sch-1") == 11
    assert present(Org, district, sourced_id="sch-1") == 1  # its org and course wait too
    assert present(Course, district, org_sourced_id="sch-1") == 1
    assert held(run, entity="enrollments") == 22 and held(run, entity="classes") == 2
    assert run.counts["enrollments"]["held_removals"] == 22
    assert run.counts["enrollments"]["created"] == 3


def test_approving_applies_the_held_removals_and_undo_puts_both_parts_back(spread):
    district, options = spread[0], spread[3]
    run = dropped_school_with_arrivals(spread)
    approved = approve_run(SyncRun.get_by_id(run.id), options, by="support")
    assert approved.status == APPLIED
    assert present(Enrollment, district, school_sourced_id="sch-1") == 0
    assert present(RosterClass, district, school_sourced_id="sch-1") == 0
    assert present(RosterUser, district, sourced_id="new-sch-2-1") == 1
    undo_run(SyncRun.get_by_id(run.id), options, by="support")
    assert present(Enrollment, district, school_sourced_id="sch-1") == 22
    assert present(RosterUser, district, sourced_id="new-sch-2-1") == 0


def test_rejecting_discards_the_held_removals_and_keeps_what_applied(spread):
    district = spread[0]
    run = dropped_school_with_arrivals(spread)
    rejected = reject_run(SyncRun.get_by_id(run.id), by="support")
    assert rejected.status == APPLIED
    assert "rejected" in rejected.message.lower()
    assert present(Enrollment, district, school_sourced_id="sch-1") == 22
    assert present(RosterUser, district, sourced_id="new-sch-2-1") == 1
    assert held(run) == 0


def test_undoing_a_partly_held_run_undoes_the_applied_part(spread):
    district, options = spread[0], spread[3]
    run = dropped_school_with_arrivals(spread)
    undone = undo_run(SyncRun.get_by_id(run.id), options, by="support")
    assert undone.status == UNDONE
    assert present(RosterUser, district, sourced_id="new-sch-2-1") == 0
    assert present(Enrollment, district, school_sourced_id="sch-1") == 22


def test_a_district_that_holds_whole_runs_holds_the_new_students_too(spread):
    district, sync, files, _ = spread
    update_district(district, DistrictChanges(hold_whole_runs=True), by=OPERATOR)
    run = sync(with_new_students(without_school(files, "sch-1"), "sch-2", 3))
    assert run.status == HELD
    assert present(RosterUser, district, sourced_id="new-sch-2-1") == 0


def test_a_term_losing_its_classes_is_held(app, tmp_path):
    district = add_district("terms", "Terms", plan="prime", rostering=True)
    options = app.extensions["al_roster"].sync_options
    files = schools_district()
    files["academicSessions"].append(dict(sourcedId="summer", title="Summer 2028",
                                          type="term", startDate="2020-06-01",
                                          endDate="2099-08-01", schoolYear="2027"))
    for s in (1, 2, 3, 4):
        files["classes"].append(dict(sourcedId=f"cls-{s}-summer", title=f"Summer {s}",
                                     courseSourcedId=f"crs-{s}", classType="scheduled",
                                     schoolSourcedId=f"sch-{s}", termSourcedIds="summer"))
        files["enrollments"] += [dict(sourcedId=f"enr-sum-{s}-{i}",
                                      classSourcedId=f"cls-{s}-summer",
                                      schoolSourcedId=f"sch-{s}", userSourcedId=f"stu-{s}-{i}",
                                      role="student") for i in range(1, 6)]
    sync_package(district, write_package(tmp_path / "a", files), options)
    no_summer = copy.deepcopy(files)
    no_summer["classes"] = [c for c in files["classes"] if c["termSourcedIds"] != "summer"]
    no_summer["enrollments"] = [e for e in files["enrollments"]
                                if not e["classSourcedId"].endswith("summer")]
    run = sync_package(district, write_package(tmp_path / "b", no_summer), options)
    assert run.status == PARTIAL
    assert "Summer 2028: 20 of 20 enrollments would be removed" in run.message
    assert present(Enrollment, district, class_sourced_id="cls-1-summer") == 5


def test_a_spread_out_two_percent_loss_is_not_held(spread):
    district, sync, files, _ = spread
    gone = {f"stu-{s}-1" for s in range(1, 9)}  # one student in each of eight schools
    run = sync(without_students(files, gone))
    assert run.status == APPLIED
    assert present(RosterUser, district, sourced_id="stu-1-1") == 0


def test_a_delta_removing_every_user_is_held(spread):
    district, sync = spread[0], spread[1]
    users = [dict(u, status="tobedeleted") for u in schools_district()["users"]]
    for user in users:
        user["dateLastModified"] = "2027-01-01T00:00:00Z"
    run = sync({"users": users}, modes={"users": "delta"})
    assert run.status == PARTIAL
    assert "440 of 440 users" in run.message
    assert present(RosterUser, district) == 440


def test_swapped_name_columns_are_held_as_a_mass_update(spread):
    district, sync, files, options = spread
    swapped = copy.deepcopy(files)
    for user in swapped["users"]:
        user["givenName"], user["familyName"] = user["familyName"], user["givenName"]
    run = sync(swapped)
    assert run.status == PARTIAL
    assert "givenName changed on 440 of 440 users" in run.message
    assert "familyName changed on 440 of 440 users" in run.message
    assert RosterUser.get(RosterUser.sourced_id == "stu-1-1").given_name == "Given1x1"
    assert held(run, "held_update", "users") == 440
    approve_run(SyncRun.get_by_id(run.id), options, by="support")
    assert RosterUser.get(RosterUser.sourced_id == "stu-1-1").given_name == "Family1x1"


def test_grace_keeps_a_record_missing_once_and_removes_it_when_missing_again(spread):
    district, sync, files, _ = spread
    update_district(district, DistrictChanges(removal_grace_runs=2), by=OPERATOR)
    gone = {"stu-1-1"}
    first = sync(without_students(files, gone))
    assert first.status == APPLIED
    user = RosterUser.get(RosterUser.sourced_id == "stu-1-1")
    assert user.removed_run_id is None and user.missing_since_run_id == first.id
    sync(files)  # back: nothing was lost
    user = RosterUser.get(RosterUser.sourced_id == "stu-1-1")
    assert user.removed_run_id is None and user.missing_since_run_id is None
    assert present(Enrollment, district, user_sourced_id="stu-1-1") == 2
    sync(without_students(files, gone))
    third = sync(without_students(files, gone))
    assert RosterUser.get(RosterUser.sourced_id == "stu-1-1").removed_run_id == third.id


def test_likely_causes_name_the_school_first(spread):
    run = dropped_school_with_arrivals(spread)
    cause = run.message.split("Likely cause:", 1)[1]
    assert cause.strip().startswith("The removals concentrate in School 1 High")


def test_the_mail_of_a_partly_held_run_tells_both_parts(spread, app):
    from al_roster.services.notifications import NOTIFY_STATUSES, compose
    run = dropped_school_with_arrivals(spread)
    assert run.status in NOTIFY_STATUSES
    mail = compose(SyncRun.get_by_id(run.id), app.config, ["it@example.org"])
    assert "removals are waiting for review" in mail["Subject"]
    body = mail.get_content()
    assert "new students can sign in" in body and "School 1 High: 22 of 22" in body


def test_grace_shows_missing_since_in_why_and_the_console(spread, client):
    from admin_helpers import account, sign_in

    from al_roster.services.diagnostics import why_not_in_class
    district, sync, files, _ = spread
    update_district(district, DistrictChanges(removal_grace_runs=3), by=OPERATOR)
    first = sync(without_students(files, {"stu-1-1"}))
    why = why_not_in_class(district, "stu-1-1", "cls-1-fall")
    assert f"missing from users.csv since run {first.id}" in why["answer"]
    sign_in(client, account(district, "teacher", "tch-2", is_staff=True))
    page = client.get("/roster/admin/people/spread/stu-1-1").get_data(as_text=True)
    assert f"Missing since run {first.id}" in page


def test_the_guard_settings_are_set_from_the_command_line_and_the_console(spread, client):
    from admin_helpers import CSRF, account, sign_in

    from al_roster.cli import cli
    from al_roster.models import District
    district = spread[0]
    result = client.application.test_cli_runner().invoke(cli, [
        "district", "set", "spread", "--scope-threshold", "0.3", "--update-threshold", "0.6",
        "--hold-whole-runs", "--removal-grace", "2"])
    assert result.exit_code == 0, result.output
    assert "a school or term 30%" in result.output and "removal grace 2" in result.output
    saved = District.get_by_id(district.id)
    assert (saved.scope_threshold, saved.update_threshold, saved.hold_whole_runs,
            saved.removal_grace_runs) == (0.3, 0.6, True, 2)
    sign_in(client, account(district, "teacher", "tch-2", is_staff=True))
    answer = client.post("/roster/api/admin/districts", headers={"X-CSRF-Token": CSRF}, json={
        "slug": "spread", "scopeThreshold": "0.2", "holdWholeRuns": False,
        "removalGraceRuns": 0}).get_json()
    assert answer["scopeThreshold"] == 0.2 and answer["holdWholeRuns"] is False
    assert answer["removalGraceRuns"] == 0
