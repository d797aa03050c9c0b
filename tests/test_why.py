""""Why is student X not in class Y?": each answer, from the data that causes it."""
from __future__ import annotations

import datetime as dt

import pytest
from admin_helpers import account, sync, two_districts
from packages import small_district

from al_roster.models import ImportedClass, Membership
from al_roster.services.diagnostics import why_not_in_class


def imported(district, students, **extra):
    cls = ImportedClass.create(district=district, sourced_id="cls-1", title="Algebra I", **extra)
    for sid in students:
        Membership.create(imported_class=cls, district_id=district.id, user_sourced_id=sid,
                          role="student")
    return cls


def setup_removed_user(n, tmp_path):
    files = small_district(10)
    files["users"] = [u for u in files["users"] if u["sourcedId"] != "stu-2"]
    files["enrollments"] = [e for e in files["enrollments"] if e["userSourcedId"] != "stu-2"]
    return sync(n, tmp_path, files, "north-2")


def setup_removed_enrollment(n, tmp_path):
    files = small_district(10)
    files["enrollments"] = [e for e in files["enrollments"] if e["userSourcedId"] != "stu-2"]
    return sync(n, tmp_path, files, "north-2")


def setup_ended(n, tmp_path):
    files = small_district(10)
    for e in files["enrollments"]:
        if e["userSourcedId"] == "stu-2":
            e["endDate"] = "2020-01-31"
    return sync(n, tmp_path, files, "north-2")


def setup_membership_removed(n, tmp_path):
    cls = imported(n, ["stu-2"])
    Membership.update(removed_at=dt.datetime(2030, 1, 2), removed_run_id=7).where(
        Membership.imported_class == cls).execute()


CASES = [
    # (name, student, class, setup, reason, words in the answer)
    ("unknown", "nobody", "cls-1", None, "not_in_roster", ["is not in North District's roster"]),
    ("other district", "stu-1@south", "cls-1", "south", "different_district",
     ["another district (South District)"]),
    ("user removed", "stu-2", "cls-1", setup_removed_user, "user_removed",
     ["was removed from the roster by run {run}", "users.csv", "north-2"]),
    ("enrollment removed", "stu-2", "cls-1", setup_removed_enrollment, "enrollment_removed",
     ["enrollment in Algebra I (cls-1) (enr-2) was removed by run {run}", "enrollments.csv"]),
    ("enrollment ended", "stu-2", "cls-1", setup_ended, "enrollment_ended",
     ["ended on 2020-01-31"]),
    ("no enrollment", "tch-1", "cls-9", "other class", "no_enrollment", ["has no enrollment"]),
    ("unknown class", "stu-2", "Latin", None, "class_not_in_roster", ["no class 'Latin'"]),
    ("not imported", "stu2", "Algebra I", None, "class_not_imported",
     ["no teacher has imported"]),
    ("archived", "stu-2", "cls-1", lambda n, t: imported(n, ["stu-2"], status="archived"),
     "class_archived", ["archived"]),
    ("membership removed", "stu-2", "cls-1", setup_membership_removed, "membership_removed",
     ["taken out of the imported class", "run 7"]),
    ("not signed in", "stu-2", "cls-1", lambda n, t: imported(n, ["stu-2"]),
     "in_class_not_signed_in", ["has not signed in yet", "already on the class roster"]),
    ("in class", "stu-2", "cls-1", "signed in", "in_class", ["is in Algebra I (cls-1)"]),
]


@pytest.mark.parametrize("name, student, class_ref, setup, reason, words", CASES,
                         ids=[c[0] for c in CASES])
def test_why_answers(app, tmp_path, name, student, class_ref, setup, reason, words):
    north, south, files, first = two_districts(tmp_path)
    run = None
    if setup == "south":
        student = "stu3@example.org"  # an e-mail only South's roster has
        from al_roster.models import RosterUser
        RosterUser.update(email="stu3@example.org").where(
            (RosterUser.district_id == south.id) & (RosterUser.sourced_id == "stu-3")).execute()
    elif setup == "other class":
        extra = small_district(10)
        extra["classes"].append(dict(extra["classes"][0], sourcedId="cls-9", title="Latin II"))
        run = sync(north, tmp_path, extra, "north-2")
    elif setup == "signed in":
        imported(north, ["stu-2"])
        account(north, "student", "stu-2", last_login_at=dt.datetime(2030, 5, 1))
    elif setup is not None:
        run = setup(north, tmp_path)
    result = why_not_in_class(north, student, class_ref, today=dt.date(2030, 6, 1),
                              may_see_other_districts=True)  # staff's view
    assert result["reason"] == reason, result["answer"]
    for word in words:
        assert word.format(run=getattr(run, "id", None)) in result["answer"], result["answer"]
    assert result["inClass"] == (reason in ("in_class", "in_class_not_signed_in"))
