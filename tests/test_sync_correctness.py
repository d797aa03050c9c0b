"""The roster copy stays right under real exports and undo: each test is a night a district
had, on SQLite and PostgreSQL, checked on the copy, the imported classes and "why".

A byte-identical bulk file may be skipped only when the copy provably still holds what that
file gave it; otherwise it is read, and the copy is then exactly what a first sync of the
same package into an empty district makes.
"""
from __future__ import annotations

import copy
import itertools

import pytest
from packages import small_district, write_package
from rosters import account_for

from al_roster.models import ROSTER_MODELS, ImportedClass, Membership, present
from al_roster.services.class_import import import_classes
from al_roster.services.class_rosters import rosters_of
from al_roster.services.diagnostics import why_not_in_class
from al_roster.services.districts import add_district, roster_counts
from al_roster.sync.review import undo_run
from al_roster.sync.runner import sync_package

NIGHT = "2026-11-27T02:00:00.000Z"
_fresh = itertools.count(1)


@pytest.fixture
def north(app):
    return add_district("north", "North District", plan="prime", rostering=True,
                        deletion_threshold=1.0)


def options(app):
    return app.extensions["al_roster"].sync_options


def sync(app, district, package):
    return sync_package(district, package, options(app))


def copy_of(district) -> dict[str, dict[str, int]]:
    """The district's present records: entity -> sourcedId -> row hash."""
    return {name: {r.sourced_id: r.row_hash for r in present(model, district.id)}
            for name, model in ROSTER_MODELS.items()}


def from_scratch(app, package) -> dict[str, dict[str, int]]:
    """The copy a first sync of ``package`` makes in an empty district."""
    fresh = add_district(f"fresh-{next(_fresh)}", "Fresh", deletion_threshold=1.0)
    assert sync(app, fresh, package).status == "applied"
    return copy_of(fresh)


def members(class_id: str) -> dict[str, bool]:
    """Who is in the imported class: sourcedId -> still in it."""
    klass = ImportedClass.get(ImportedClass.sourced_id == class_id)
    return {m.user_sourced_id: m.removed_at is None
            for m in Membership.select().where(Membership.imported_class == klass)}


def skipped_as_identical(run) -> set[str]:
    return {i.file for i in run.issues if "Identical to the file run" in i.message}


def test_undo_then_the_same_files_again_loads_them_again(app, north, tmp_path):
    package = write_package(tmp_path / "export", small_district(4))
    first = sync(app, north, package)
    loaded = copy_of(north)
    import_classes(account_for(north, "tch-1", "teacher"), ["cls-1"])
    second = sync(app, north, package)
    assert skipped_as_identical(second) >= {"users.csv", "enrollments.csv"}

    undo_run(first, options(app))  # run 2 changed nothing, so run 1 may be undone
    assert roster_counts(north)["users"] == 0

    third = sync(app, north, package)  # the same files again, the night after the undo
    assert third.status == "applied", third.message
    assert skipped_as_identical(third) == set()
    assert copy_of(north) == loaded
    assert ImportedClass.get(ImportedClass.sourced_id == "cls-1").status == "active"
    assert members("cls-1") == {"tch-1": True, "stu-1": True, "stu-2": True, "stu-3": True,
                                "stu-4": True}
    assert why_not_in_class(north, "stu-2", "cls-1")["reason"] == "in_class_not_signed_in"

    fourth = sync(app, north, package)  # and the night after: nothing to read again
    assert skipped_as_identical(fourth) >= {"users.csv", "enrollments.csv"}
    assert copy_of(north) == loaded


def test_a_user_fixed_at_midday_gets_their_enrollments_on_the_next_full_night(app, north,
                                                                               tmp_path):
    broken = small_district(4)
    broken["users"][2]["enabledUser"] = "maybe"  # stu-2: skipped, so enr-2 dangles
    night1 = sync(app, north, write_package(tmp_path / "night1", broken))
    assert {(i.file, i.field) for i in night1.issues if i.severity == "error"} == {
        ("users.csv", "enabledUser"), ("enrollments.csv", "userSourcedId")}
    import_classes(account_for(north, "tch-1", "teacher"), ["cls-1"])
    assert "stu-2" not in members("cls-1")

    fixed = small_district(4)
    midday = sync(app, north, write_package(tmp_path / "midday", {"users": fixed["users"]}))
    assert midday.counts["users"]["created"] == 1

    full = copy.deepcopy(broken)
    full["users"] = fixed["users"]  # users.csv as at midday; every other file as night 1's
    package = write_package(tmp_path / "night2", full)
    night2 = sync(app, north, package)
    assert night2.status == "applied", night2.message
    assert "enrollments.csv" not in skipped_as_identical(night2)
    assert "enr-2" in copy_of(north)["enrollments"]
    assert copy_of(north) == from_scratch(app, package)
    assert members("cls-1")["stu-2"] is True
    assert why_not_in_class(north, "stu-2", "cls-1")["reason"] == "in_class_not_signed_in"


def test_a_term_removed_later_is_seen_by_the_next_full_night(app, north, tmp_path):
    files = small_district(3)
    files["academicSessions"].append(dict(files["academicSessions"][0], sourcedId="term-2",
                                          title="Spring"))
    files["classes"].append(dict(files["classes"][0], sourcedId="cls-2", title="Geometry",
                                 termSourcedIds="term-2"))
    files["enrollments"] += [dict(e, sourcedId=e["sourcedId"] + "-g", classSourcedId="cls-2")
                             for e in files["enrollments"]]
    assert sync(app, north, write_package(tmp_path / "night1", files)).status == "applied"
    import_classes(account_for(north, "tch-1", "teacher"), ["cls-1", "cls-2"])
    assert members("cls-2")["stu-1"] is True

    terms = [t for t in files["academicSessions"] if t["sourcedId"] == "term-1"]
    later = sync(app, north, write_package(tmp_path / "later", {"academicSessions": terms}))
    assert later.counts["academicSessions"]["deleted"] == 1  # cls-2 still lists term-2

    night2_files = dict(files, academicSessions=terms)  # classes.csv as on night 1, byte for byte
    package = write_package(tmp_path / "night2", night2_files)
    night2 = sync(app, north, package)
    assert night2.status == "applied", night2.message
    assert "classes.csv" not in skipped_as_identical(night2)
    assert any(i.file == "classes.csv" and i.field == "termSourcedIds" and "term-2" in i.message
               for i in night2.issues)
    assert copy_of(north) == from_scratch(app, package)
    assert "cls-2" not in copy_of(north)["classes"] and "cls-1" in copy_of(north)["classes"]
    assert ImportedClass.get(ImportedClass.sourced_id == "cls-2").status == "archived"
    assert members("cls-1")["stu-1"] is True
    assert why_not_in_class(north, "stu-1", "cls-2")["reason"] == "class_removed"


def test_a_delta_removing_a_record_that_does_not_exist_warns(app, north, tmp_path):
    sync(app, north, write_package(tmp_path / "night1", small_district(3)))
    before = copy_of(north)
    import_classes(account_for(north, "tch-1", "teacher"), ["cls-1"])
    delta = {"enrollments": [
        dict(sourcedId="enr-1", status="tobedeleted", dateLastModified=NIGHT),
        dict(sourcedId="enr-ghost", status="tobedeleted", dateLastModified=NIGHT)]}
    run = sync(app, north, write_package(tmp_path / "delta", delta,
                                         modes={"enrollments": "delta"}))
    assert run.status == "applied", run.message
    warned = [i for i in run.issues if i.severity == "warning" and "enr-ghost" in i.message]
    assert [(i.file, i.line, i.field) for i in warned] == [("enrollments.csv", 3, "sourcedId")]
    assert not any("enr-1" in i.message for i in run.issues)
    expected = copy.deepcopy(before)
    del expected["enrollments"]["enr-1"]
    assert copy_of(north) == expected
    assert members("cls-1")["stu-1"] is False and members("cls-1")["stu-2"] is True
    assert why_not_in_class(north, "stu-1", "cls-1")["reason"] == "enrollment_removed"


def test_the_same_id_twice_in_a_delta_keeps_the_last_row(app, north, tmp_path):
    files = small_district(3)
    sync(app, north, write_package(tmp_path / "night1", files))
    import_classes(account_for(north, "tch-1", "teacher"), ["cls-1"])
    stu1 = next(u for u in files["users"] if u["sourcedId"] == "stu-1")
    delta = {
        "users": [dict(stu1, status="active", dateLastModified=NIGHT, givenName="Early"),
                  dict(stu1, status="active", dateLastModified=NIGHT, givenName="Later")],
        "enrollments": [dict(sourcedId="enr-2", status="tobedeleted", dateLastModified=NIGHT),
                        dict(next(e for e in files["enrollments"] if e["sourcedId"] == "enr-2"),
                             status="active", dateLastModified=NIGHT),
                        dict(sourcedId="enr-3", status="active", dateLastModified=NIGHT,
                             classSourcedId="cls-1", schoolSourcedId="sch-1",
                             userSourcedId="stu-3", role="student", primary="false"),
                        dict(sourcedId="enr-3", status="tobedeleted", dateLastModified=NIGHT)],
    }
    run = sync(app, north, write_package(tmp_path / "delta", delta,
                                         modes={"users": "delta", "enrollments": "delta"}))
    assert run.status == "applied", run.message
    notes = {(i.file, i.line): i.message for i in run.issues if "appears again" in i.message}
    assert set(notes) == {("users.csv", 2), ("enrollments.csv", 2), ("enrollments.csv", 4)}
    assert "line 3" in notes[("users.csv", 2)] and "'stu-1'" in notes[("users.csv", 2)]
    assert all(i.severity == "warning" for i in run.issues if "appears again" in i.message)

    now = copy_of(north)
    assert "enr-2" in now["enrollments"] and "enr-3" not in now["enrollments"]
    roster = rosters_of([ImportedClass.get(ImportedClass.sourced_id == "cls-1")])[0]
    assert "Later Pupil" in {p.name for p in roster.students}
    assert members("cls-1") == {"tch-1": True, "stu-1": True, "stu-2": True, "stu-3": False}
    assert why_not_in_class(north, "stu-3", "cls-1")["reason"] == "enrollment_removed"
    assert why_not_in_class(north, "stu-2", "cls-1")["reason"] == "in_class_not_signed_in"


def test_a_bulk_file_with_a_header_and_no_rows_rejects_the_package(app, north, tmp_path):
    files = small_district(3)
    sync(app, north, write_package(tmp_path / "night1", files))
    import_classes(account_for(north, "tch-1", "teacher"), ["cls-1"])
    before, in_class = copy_of(north), members("cls-1")

    package = write_package(tmp_path / "night2", dict(files, enrollments=[]))
    run = sync(app, north, package)
    assert run.status == "rejected"
    assert "enrollments.csv" in run.message and "no rows" in run.message
    assert [(i.file, i.severity) for i in run.issues if i.severity == "error"] == [
        ("enrollments.csv", "error")]
    assert copy_of(north) == before and members("cls-1") == in_class
    assert why_not_in_class(north, "stu-1", "cls-1")["reason"] == "in_class_not_signed_in"

    (package / "enrollments.csv").write_text(
        (package / "enrollments.csv").read_text() + "\n\n")  # blank lines are no rows either
    assert sync(app, north, package).status == "rejected"
    delta = write_package(tmp_path / "delta", {"enrollments": []},
                          modes={"enrollments": "delta"})
    assert sync(app, north, delta).status == "applied"  # an empty delta changes nothing
    assert copy_of(north) == before
