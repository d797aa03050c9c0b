"""Handing a district its data back: `al-roster district export` writes the present roster
copy as a OneRoster bulk package that syncs back to exactly the same copy, plus the app's
imported classes and memberships."""
from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from admin_helpers import account
from packages import small_district, write_package

from al_roster.cli import cli
from al_roster.demo.generator import generate_district
from al_roster.models import ROSTER_MODELS, PrivacyAudit, RosterUser
from al_roster.services.class_import import import_classes
from al_roster.services.districts import add_district
from al_roster.services.export import export_district
from al_roster.sync.runner import sync_package

SAMPLES = __import__("conftest").SAMPLES
#: Row columns that say where a row came from, not what it holds.
BOOKKEEPING = {"id", "district_id", "first_run_id", "last_run_id", "removed_run_id"}


def options(app):
    return app.extensions["al_roster"].sync_options


def awkward_1p1() -> dict[str, list[dict]]:
    """A small district whose values test the CSV writer: commas, quotes, a line break,
    accents, a boolean false, lists, dates, and two people the next file drops."""
    files = small_district(6, class_title='Algebra "Honors", Period 1')
    users = files["users"]
    users[1].update(givenName="Zoë", familyName="O'Brien-Núñez", middleName="Line\nBreak",
                    grades="09,10", email="zoe@example.org", identifier="00123",
                    phone="+1 555 0100", userIds="{LDAP:12},{LTI:15}")
    users[2].update(enabledUser="false", sms="555-0101", agentSourcedIds="stu-3")
    files["enrollments"][1].update(beginDate="2024-08-15", endDate="2099-06-30")
    files["courses"][0].update(grades="09,10,11", subjects="Math,Algebra", courseCode="=SUM(1)")
    return files


def with_metadata(package, column: str, values: dict[str, str]) -> None:
    """Adds a metadata.* column to users.csv (the reader keeps it as the row's extras)."""
    path = package / "users.csv"
    with path.open(encoding="utf-8", newline="") as source:
        rows = list(csv.reader(source))
    rows[0].append(column)
    for row in rows[1:]:
        row.append(values.get(row[0], ""))
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)


def v1p2(files: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The same district as OneRoster 1.2: users without role and orgs, roles.csv."""
    out = {k: [dict(r) for r in v] for k, v in files.items()}
    out["roles"] = []
    for user in out["users"]:
        out["roles"].append(dict(sourcedId=f"r-{user['sourcedId']}",
                                 userSourcedId=user["sourcedId"], roleType="primary",
                                 role=user.pop("role"), orgSourcedId=user.pop("orgSourcedIds")))
        user.update(preferredGivenName="Pref", pronouns="they/them")
    return out


def copy_of(district) -> dict[str, dict[str, dict]]:
    """The district's present records, per entity and sourcedId, without bookkeeping."""
    copy = {}
    for name, model in ROSTER_MODELS.items():
        rows = model.select().where((model.district_id == district.id)
                                    & model.removed_run_id.is_null()).dicts()
        copy[name] = {r["sourced_id"]: {k: v for k, v in r.items() if k not in BOOKKEEPING}
                      for r in rows}
    return copy


def every_row(district) -> dict:
    return {name: list(model.select().where(model.district_id == district.id)
                       .order_by(model.id).dicts())
            for name, model in ROSTER_MODELS.items()}


def changed(run) -> dict:
    return {name: {k: c[k] for k in ("created", "restored", "updated", "deleted") if c.get(k)}
            for name, c in (run.counts or {}).items() if name != "reconciliation"
            and any(c.get(k) for k in ("created", "restored", "updated", "deleted"))}


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_export_syncs_back_changing_nothing_and_into_a_new_district_identically(
        app, tmp_path, version):
    north = add_district("north", "North District", deletion_threshold=0.5)
    files = awkward_1p1() if version == "1.1" else v1p2(awkward_1p1())
    package = write_package(tmp_path / "n1", files, version=version)
    with_metadata(package, "metadata.homeLanguage", {"stu-1": "es", "stu-2": "vi, fr"})
    assert sync_package(north, package, options(app)).status == "applied"
    # a second night drops two students: their tombstones are not handed back
    smaller = write_package(tmp_path / "n2", {**files, "users": files["users"][:-2],
                                              "enrollments": files["enrollments"][:-2]},
                            version=version)
    with_metadata(smaller, "metadata.homeLanguage", {"stu-1": "es", "stu-2": "vi, fr"})
    sync_package(north, smaller, options(app), source="cli")
    assert RosterUser.select().where(RosterUser.removed_run_id.is_null(False)).count() == 2

    out = tmp_path / "north-export.zip"
    result = export_district(north, out, version=version, by="test")
    assert result["rows"]["users.csv"] == len(files["users"]) - 2
    with zipfile.ZipFile(out) as archive:
        manifest = archive.read("manifest.csv").decode()
        users = archive.read("users.csv").decode()
    assert f"oneroster.version,{version}" in manifest and "file.users,bulk" in manifest
    assert "file.demographics,absent" in manifest
    assert "metadata.homeLanguage" in users.splitlines()[0]
    assert "Zoë" in users and '"Line\nBreak"' in users.replace("\r\n", "\n")
    assert "stu-6" not in users and "stu-5" not in users  # removed records stay home

    before = every_row(north)
    again = sync_package(north, out, options(app))
    assert again.status == "applied" and changed(again) == {}, again.message
    assert again.message == "Applied: nothing changed."
    assert every_row(north) == before  # not a value, hash or run id moved

    south = add_district("south", "South District")
    fresh = sync_package(south, out, options(app))
    assert fresh.status == "applied" and fresh.error_count == 0
    assert copy_of(south) == copy_of(north)


@pytest.mark.parametrize("sample,version", [
    ("roster-hub-1.1-bulk", "1.1"),
    ("moodle-enrol-oneroster/Test_full_data_set.zip", "1.1"),
    ("moodle-enrol-oneroster/v1p2_full_dataset.zip", "1.2"),
])
@pytest.mark.samples
def test_real_exports_round_trip(app, tmp_path, sample, version):
    north = add_district("north", "North District")
    assert sync_package(north, SAMPLES / sample, options(app)).status == "applied"
    out = tmp_path / "export.zip"
    export_district(north, out, version=version)
    before = every_row(north)
    again = sync_package(north, out, options(app))
    assert again.status == "applied" and changed(again) == {}, again.message
    assert every_row(north) == before


def test_generated_district_round_trips_in_1p2(app, tmp_path):
    north = add_district("north", "North District")
    generate_district(tmp_path / "gen", 400, seed=3, version="1.2")
    assert sync_package(north, tmp_path / "gen", options(app)).status == "applied"
    out = tmp_path / "export.zip"
    result = export_district(north, out, version="1.2")
    assert result["rows"]["enrollments.csv"] > 400 * 4
    before = every_row(north)
    again = sync_package(north, out, options(app))
    assert changed(again) == {} and every_row(north) == before


def test_export_carries_imported_classes_and_memberships_and_is_audited(app, tmp_path, runner):
    north = add_district("north", "North District", plan="prime", rostering=True)
    sync_package(north, write_package(tmp_path / "n1", small_district(3)), options(app))
    teacher = account(north, "teacher", "tch-1")
    import_classes(teacher, ["cls-1"])
    out = tmp_path / "north.zip"
    result = runner.invoke(cli, ["district", "export", "north", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"]["al_roster/memberships.csv"] == 4
    with zipfile.ZipFile(out) as archive:
        classes = list(csv.DictReader(io.StringIO(
            archive.read("al_roster/imported_classes.csv").decode())))
        members = list(csv.DictReader(io.StringIO(
            archive.read("al_roster/memberships.csv").decode())))
        accounts = archive.read("al_roster/accounts.csv").decode()
        assert "classes teachers imported" in archive.read("al_roster/README.txt").decode()
    assert [(c["sourcedId"], c["title"], c["status"], c["importedBy"]) for c in classes] == [
        ("cls-1", "Algebra I", "active", "tch-1")]
    assert sorted((m["userSourcedId"], m["role"]) for m in members) == [
        ("stu-1", "student"), ("stu-2", "student"), ("stu-3", "student"), ("tch-1", "teacher")]
    assert "tch-1" in accounts and "@" not in accounts  # no name or e-mail twice over
    [audit] = PrivacyAudit.select()
    assert (audit.action, audit.district_slug) == ("export", "north")
    assert audit.by.startswith("cli (") and audit.counts["rows"]["users.csv"] == 4


def test_app_files_write_formulas_as_text_but_oneroster_files_verbatim(app, tmp_path):
    north = add_district("north", "North District", plan="prime", rostering=True)
    files = small_district(2, class_title="=HYPERLINK(\"x\")")
    files["courses"][0]["courseCode"] = "+1"
    sync_package(north, write_package(tmp_path / "n1", files), options(app))
    import_classes(account(north, "teacher", "tch-1"), ["cls-1"])
    out = tmp_path / "north.zip"
    export_district(north, out)
    with zipfile.ZipFile(out) as archive:
        imported = archive.read("al_roster/imported_classes.csv").decode()
        classes = archive.read("classes.csv").decode()
        courses = archive.read("courses.csv").decode()
    assert "'=HYPERLINK" in imported
    assert '"=HYPERLINK(""x"")"' in classes and ",+1," in courses
