"""Roster events: each action writes exactly the events it should (kinds, order, payload), and
each event's signal reaches a connected receiver once, after the commit (SQLite and PostgreSQL).
"""
from __future__ import annotations

import datetime as dt
import logging

import pytest
from event_helpers import TODAY, feed, last_id, north_school, receiving
from rosters import account_for, school
from test_reconcile import enrol, remove_class, rename_class, restore_base, unenrol

from al_roster.models import Account, ImportedClass, RosterEvent, SyncRun
from al_roster.services.class_import import import_classes
from al_roster.services.provisioning import sign_in_roster_user
from al_roster.signals import member_added
from al_roster.sync.review import approve_run, undo_run

STUDENT, TEACHER = {"role": "student"}, {"role": "teacher"}


@pytest.fixture
def north(app, tmp_path):
    return north_school(app, tmp_path)


def run_events(run) -> list[tuple]:
    return [("run_applied", None, None, {"status": run.status,
                                         "counts": run.counts["reconciliation"]})]


def test_importing_a_class_writes_the_class_its_teacher_and_its_students(app, tmp_path, db_url):
    district, _ = north_school(app, tmp_path, imported=False)
    ada = Account.get(Account.sourced_id == "tch-1")
    cursor = last_id()
    with receiving(app, db_url) as received:
        import_classes(ada, ["cls-alg1"], today=TODAY)
    title = {"title": "Algebra I - Period 1"}
    assert feed(cursor) == [("class_imported", "cls-alg1", None, title),
                      ("member_added", "cls-alg1", "tch-1", TEACHER),
                      ("member_added", "cls-alg1", "stu-1", STUDENT),
                      ("member_added", "cls-alg1", "stu-2", STUDENT),
                      ("member_added", "cls-alg1", "stu-3", STUDENT)]
    events = list(RosterEvent.select().where(RosterEvent.id > cursor).order_by(RosterEvent.id))
    klass = ImportedClass.get(ImportedClass.sourced_id == "cls-alg1")
    assert {e.imported_class_id for e in events} == {klass.id}
    assert {e.district_id for e in events} == {district.id}
    assert len({e.request_id for e in events}) == 1 and events[0].request_id
    stu1 = Account.get(Account.sourced_id == "stu-1")
    assert [e.account_id for e in events] == [None, ada.id, stu1.id, None, None]
    # Each signal once, in order, after the commit, with the person's account.
    assert received.items == [(e.kind, e.id, True, e.account_id) for e in events]
    with receiving(app, db_url) as again:
        import_classes(ada, ["cls-alg1"], today=TODAY)  # importing again changes nothing
    assert again.items == [] and len(feed(cursor)) == 5


def test_a_co_teacher_importing_joins_the_class_only(app, tmp_path, db_url):
    north_school(app, tmp_path, imported=False)
    ada, grace = (Account.get(Account.sourced_id == s) for s in ("tch-1", "tch-2"))
    import_classes(ada, ["cls-co"], today=TODAY)
    cursor = last_id()
    with receiving(app, db_url) as received:
        import_classes(grace, ["cls-co"], today=TODAY)
    assert feed(cursor) == [("member_added", "cls-co", "tch-2", TEACHER)]
    assert received.kinds() == ["member_added"]


CASES = [  # what the district changes, the events of the night (before run_applied)
    ("a new student", [enrol("cls-alg1", "stu-9")],
     [("member_added", "cls-alg1", "stu-9", STUDENT)]),
    ("a dropped student", [unenrol("cls-alg1", "stu-2")],
     [("member_removed", "cls-alg1", "stu-2", STUDENT)]),
    ("a co-teacher dropped", [unenrol("cls-co", "tch-1")],
     [("member_removed", "cls-co", "tch-1", TEACHER)]),
    ("a class removed", [remove_class("cls-alg1")],
     [("class_archived", "cls-alg1", None, {"title": "Algebra I - Period 1"})]),
    ("a class renamed", [rename_class("cls-alg1", "Algebra <b>\"Honors\"</b>")],
     [("class_renamed", "cls-alg1", None, {"before": {"title": "Algebra I - Period 1"},
                                           "after": {"title": "Algebra <b>\"Honors\"</b>"}})]),
    ("nothing", [], []),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_nightly_sync_writes_its_changes_then_run_applied(north, app, db_url, change,
                                                            expected):
    district, sync = north
    files = school(TODAY)
    for each in change:
        each(files)
    cursor = last_id()
    with receiving(app, db_url) as received:
        run = sync(files)
    assert run.status == "applied"
    assert feed(cursor) == expected + run_events(run)
    events = list(RosterEvent.select().where(RosterEvent.id > cursor).order_by(RosterEvent.id))
    assert {e.run_id for e in events} == {run.id}
    assert received.items == [(e.kind, e.id, True, e.account_id) for e in events]


def test_a_returning_student_and_class_are_restored(north, app, db_url):
    district, sync = north
    files = school(TODAY)
    unenrol("cls-alg1", "stu-2")(files)
    remove_class("cls-co")(files)
    sync(files)
    cursor = last_id()
    restore_base()(files)
    with receiving(app, db_url) as received:
        run = sync(files)
    assert received.kinds() == ["class_restored", "member_restored", "run_applied"]
    assert feed(cursor) == [
        ("class_restored", "cls-co", None, {"title": "Geometry - Period 5"}),
        ("member_restored", "cls-alg1", "stu-2", STUDENT),
    ] + run_events(run)


def test_an_undo_writes_the_events_that_reverse_the_run(north, app, db_url):
    district, sync = north
    files = school(TODAY)
    enrol("cls-alg1", "stu-9")(files)
    unenrol("cls-alg1", "stu-2")(files)
    rename_class("cls-co", "Geometry Honors")(files)
    run = sync(files)
    cursor = last_id()
    with receiving(app, db_url) as received:
        undo_run(run, app.extensions["al_roster"].sync_options, by="test")
    undone = RosterEvent.select().where(RosterEvent.id > cursor).order_by(RosterEvent.id)
    assert feed(cursor)[-1][0] == "run_undone"
    assert sorted(feed(cursor)[:-1], key=repr) == sorted([
        ("member_removed", "cls-alg1", "stu-9", STUDENT),
        ("member_restored", "cls-alg1", "stu-2", STUDENT),
        ("class_renamed", "cls-co", None, {"before": {"title": "Geometry Honors"},
                                           "after": {"title": "Geometry - Period 5"}}),
    ], key=repr)
    assert {e.run_id for e in undone} == {run.id}
    assert received.kinds() == [e[0] for e in feed(cursor)]


def test_a_first_sign_in_writes_account_created(north, app, db_url):
    district, _ = north
    cursor = last_id()
    with receiving(app, db_url) as received:
        account = sign_in_roster_user(district, "stu-2", classlink_user_id="9002", via="lti")
        sign_in_roster_user(district, "stu-2", classlink_user_id="9002", via="sso")  # not again
    assert feed(cursor) == [("account_created", None, "stu-2", {"via": "lti"})]
    assert received.items == [("account_created", last_id(), True, account.id)]


def test_making_a_roster_person_a_district_admin_writes_account_created(north, app, db_url):
    """grant-admin may create the account of someone who never signed in: the host hears of
    it as of any new account, and granting again writes nothing."""
    from al_roster.services.access import grant_district_admin
    district, _ = north
    cursor = last_id()
    with receiving(app, db_url) as received:
        account = grant_district_admin(district, "aid-1")
        grant_district_admin(district, "aid-1")
    assert account.district_admin
    assert feed(cursor) == [("account_created", None, "aid-1", {"via": "grant-admin"})]
    assert received.items == [("account_created", last_id(), True, account.id)]


def test_account_created_still_carries_via(north, app):
    district, _ = north
    from al_roster.signals import account_created
    seen = []

    def on_created(sender, account, via, **extra):
        seen.append((sender, account.sourced_id, via, extra["event"].kind))

    with account_created.connected_to(on_created, app):
        sign_in_roster_user(district, "stu-3", via="sso")
    assert seen == [(app, "stu-3", "sso", "account_created")]


def test_a_changed_sourced_id_writes_account_relinked(north, app, db_url):
    district, sync = north
    account = sign_in_roster_user(district, "stu-2", classlink_user_id="9002", via="sso")
    files = school(TODAY)
    for row in files["users"]:
        if row["sourcedId"] == "stu-2":
            row["sourcedId"] = "stu-2b"
    for row in files["enrollments"]:
        if row["userSourcedId"] == "stu-2":
            row["userSourcedId"] = "stu-2b"
    sync(files)
    cursor = last_id()
    with receiving(app, db_url) as received:
        sign_in_roster_user(district, "stu-2b", classlink_user_id="9002", via="sso")
    relinked = [e for e in feed(cursor) if e[0] == "account_relinked"]
    assert relinked == [("account_relinked", None, "stu-2b",
                         {"before": {"sourcedId": "stu-2"}, "after": {"sourcedId": "stu-2b"}})]
    assert [(k, a) for k, _, _, a in received.items
            if k == "account_relinked"] == [("account_relinked", account.id)]


def test_placing_a_student_at_sign_in_writes_member_events(north, app, db_url):
    district, sync = north
    files = school(TODAY)
    later = TODAY + dt.timedelta(days=365)
    enrol("cls-alg1", "stu-7", beginDate=later.isoformat())(files)
    sync(files)  # not begun: not added by the night
    account = account_for(district, "stu-7", "student")
    cursor = last_id()
    from al_roster.services.provisioning import place_student_in_classes
    with receiving(app, db_url) as received:
        place_student_in_classes(account, today=later)
    assert feed(cursor) == [("member_added", "cls-alg1", "stu-7", STUDENT)]
    assert received.items == [("member_added", last_id(), True, account.id)]


def test_a_receiver_that_raises_is_logged_and_changes_nothing(north, app, db_url, caplog):
    district, sync = north
    files = school(TODAY)
    enrol("cls-alg1", "stu-8")(files)
    enrol("cls-alg1", "stu-9")(files)

    def broken(sender, event, **extra):
        raise RuntimeError("the host's gradebook is down")

    cursor = last_id()
    with caplog.at_level(logging.ERROR), receiving(app, db_url) as received, \
            member_added.connected_to(broken, app):
        run = sync(files)
    assert run.status == "applied"
    assert [k for k, *_ in feed(cursor)] == ["member_added", "member_added", "run_applied"]
    assert received.kinds() == ["member_added", "member_added", "run_applied"]
    failures = [r for r in caplog.records if r.exc_info and "gradebook" in str(r.exc_info[1])]
    assert len(failures) == 2


def test_approving_a_held_run_writes_its_events_then(north, app, db_url):
    district, sync = north
    district.hold_whole_runs, district.deletion_threshold = True, 0.01
    district.save()
    files = school(TODAY)
    enrol("cls-alg1", "stu-9")(files)
    unenrol("cls-alg1", "stu-2")(files)
    cursor = last_id()
    held = sync(files)
    assert held.status == "held" and feed(cursor) == []
    with receiving(app, db_url) as received:
        run = approve_run(held, app.extensions["al_roster"].sync_options, by="test")
    assert run.status == "applied"
    assert feed(cursor) == [("member_added", "cls-alg1", "stu-9", STUDENT),
                            ("member_removed", "cls-alg1", "stu-2", STUDENT)] + run_events(run)
    assert received.kinds() == [k for k, *_ in feed(cursor)]


def test_a_run_with_its_removals_held_writes_what_applied_and_the_rest_on_approval(
        north, app, db_url):
    district, sync = north
    district.deletion_threshold = 0.01  # removals trip the guard; the rest applies
    district.save()
    files = school(TODAY)
    enrol("cls-alg1", "stu-9")(files)
    unenrol("cls-alg1", "stu-2")(files)
    cursor = last_id()
    run = sync(files)
    assert run.status == "partial", run.message
    assert feed(cursor) == [("member_added", "cls-alg1", "stu-9", STUDENT)] + run_events(run)
    cursor = last_id()
    with receiving(app, db_url) as received:
        approve_run(run, app.extensions["al_roster"].sync_options, by="test")
    counts = SyncRun.get_by_id(run.id).counts["held_reconciliation"]
    assert feed(cursor) == [("member_removed", "cls-alg1", "stu-2", STUDENT),
                            ("run_applied", None, None,
                             {"status": "applied", "part": "held", "counts": counts})]
    assert received.kinds() == ["member_removed", "run_applied"]
    assert {e.run_id for e in RosterEvent.select().where(RosterEvent.id > cursor)} == {run.id}


def test_a_failure_announcing_committed_events_does_not_fail_the_sync(north, app, db_url,
                                                                      monkeypatch, caplog):
    district, sync = north
    files = school(TODAY)
    enrol("cls-alg1", "stu-9")(files)

    def database_gone(first, last):
        raise RuntimeError("connection lost after the commit")

    monkeypatch.setattr("al_roster.sync.events._announcers", [database_gone])
    cursor = last_id()
    with caplog.at_level(logging.ERROR):
        run = sync(files)
    assert run.status == "applied"
    assert [k for k, *_ in feed(cursor)] == ["member_added", "run_applied"]
    assert "committed but not announced" in caplog.text
