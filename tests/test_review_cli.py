"""Reviewing runs from the command line: held, shown, approved, undone, rejected."""
from __future__ import annotations

import json

import pytest
from admin_helpers import half_dropped, roster_person, sign_in
from packages import small_district, write_package

from al_roster.cli import cli
from al_roster.models import ROSTER_MODELS, RosterUser, present
from al_roster.services.districts import add_district


@pytest.fixture
def north(app):
    district = add_district("north", "North District", plan="prime", rostering=True)
    district.hold_whole_runs = True  # these review runs held whole (nothing applied)
    district.save()
    return district


def invoke(runner, *args, code=0):
    result = runner.invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def sync(runner, tmp_path, files, name, code=0):
    package = write_package(tmp_path / name, files)
    return json.loads(invoke(runner, "sync", "north", package, "--json", code=code).output)


def snapshot(district):
    rows = {}
    for name, model in ROSTER_MODELS.items():
        rows[name] = {r["id"]: r for r in model.select().where(
            model.district_id == district.id).dicts()}
    return rows


def test_held_run_shown_approved_undone_exactly(north, runner, tmp_path):
    files = small_district(10)
    sync(runner, tmp_path, files, "n1")
    before = snapshot(north)
    dropped, gone = half_dropped(files)
    held = sync(runner, tmp_path, dropped, "n2", code=3)
    assert held["status"] == "held" and snapshot(north) == before
    assert "users.csv has 6 rows; the last applied upload had 11" in held["message"]

    shown = invoke(runner, "run", "show", held["run"], "--entity", "users", "--kind", "removed")
    assert "would make" in shown.output
    assert all("removed  users" in shown.output and sid in shown.output for sid in gone)
    as_json = json.loads(invoke(runner, "run", "show", held["run"], "--json").output)
    assert as_json["changes"]["totals"]["users"]["removed"] == len(gone)

    assert "is now applied" in invoke(runner, "run", "approve", held["run"]).output
    assert present(RosterUser, north.id).count() == 11 - len(gone)
    refused = invoke(runner, "run", "approve", held["run"], code=1)
    assert "only a held run can be approved" in refused.output
    runs = json.loads(invoke(runner, "runs", "north", "--json").output)
    assert [r["status"] for r in runs] == ["applied", "applied"]

    invoke(runner, "run", "undo", held["run"])
    assert snapshot(north) == before


def test_reject_discards(north, runner, tmp_path):
    files = small_district(10)
    sync(runner, tmp_path, files, "n1")
    before = snapshot(north)
    held = sync(runner, tmp_path, half_dropped(files)[0], "n2", code=3)
    assert "now discarded" in invoke(runner, "run", "reject", held["run"]).output
    assert snapshot(north) == before
    invoke(runner, "run", "approve", held["run"], code=1)


def test_undo_refused_across_a_later_run(north, runner, tmp_path):
    files = small_district(10)
    sync(runner, tmp_path, files, "n1")
    files["users"][2]["givenName"] = "Renamed"
    second = sync(runner, tmp_path, files, "n2")
    after_second = snapshot(north)
    files["users"][2]["givenName"] = "Renamed again"
    third = sync(runner, tmp_path, files, "n3")
    refused = invoke(runner, "run", "undo", second["run"], code=1)
    assert f"Runs {third['run']} changed records that run {second['run']} changed" \
        in refused.output
    invoke(runner, "run", "undo", third["run"])
    assert snapshot(north) == after_second
    invoke(runner, "run", "undo", second["run"])
    assert RosterUser.get(RosterUser.sourced_id == files["users"][2]["sourcedId"]).given_name \
        == "Student2"


def test_likely_causes_named(north, runner, tmp_path):
    files = small_district(10)
    sync(runner, tmp_path, files, "n1")
    bad_schools = small_district(10)
    for u in bad_schools["users"]:
        u["orgSourcedIds"] = "nowhere"
    for e in bad_schools["enrollments"]:
        e["schoolSourcedId"] = "nowhere"
    bad_schools["enrollments"] = bad_schools["enrollments"][:4]
    held = sync(runner, tmp_path, bad_schools, "n2", code=3)
    assert "Likely cause" in held["message"] and "nowhere" in held["message"], held["message"]

    package = write_package(tmp_path / "n3", half_dropped(files)[0])
    header, rest = (package / "users.csv").read_text().split("\n", 1)
    (package / "users.csv").write_text(header.replace(",email,", ",Email,") + "\n" + rest)
    shown = json.loads(invoke(runner, "sync", "north", package, "--json", code=3).output)
    assert "users.csv has 6 rows; the last applied upload had 11" in shown["message"]
    assert "Column 'Email' is not a OneRoster 1.1 column of users.csv" in shown["message"], shown["message"]


def test_district_set_and_staff_grant(north, runner):
    out = invoke(runner, "district", "set", "north", "--threshold", "0.25", "--contacts",
                 "it@north.org").output
    assert "deletion threshold 25%" in out and "it@north.org" in out
    refused = invoke(runner, "district", "set", "north", "--plan", "basic", code=1)
    assert "only on the Prime plan" in refused.output
    assert "No account 99" in invoke(runner, "staff", "grant", "99", code=1).output
    from al_roster.models import Account
    who = Account.create(district=north, role="teacher", sourced_id="t", email="Who@example.org")
    assert "is now staff" in invoke(runner, "staff", "grant", str(who.id)).output
    assert Account.get(Account.sourced_id == "t").is_staff
    assert f"{who.id}\tnorth\tt" in invoke(runner, "staff", "list").output
    assert "no longer staff" in invoke(runner, "staff", "revoke", f"alr:{who.id}").output
    assert not Account.get(Account.sourced_id == "t").is_staff
    why = invoke(runner, "why", "stu-1", "cls-1", "--district", "north").output
    assert "is not in North District's roster" in why


def test_a_granted_teacher_sees_their_districts_console(app, tmp_path):
    from al_roster.models import Account
    from al_roster.services.districts import add_district
    north = add_district("north", "North District", plan="prime", rostering=True)
    add_district("south", "South District")
    roster_person(north, "teacher", "tch-9")
    teacher = Account.create(district=north, sourced_id="tch-9", role="teacher",
                             email="it.lead@north.org")
    client = app.test_client()
    sign_in(client, teacher)
    with app.app_context():  # a fresh g: Flask-Login keeps the user loaded for the context
        assert client.get("/roster/api/admin/districts").status_code == 403
    result = app.test_cli_runner().invoke(args=["al-roster", "district", "grant-admin", "north",
                                                "IT.Lead@north.org"])
    assert result.exit_code == 0, result.output
    assert "now sees north's rostering console" in result.output
    with app.app_context():
        listed = client.get("/roster/api/admin/districts").get_json()
    assert [d["slug"] for d in listed["districts"]] == ["north"]
    refused = app.test_cli_runner().invoke(args=["al-roster", "district", "grant-admin", "north",
                                                 "nobody@north.org"])
    assert refused.exit_code == 1 and "No account or roster person" in refused.output
