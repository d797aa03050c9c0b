"""Imported classes follow the SIS through real syncs: a table of what the district changes
and what teachers and students then see, on SQLite and PostgreSQL.

Every case starts from the same school (see ``rosters.py``): Ada imported Algebra I (three
students) and Geometry, which Grace co-teaches and imported too; Student1 has signed in.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
from packages import write_package
from rosters import account_for, school

from al_roster.demo.generator import generate_delta, generate_district
from al_roster.models import Account, Enrollment, ImportedClass, Membership, RosterClass, SyncRun
from al_roster.models.district import DEFAULT_TIMEZONE
from al_roster.models.runs import RUNNING
from al_roster.services.class_import import import_classes
from al_roster.services.class_rosters import rosters_of
from al_roster.services.districts import add_district
from al_roster.sync.reconcile import reconcile_imported_classes
from al_roster.sync.review import undo_run
from al_roster.sync.runner import sync_package

#: The districts' day (they keep the default time zone), whatever the server's date.
TODAY = dt.datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).date()
ACTIVE, REMOVED = "active", "removed"


# -- what a district changes in its SIS ---------------------------------------------------------

def enrol(class_id, user_id, role="student", **dates):
    def change(files):
        if not any(u["sourcedId"] == user_id for u in files["users"]):
            files["users"].append(dict(sourcedId=user_id, enabledUser="true", orgSourcedIds="sch-1",
                                       role=role, username=user_id, givenName="New",
                                       familyName="Arrival"))
        files["enrollments"].append(dict(
            sourcedId=f"enr-{class_id}-{user_id}", classSourcedId=class_id, schoolSourcedId="sch-1",
            userSourcedId=user_id, role=role, primary="false", **dates))
    return change


def unenrol(class_id, user_id):
    def change(files):
        files["enrollments"] = [e for e in files["enrollments"] if not (
            e["classSourcedId"] == class_id and e["userSourcedId"] == user_id)]
    return change


def end_enrollment(class_id, user_id, end):
    def change(files):
        for e in files["enrollments"]:
            if e["classSourcedId"] == class_id and e["userSourcedId"] == user_id:
                e["endDate"] = end.isoformat()
    return change


def remove_class(class_id):
    def change(files):
        files["classes"] = [c for c in files["classes"] if c["sourcedId"] != class_id]
        files["enrollments"] = [e for e in files["enrollments"] if e["classSourcedId"] != class_id]
    return change


def remove_user(user_id):
    def change(files):
        files["users"] = [u for u in files["users"] if u["sourcedId"] != user_id]
        files["enrollments"] = [e for e in files["enrollments"] if e["userSourcedId"] != user_id]
    return change


def rename_class(class_id, title):
    def change(files):
        next(c for c in files["classes"] if c["sourcedId"] == class_id)["title"] = title
    return change


def rename_user(user_id, given):
    def change(files):
        next(u for u in files["users"] if u["sourcedId"] == user_id)["givenName"] = given
    return change


def restore_base():
    def change(files):
        files.clear()
        files.update(school(TODAY))
    return change


# -- the table ---------------------------------------------------------------------------------

@dataclass
class Step:
    changes: list
    expect: dict  # class -> {"status"/"title"/"names"/user sourcedId: expected}
    counts: dict = field(default_factory=dict)  # the run's reconciliation counts


@dataclass
class Case:
    name: str
    steps: list[Step]


YESTERDAY, TOMORROW = TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1)

CASES = [
    Case("a newly enrolled student is added", [
        Step([enrol("cls-alg1", "stu-9")], {"cls-alg1": {"stu-9": ACTIVE, "stu-1": ACTIVE}},
             {"members_added": 1, "members_removed": 0})]),
    Case("an enrollment starting later is not added yet", [
        Step([enrol("cls-alg1", "stu-9", beginDate=TOMORROW.isoformat())],
             {"cls-alg1": {"stu-9": None}}, {"members_added": 0})]),
    Case("a dropped student is removed softly", [
        Step([unenrol("cls-alg1", "stu-2")], {"cls-alg1": {"stu-2": REMOVED, "stu-1": ACTIVE}},
             {"members_removed": 1})]),
    Case("a re-added student comes back to the same membership", [
        Step([unenrol("cls-alg1", "stu-2")], {"cls-alg1": {"stu-2": REMOVED}}),
        Step([restore_base()], {"cls-alg1": {"stu-2": ACTIVE}}, {"members_restored": 1})]),
    Case("an ended enrollment removes the student", [
        Step([end_enrollment("cls-alg1", "stu-3", YESTERDAY)], {"cls-alg1": {"stu-3": REMOVED}},
             {"members_removed": 1})]),
    Case("a student removed from the SIS leaves every class", [
        Step([remove_user("stu-1")], {"cls-alg1": {"stu-1": REMOVED}, "cls-co": {"stu-1": REMOVED}},
             {"members_removed": 2})]),
    Case("a class removed in the SIS is archived, then restored", [
        Step([remove_class("cls-alg1")],
             {"cls-alg1": {"status": "archived", "stu-1": ACTIVE, "tch-1": ACTIVE}},
             {"classes_archived": 1, "members_removed": 0}),
        Step([restore_base()], {"cls-alg1": {"status": "active", "stu-1": ACTIVE}},
             {"classes_restored": 1})]),
    Case("a teacher removed while another teacher remains loses the class", [
        Step([unenrol("cls-co", "tch-1")], {"cls-co": {"tch-1": REMOVED, "tch-2": ACTIVE}},
             {"members_removed": 1}),
        Step([restore_base()], {"cls-co": {"tch-1": ACTIVE}}, {"members_restored": 1})]),
    Case("the last teacher removed keeps the class", [
        Step([unenrol("cls-alg1", "tch-1")], {"cls-alg1": {"tch-1": ACTIVE, "stu-1": ACTIVE}},
             {"members_removed": 0})]),
    Case("a new teacher is not added until they import", [
        Step([enrol("cls-alg1", "tch-2", role="teacher")], {"cls-alg1": {"tch-2": None}},
             {"members_added": 0})]),
    Case("titles follow the SIS", [
        Step([rename_class("cls-alg1", "Algebra I Honors - Period 1")],
             {"cls-alg1": {"title": "Algebra I Honors - Period 1"}}, {"titles_updated": 1})]),
    Case("names follow the SIS", [
        Step([rename_user("stu-1", "Renamed")], {"cls-alg1": {"names": "Renamed Pupil"}},
             {"accounts_updated": 1})]),
]


@pytest.fixture
def setup(app, tmp_path):
    district = add_district("north", "North District", plan="prime", rostering=True,
                            deletion_threshold=1.0)
    options = app.extensions["al_roster"].sync_options
    steps = iter(range(100))

    def sync(files):
        return sync_package(district, write_package(tmp_path / f"p{next(steps)}", files), options)

    assert sync(school(TODAY)).status == "applied"
    ada, grace = account_for(district, "tch-1", "teacher"), account_for(district, "tch-2", "teacher")
    account_for(district, "stu-1", "student")
    import_classes(ada, ["cls-alg1", "cls-co"], today=TODAY)
    import_classes(grace, ["cls-co"], today=TODAY)
    return district, sync


def state() -> dict:
    """Each imported class's status, title, roster names and members by sourcedId."""
    seen = {}
    for klass in ImportedClass.select():
        members = {m.user_sourced_id: (REMOVED if m.removed_at else ACTIVE)
                   for m in Membership.select().where(Membership.imported_class == klass)}
        names = {p.name for r in rosters_of([klass]) for p in r.students}
        seen[klass.sourced_id] = {"status": klass.status, "title": klass.title, "names": names,
                                  **members}
    return seen


def membership_rows() -> dict:
    return {(m.imported_class_id, m.user_sourced_id): m.id for m in Membership.select()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_imported_classes_follow_the_sis(setup, case):
    district, sync = setup
    files = school(TODAY)
    rows_before = membership_rows()
    for number, step in enumerate(case.steps, 1):
        for change in step.changes:
            change(files)
        run = sync(files)
        assert run.status == "applied", run.message
        now = state()
        for class_id, expected in step.expect.items():
            for key, value in expected.items():
                got = now[class_id].get(key)
                if key == "names":
                    assert value in got, f"step {number}: {class_id} names {got}"
                else:
                    assert got == value, f"step {number}: {class_id} {key} is {got}, not {value}"
        reconciled = run.counts["reconciliation"]
        for key, value in step.counts.items():
            assert reconciled[key] == value, f"step {number}: {key} {reconciled}"
    # Work hangs off membership rows: none is ever deleted or replaced.
    rows_after = membership_rows()
    assert {k: rows_after.get(k) for k in rows_before} == rows_before


def test_names_follow_onto_accounts(setup):
    district, sync = setup
    files = school(TODAY)
    rename_user("stu-1", "Renamed")(files)
    sync(files)
    assert Account.get(Account.sourced_id == "stu-1").given_name == "Renamed"


def test_archived_class_is_left_as_it_was(setup):
    """An archived class is read-only: later roster changes do not touch its members."""
    district, sync = setup
    files = school(TODAY)
    remove_class("cls-alg1")(files)
    sync(files)
    remove_user("stu-2")(files)
    sync(files)
    assert state()["cls-alg1"]["stu-2"] == ACTIVE


def test_undo_of_a_sync_puts_the_class_back(setup, app):
    district, sync = setup
    files = school(TODAY)
    unenrol("cls-alg1", "stu-2")(files)
    run = sync(files)
    assert state()["cls-alg1"]["stu-2"] == REMOVED
    undo_run(run, app.extensions["al_roster"].sync_options)
    assert state()["cls-alg1"]["stu-2"] == ACTIVE


def test_nothing_changed_reconciles_nothing(setup):
    district, sync = setup
    run = sync(school(TODAY))
    assert set(run.counts["reconciliation"].values()) == {0}


def test_scoped_reconcile_leaves_other_classes_alone(setup, app):
    """An import reconciles its own classes only: another class's pending change waits."""
    district, _ = setup
    other = ImportedClass.get(ImportedClass.sourced_id == "cls-co")
    RosterClass.update(removed_run_id=999).where(RosterClass.sourced_id == "cls-alg1").execute()
    counts = reconcile_imported_classes(app.extensions["al_roster"].db, district.id, None,
                                        class_ids=[other.id], today=TODAY)
    assert counts["classes_archived"] == 0
    assert ImportedClass.get(ImportedClass.sourced_id == "cls-alg1").status == "active"
    assert reconcile_imported_classes(app.extensions["al_roster"].db, district.id, None,
                                      class_ids=[], today=TODAY)["classes_archived"] == 0
    assert ImportedClass.get(ImportedClass.sourced_id == "cls-alg1").status == "active"


def test_nightly_catches_enrollments_that_begin_or_end_without_a_change(setup, app):
    """A quiet night looks only at what changed, and at enrollments whose dates came."""
    district, sync = setup
    files = school(TODAY)
    end_enrollment("cls-alg1", "stu-3", TODAY + dt.timedelta(days=5))(files)
    enrol("cls-alg1", "stu-9", beginDate=(TODAY + dt.timedelta(days=5)).isoformat())(files)
    sync(files)
    assert state()["cls-alg1"]["stu-3"] == ACTIVE and "stu-9" not in state()["cls-alg1"]
    later = SyncRun.create(district=district, status=RUNNING)  # a sync with nothing to change
    counts = reconcile_imported_classes(app.extensions["al_roster"].db, district.id, later.id,
                                        today=TODAY + dt.timedelta(days=10))
    assert (counts["members_added"], counts["members_removed"]) == (1, 1)
    assert state()["cls-alg1"]["stu-3"] == REMOVED and state()["cls-alg1"]["stu-9"] == ACTIVE


def test_nightly_agrees_with_a_full_reconciliation(app, tmp_path):
    """After a generated day of schedule changes and renames, reconciling the whole district
    finds nothing the nightly's narrower look missed."""
    district = add_district("lake", "Lake", plan="prime", rostering=True, deletion_threshold=1.0)
    options = app.extensions["al_roster"].sync_options
    generate_district(tmp_path / "base", 400, seed=2, today=TODAY)
    assert sync_package(district, tmp_path / "base", options).status == "applied"
    for klass in RosterClass.select().order_by(RosterClass.id)[::2]:
        teacher = Enrollment.get((Enrollment.class_sourced_id == klass.sourced_id)
                                 & (Enrollment.role == "teacher"))
        account = (Account.get_or_none(Account.sourced_id == teacher.user_sourced_id)
                   or account_for(district, teacher.user_sourced_id, "teacher"))
        import_classes(account, [klass.sourced_id], today=TODAY)
    generate_delta(400, tmp_path / "delta", 300, seed=2, today=TODAY)
    nightly = sync_package(district, tmp_path / "delta", options)
    assert nightly.status == "applied"
    assert nightly.counts["reconciliation"]["members_added"] > 0
    assert nightly.counts["reconciliation"]["members_removed"] > 0
    full = reconcile_imported_classes(app.extensions["al_roster"].db, district.id, None,
                                      today=TODAY)
    assert set(full.values()) == {0}
