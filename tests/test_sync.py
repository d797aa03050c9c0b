"""A package in, an exact roster copy out: bulk, delta, idempotence, tenants, samples."""
from __future__ import annotations

import copy

import pytest
from conftest import SAMPLES
from packages import small_district, write_package

from al_roster.models import Enrollment, RosterClass, RosterUser, RunChange, SyncRun
from al_roster.services.districts import add_district, roster_counts
from al_roster.sync.runner import sync_package

HUB = SAMPLES / "roster-hub-1.1-bulk"
MOODLE = SAMPLES / "moodle-enrol-oneroster"


@pytest.fixture
def district(app):
    return add_district("north", "North District", plan="prime", rostering=True)


def sync(app, district, path, **kw):
    return sync_package(district, path, app.extensions["al_roster"].sync_options, **kw)


def counts(run, entity):
    return run.counts[entity]


@pytest.mark.samples
def test_roster_hub_sample_loads_completely(app, district):
    run = sync(app, district, HUB)
    assert run.status == "applied", run.message
    assert roster_counts(district) == {"orgs": 1, "academicSessions": 4, "courses": 2,
                                       "classes": 5, "users": 20, "roles": 0, "enrollments": 30}
    user = RosterUser.get(RosterUser.sourced_id == "us0001")
    assert user.given_name == "GN 01" and user.enabled_user is True
    assert '"metadata.phoneticGivenName": "PGN 01"' in user.extra  # extension columns kept
    assert [i.field for i in run.issues] == ["fiel.demographics"]  # the manifest typo, explained


@pytest.mark.samples
def test_same_package_twice_changes_nothing(app, district):
    sync(app, district, HUB)
    second = sync(app, district, HUB)
    assert second.status == "applied"
    assert all(c["created"] == c["updated"] == c["deleted"] == 0 for c in second.counts.values()
               if "created" in c)
    assert counts(second, "enrollments")["unchanged"] == 30
    assert RunChange.select().where(RunChange.run_id == second.id).count() == 0


def test_bulk_then_delta_then_bulk(app, district, tmp_path):
    district.deletion_threshold = 1.0  # deltas are guarded too: this one removes 1 of 5
    district.save()
    base = small_district(students=4)
    assert sync(app, district, write_package(tmp_path / "bulk1", base)).status == "applied"

    delta = {
        "users": [dict(sourcedId="stu-1", status="active", dateLastModified="2026-11-27T10:00:00.000Z",
                       enabledUser="true", orgSourcedIds="sch-1", role="student", username="stu1",
                       givenName="Renamed", familyName="Pupil")],
        "enrollments": [dict(sourcedId="enr-2", status="tobedeleted",
                             dateLastModified="2026-11-27T10:00:00.000Z")],
    }
    run = sync(app, district, write_package(tmp_path / "delta", delta, modes={
        "users": "delta", "enrollments": "delta"}))
    assert run.status == "applied", run.message
    assert counts(run, "users")["updated"] == 1 and counts(run, "enrollments")["deleted"] == 1
    assert RosterUser.get(RosterUser.sourced_id == "stu-1").given_name == "Renamed"
    removed = Enrollment.get(Enrollment.sourced_id == "enr-2")
    assert removed.removed_run_id == run.id  # a tombstone, not a delete
    assert "classes" not in run.counts  # absent files are not touched

    again = copy.deepcopy(base)
    again["users"] = [u for u in again["users"] if u["sourcedId"] != "stu-4"]
    again["enrollments"] = [e for e in again["enrollments"] if e["userSourcedId"] != "stu-4"]
    district.deletion_threshold = 0.5
    district.save()
    third = sync(app, district, write_package(tmp_path / "bulk2", again))
    assert third.status == "applied", third.message
    assert counts(third, "users")["deleted"] == 1 and counts(third, "users")["updated"] == 1
    assert counts(third, "enrollments")["restored"] == 1  # enr-2 came back with the bulk file
    assert Enrollment.get(Enrollment.sourced_id == "enr-2").removed_run_id is None
    assert RosterUser.get(RosterUser.sourced_id == "stu-4").removed_run_id == third.id
    assert roster_counts(district)["users"] == 4


def test_delta_inactive_is_read_as_tobedeleted(app, district, tmp_path):
    district.deletion_threshold = 1.0  # deltas are guarded too: this one removes 1 of 5
    district.save()
    sync(app, district, write_package(tmp_path / "bulk", small_district()))
    delta = {"enrollments": [dict(sourcedId="enr-1", status="inactive",
                                  dateLastModified="2026-11-27T10:00:00.000Z")]}
    run = sync(app, district, write_package(tmp_path / "d", delta, modes={"enrollments": "delta"}))
    assert counts(run, "enrollments")["deleted"] == 1
    assert any("inactive" in i.message for i in run.issues)


def test_manifest_only_package_changes_nothing(app, district, tmp_path):
    sync(app, district, write_package(tmp_path / "bulk", small_district()))
    run = sync(app, district, write_package(tmp_path / "empty", {}))
    assert run.status == "applied" and run.counts == {"reconciliation": run.counts["reconciliation"]}
    assert roster_counts(district)["users"] == 5


def test_tenants_are_separate(app, district, tmp_path):
    other = add_district("south", "South District")
    package = write_package(tmp_path / "p", small_district())
    sync(app, district, package)
    sync(app, other, package)
    assert RosterUser.select().where(RosterUser.sourced_id == "tch-1").count() == 2
    changed = copy.deepcopy(small_district())
    changed["classes"][0]["title"] = "Geometry"
    sync(app, other, write_package(tmp_path / "q", changed))
    titles = {c.district_id: c.title for c in RosterClass.select()}
    assert titles == {district.id: "Algebra I", other.id: "Geometry"}


def test_bad_rows_are_skipped_and_explained(app, district, tmp_path):
    files = small_district(students=3)
    files["users"][1]["enabledUser"] = "maybe"
    files["users"][2]["sourcedId"] = "bad\tid"  # a control character cannot be in an id
    files["enrollments"].append(dict(sourcedId="enr-x", classSourcedId="cls-nope",
                                     schoolSourcedId="sch-1", userSourcedId="stu-3",
                                     role="student"))
    files["enrollments"].append(dict(files["enrollments"][3]))  # duplicate sourcedId
    files["classes"].append(dict(files["classes"][0], sourcedId="cls-2", classType="lecture"))
    run = sync(app, district, write_package(tmp_path / "p", files))
    assert run.status == "applied"
    found = {(i.file, i.line, i.field) for i in run.issues if i.severity == "error"}
    assert ("users.csv", 3, "enabledUser") in found
    assert ("users.csv", 4, "sourcedId") in found
    assert ("enrollments.csv", 6, "classSourcedId") in found
    assert ("enrollments.csv", 7, "sourcedId") in found
    assert ("classes.csv", 3, "classType") in found
    message = next(i.message for i in run.issues if i.field == "classType")
    assert "'lecture' is not one of: homeroom, scheduled" in message
    assert roster_counts(district)["users"] == 2  # teacher + stu-3; two bad rows skipped


MOODLE_EXPECTED = {  # fixture: an issue each must report, as (file, line, field, words)
    "Test_full_data_set.zip": [
        ("classes.csv", 2, "classType", "'Scheduled' read as 'scheduled'"),
        ("classes.csv", 2, "courseSourcedId", "'crs-222-2023-456-12345' matches nothing"),
        ("academicSessions.csv", 4, "status", "'inactive'"),
        ("users.csv", 2, "enabledUser", "'TRUE' read as 'true'")],
    "Test_minimal_data_set.zip": [
        ("classes.csv", 2, "classType", "'Scheduled' read as 'scheduled'"),
        ("enrollments.csv", 2, "classSourcedId", "'cls-222-123456' matches nothing")],
    "oneroster_test_data.zip": [("users.csv", 2, "enabledUser", "'TRUE' read as 'true'")],
    "v1p2_full_dataset.zip": [
        ("users.csv", 1, "prefferedGivenName", "Did you mean 'preferredGivenName'"),
        ("roles.csv", 1, "dataLastModified", "Did you mean 'dateLastModified'"),
        ("manifest.csv", None, "file.userProfiles", "has no mode; read as absent")],
}


@pytest.mark.samples
@pytest.mark.parametrize("name", sorted(MOODLE_EXPECTED))
def test_moodle_fixtures_give_precise_issues_not_tracebacks(app, district, name):
    run = sync(app, district, MOODLE / name)
    assert run.status == "applied", run.message  # what can be done is done
    found = [(i.file, i.line, i.field, i.message) for i in run.issues]
    for file, line, field, words in MOODLE_EXPECTED[name]:
        assert any((f, ln, fd) == (file, line, field) and words in m for f, ln, fd, m in found), \
            (file, line, field, words)


@pytest.mark.samples
def test_oneroster_1_2_roles_give_users_their_role(app, district):
    run = sync(app, district, MOODLE / "oneroster_test_data.zip")
    assert run.status == "applied" and run.oneroster_version == "1.2"
    assert RosterUser.get(RosterUser.sourced_id == "USER_0").role == "student"
    assert roster_counts(district)["roles"] == 1


def test_generated_1_2_district_loads(app, district, tmp_path):
    from al_roster.demo.generator import generate_district
    written = generate_district(tmp_path / "g", 300, seed=3, version="1.2")
    run = sync(app, district, tmp_path / "g")
    assert run.status == "applied", run.message
    assert run.error_count == 0
    got = roster_counts(district)
    assert got["enrollments"] == written["enrollments"] and got["users"] == written["users"]
    teachers = RosterUser.select().where(RosterUser.role == "teacher").count()
    assert teachers > 0


@pytest.mark.samples
def test_runs_are_recorded(app, district):
    run = sync(app, district, HUB, source="cli", source_name="hub.zip")
    stored = SyncRun.get_by_id(run.id)
    assert stored.status == "applied" and stored.source_name == "hub.zip"
    assert stored.modes["users"] == "bulk" and stored.finished_at >= stored.started_at


def test_identical_bulk_file_is_not_read_again(app, district, tmp_path):
    package = write_package(tmp_path / "p", small_district())
    first = sync(app, district, package)
    second = sync(app, district, package)
    notes = [i for i in second.issues if "Identical to the file run" in i.message]
    assert {i.file for i in notes} == {"orgs.csv", "academicSessions.csv", "courses.csv",
                                       "classes.csv", "users.csv", "enrollments.csv"}
    assert f"run {first.id}" in notes[0].message
    assert counts(second, "users")["unchanged"] == 5 and counts(second, "users")["created"] == 0


def test_identical_file_after_a_delta_is_applied_again(app, district, tmp_path):
    package = write_package(tmp_path / "p", small_district())
    sync(app, district, package)
    delta = {"users": [dict(sourcedId="stu-1", status="active", enabledUser="true",
                            orgSourcedIds="sch-1", role="student", username="stu1",
                            givenName="Changed", familyName="Pupil")]}
    sync(app, district, write_package(tmp_path / "d", delta, modes={"users": "delta"}))
    third = sync(app, district, package)
    assert counts(third, "users")["updated"] == 1  # the delta's change is undone by the bulk file
    assert RosterUser.get(RosterUser.sourced_id == "stu-1").given_name == "Student1"
    assert "Identical" not in " ".join(i.message for i in third.issues if i.file == "users.csv")


def test_identical_file_is_reread_when_a_file_it_refers_to_changed(app, district, tmp_path):
    files = small_district()
    sync(app, district, write_package(tmp_path / "a", files))
    files["orgs"][0]["name"] = "North High"
    run = sync(app, district, write_package(tmp_path / "b", files))
    skipped = {i.file for i in run.issues if "Identical" in i.message}
    assert "orgs.csv" not in skipped and "users.csv" not in skipped  # users refer to orgs
    assert "academicSessions.csv" in skipped


def test_a_1_2_role_change_alone_reaches_the_user(app, district, tmp_path):
    from al_roster.demo.generator import generate_district
    generate_district(tmp_path / "g", 200, seed=3, version="1.2")
    sync(app, district, tmp_path / "g")
    student = RosterUser.select().where(RosterUser.role == "student").first()
    delta = {"roles": [dict(sourcedId=f"rol-{student.sourced_id}", status="active",
                            userSourcedId=student.sourced_id, roleType="primary", role="aide",
                            orgSourcedId=student.primary_org_sourced_id or "org-0001")]}
    run = sync(app, district, write_package(tmp_path / "d", delta, version="1.2",
                                           modes={"roles": "delta"}))
    assert run.status == "applied", run.message
    assert RosterUser.get_by_id(student.id).role == "aide"  # users.csv was not in the package


def test_rehash_migration_keeps_an_upgraded_copy_unchanged(app, district, tmp_path):
    """A copy whose hashes were taken the earlier way is re-hashed by migration 0006, so the
    next night with the same rows records nothing as updated."""
    import importlib.util

    from al_roster.schema import migrations_dir

    base = small_district(students=6)
    sync(app, district, write_package(tmp_path / "first", base))
    for model in (RosterUser, Enrollment, RosterClass):
        model.update(row_hash=model.row_hash + 1).execute()  # as an older release left them
    spec = importlib.util.spec_from_file_location(
        "rehash", migrations_dir() / "0006_row_hash_text.py")
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    migration.up(None, app.extensions["al_roster"].db)

    folder = write_package(tmp_path / "again", base)
    for path in folder.glob("*.csv"):  # other bytes, same rows: every row is read and compared
        path.write_text(path.read_text() + "\n")
    again = sync(app, district, folder)
    assert again.status == "applied", again.message
    assert {name: c["updated"] for name, c in again.counts.items() if "updated" in c} == {
        name: 0 for name, c in again.counts.items() if "updated" in c}
    assert counts(again, "users")["unchanged"] == RosterUser.select().count()


def test_references_report_the_same_checked_in_memory_or_in_sql(app, tmp_path, monkeypatch):
    """References to a small bulk file are checked while reading; to a large one, in SQL
    (memory stays flat). A district sees the same issues and the same copy either way."""
    import al_roster.sync.staging as staging

    files = small_district(students=3)
    files["enrollments"].append(dict(sourcedId="enr-x", classSourcedId="cls-nope",
                                     schoolSourcedId="sch-1", userSourcedId="stu-3",
                                     role="student"))
    files["enrollments"].append(dict(sourcedId="enr-y", classSourcedId="cls-1",
                                     schoolSourcedId="sch-1", userSourcedId="stu-nobody",
                                     role="student"))
    files["classes"].append(dict(files["classes"][0], sourcedId="cls-2", courseSourcedId="crs-9"))
    # Lists naming one record the export left out keep their rows, and what hangs off them.
    files["classes"].append(dict(files["classes"][0], sourcedId="cls-3",
                                 termSourcedIds="term-1,term-nope"))
    files["users"].append(dict(files["users"][1], sourcedId="stu-4", orgSourcedIds="sch-nope,sch-1"))
    files["enrollments"] += [dict(sourcedId=f"enr-{c}-{u}", classSourcedId=c, schoolSourcedId="sch-1",
                                  userSourcedId=u, role="student") for c, u in
                             (("cls-3", "stu-1"), ("cls-1", "stu-4"), ("cls-3", "stu-4"))]
    found = {}
    for limit in (staging.KNOWN_IDS_LIMIT, 0):
        monkeypatch.setattr(staging, "KNOWN_IDS_LIMIT", limit)
        district = add_district(f"refs-{limit}", "Refs", plan="prime", rostering=True)
        run = sync(app, district, write_package(tmp_path / str(limit), files))
        found[limit] = (sorted((i.file, i.line, i.field, i.severity, i.message)
                               for i in run.issues), roster_counts(district),
                        sorted(e.sourced_id for e in Enrollment.select().where(
                            Enrollment.district_id == district.id)))
    assert found[0] == found[staging.KNOWN_IDS_LIMIT]
    issues, counts_by_entity, enrollments = found[0]
    assert [(f, line, field) for f, line, field, severity, _ in issues if severity == "error"] == [
        ("classes.csv", 3, "courseSourcedId"), ("enrollments.csv", 6, "classSourcedId"),
        ("enrollments.csv", 7, "userSourcedId")]
    assert [(f, line, field) for f, line, field, severity, _ in issues if severity == "warning"] == [
        ("classes.csv", 4, "termSourcedIds"), ("users.csv", 6, "orgSourcedIds")]
    assert counts_by_entity["enrollments"] == 7 and counts_by_entity["classes"] == 2
    assert {"enr-cls-3-stu-1", "enr-cls-1-stu-4", "enr-cls-3-stu-4"} <= set(enrollments)


def test_a_sync_leaves_no_staged_table_behind(app, district, tmp_path):
    """The staged package goes once the run is over, applied or rejected, whether the
    temporary tables are dropped (PostgreSQL) or go with the connection (SQLite): the
    next query sees none, and the next sync stages afresh."""
    from al_roster.models import database
    from al_roster.models.base import is_postgres

    db = database.obj
    listing = ("SELECT relname FROM pg_class WHERE relpersistence = 't' AND relkind = 'r' "
               "AND left(relname, 6) = 'stage_'" if is_postgres(db) else
               "SELECT name FROM temp.sqlite_master WHERE type = 'table' AND substr(name, 1, 6) = 'stage_'")
    package = write_package(tmp_path / "one", small_district(students=4))
    assert sync(app, district, package).status == "applied"
    assert db.execute_sql(listing).fetchall() == []
    files = small_district(students=4)
    files["users"][1]["familyName"] = "Renamed"
    second = sync(app, district, write_package(tmp_path / "two", files))
    assert second.status == "applied" and counts(second, "users")["updated"] == 1
    assert db.execute_sql(listing).fetchall() == []


def test_a_reference_to_a_user_the_same_delta_deletes_names_nothing(app, tmp_path,
                                                                      monkeypatch):
    """A delta that deletes a user and adds an enrollment naming them: the enrollment
    names nothing, the references checked in SQL (where a file of active rows alone is
    looked up by sourcedId only)."""
    import al_roster.sync.staging as staging

    monkeypatch.setattr(staging, "KNOWN_IDS_LIMIT", 0)  # users checked in SQL
    files = small_district(students=3)
    district = add_district("gone-user", "Gone User", plan="prime", rostering=True,
                            deletion_threshold=1.0)
    assert sync(app, district, write_package(tmp_path / "one", files)).status == "applied"
    delta = {"users": [dict(files["users"][3], status="tobedeleted")],
             "enrollments": [dict(files["enrollments"][1], sourcedId="enr-new",
                                  userSourcedId="stu-3")]}
    run = sync(app, district, write_package(tmp_path / "two", delta,
                                            modes={"users": "delta", "enrollments": "delta"}))
    assert run.status == "applied", run.message
    assert any("'stu-3' matches nothing" in i.message for i in run.issues)
    assert counts(run, "enrollments")["created"] == 0
