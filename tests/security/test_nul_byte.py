"""A district's file carries a NUL byte, which PostgreSQL cannot store in text.

Before, COPY refused the whole file and the run "failed unexpectedly" with the raw database
error. Now a NUL is a bad value like any other: the row is skipped and reported with its
file, line and field, and the rest of the file is applied, on both databases.
"""
from __future__ import annotations

import copy

import pytest
from packages import small_district, write_package

from al_roster.models import RosterUser, present
from al_roster.services.districts import add_district
from al_roster.sync.runner import sync_package


@pytest.fixture
def district(app):
    return add_district("north", "North District", plan="prime", rostering=True)


def sync(app, district, path):
    return sync_package(district, path, app.extensions["al_roster"].sync_options)


def users_present(district) -> set[str]:
    return {u.sourced_id for u in present(RosterUser, district.id)}


@pytest.mark.parametrize("field", ["givenName", "email", "grades", "dateLastModified",
                                   "role", "sourcedId"])
def test_nul_in_a_value_skips_that_row_only(app, district, tmp_path, field):
    files = small_district(6)
    assert sync(app, district, write_package(tmp_path / "before", files)).status == "applied"
    poisoned = {"users": copy.deepcopy(files["users"])}  # a delta: every user renamed
    for user in poisoned["users"]:
        user.update(familyName="Renamed", status="active",
                    dateLastModified="2026-11-27T10:00:00.000Z")
    bad = poisoned["users"][3]  # stu-3, line 5 of users.csv
    bad[field] = (bad.get(field) or "x") + "\x00; DROP TABLE roster_users"
    run = sync(app, district, write_package(tmp_path / "poisoned", poisoned,
                                            modes={"users": "delta"}))
    assert run.status == "applied", run.message
    issues = [i for i in run.issues if i.file == "users.csv" and i.severity == "error"]
    assert [(i.line, i.field) for i in issues] == [(5, field)], [i.__data__ for i in run.issues]
    assert "NUL" in issues[0].message or "not a valid" in issues[0].message
    assert "\x00" not in issues[0].message
    names = {u.sourced_id: u.family_name for u in present(RosterUser, district.id)}
    assert names.pop("stu-3") == "Pupil"  # the row with the NUL was skipped: unchanged
    assert set(names.values()) == {"Renamed"}  # the rest of the file was applied


def test_nul_in_a_header_name_is_reported_not_fatal(app, district, tmp_path):
    """An unknown column named with a NUL is warned about (its name quoted), and a
    ``metadata.*`` column's values are kept as JSON, where a NUL is written escaped."""
    folder = write_package(tmp_path / "poisoned", small_district(3))
    users = (folder / "users.csv").read_text().splitlines()
    users = [users[0] + ",nick\x00name,metadata.x\x00y"] + [
        line + ",n\x00n,v\x00w" for line in users[1:]]
    (folder / "users.csv").write_text("\n".join(users) + "\n")
    run = sync(app, district, folder)
    assert run.status == "applied", run.message
    assert users_present(district) == {"tch-1", "stu-1", "stu-2", "stu-3"}
    warned = [i for i in run.issues if i.file == "users.csv" and "nick" in (i.field or "")]
    assert [(i.line, i.field, i.severity) for i in warned] == [(1, "nick\\x00name", "warning")]
    for issue in run.issues:
        assert "\x00" not in (issue.field or "") + issue.message + (issue.file or "")
    extra = RosterUser.get(RosterUser.sourced_id == "stu-1").extra
    assert extra is None or "\x00" not in extra
