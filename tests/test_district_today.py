"""A district's "today" is its own, not the server's: on the day an enrollment ends (or
begins) where the district is, sign-in, import, the nightly reconciliation and "why" agree
that the student is in the class, whatever date the server's clock shows."""
from __future__ import annotations

import datetime as dt
import os
import time
from zoneinfo import ZoneInfo

import pytest
from admin_helpers import sync
from packages import small_district

import al_roster.models.district as district_model
from al_roster.models import Account, District, Membership, database
from al_roster.services.class_import import import_classes, importable_classes
from al_roster.services.diagnostics import why_not_in_class
from al_roster.services.districts import add_district
from al_roster.services.provisioning import sign_in_roster_user
from al_roster.sync.reconcile import reconcile_imported_classes

# Either side of the date line: Pago Pago (UTC-11) and Kiritimati (UTC+14) never share a date.
WEST, EAST = "Pacific/Pago_Pago", "Pacific/Kiritimati"


@pytest.fixture
def server_zone():
    """Sets the server's own time zone (what ``date.today()`` reads) for one test."""
    before = os.environ.get("TZ")

    def set_zone(name):
        os.environ["TZ"] = name
        time.tzset()
    yield set_zone
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.parametrize("district_zone, server", [(WEST, EAST), (EAST, WEST)],
                         ids=["district-behind-server", "district-ahead-of-server"])
def test_the_district_day_decides_everywhere(app, tmp_path, monkeypatch, server_zone,
                                             district_zone, server):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    monkeypatch.setattr(district_model, "utcnow", lambda: now)  # the clock stands still
    server_zone(server)
    today = now.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(district_zone)).date()
    assert dt.date.today() != today  # the server's date is another day

    district = add_district("dateline", "Date Line District", plan="prime", rostering=True)
    District.update(timezone=district_zone).where(District.id == district.id).execute()
    district = District.get_by_id(district.id)
    files = small_district(3)
    for enrollment in files["enrollments"]:
        if enrollment["userSourcedId"] == "stu-2":
            enrollment["endDate"] = today.isoformat()  # its last day is the district's today
        if enrollment["userSourcedId"] == "stu-3":
            enrollment["beginDate"] = today.isoformat()  # its first day is today
    sync(district, tmp_path, files, "night-1")
    teacher = sign_in_roster_user(district, "tch-1", via="sso")

    offered = {c.sourced_id: c.students for g in importable_classes(teacher) for c in g.classes}
    (klass,) = import_classes(teacher, ["cls-1"])
    imported = _students(klass)
    Membership.delete().where(Membership.role == "student").execute()
    for student in ("stu-2", "stu-3"):
        sign_in_roster_user(district, student, via="sso")
    signed_in = _students(klass)
    sync(district, tmp_path, files, "night-2")  # the nightly: only what changed since
    nightly = _students(klass)
    reconcile_imported_classes(database.obj, district.id, None)  # the whole district
    whole = _students(klass)
    why = {s: why_not_in_class(district, s, "cls-1")["reason"] for s in ("stu-2", "stu-3")}

    everyone = {"stu-1", "stu-2", "stu-3"}
    assert offered["cls-1"] == 3
    assert imported == everyone
    assert signed_in == {"stu-2", "stu-3"}
    assert nightly == {"stu-2", "stu-3"}
    assert whole == everyone
    assert why == {"stu-2": "in_class", "stu-3": "in_class"}
    assert Account.select().where(Account.role == "student").count() == 2


def _students(klass) -> set[str]:
    return {m.user_sourced_id for m in Membership.select().where(
        (Membership.imported_class == klass) & (Membership.role == "student")
        & Membership.removed_at.is_null())}


def test_the_time_zone_is_set_from_the_command_line_and_the_console(app, client):
    from admin_helpers import CSRF, account, roster_person, sign_in

    from al_roster.cli import cli
    district = add_district("zoned", "Zoned District", plan="prime", rostering=True)
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["district", "set", "zoned", "--timezone", "America/Chicago"])
    assert result.exit_code == 0, result.output
    assert "time zone America/Chicago" in result.output
    refused = runner.invoke(cli, ["district", "set", "zoned", "--timezone", "Mars/Olympus"])
    assert refused.exit_code != 0 and "not a time zone" in refused.output
    assert District.get_by_id(district.id).timezone == "America/Chicago"

    roster_person(district, "teacher", "tch-9")
    sign_in(client, account(district, "teacher", "tch-9", is_staff=True))
    save = dict(headers={"X-CSRF-Token": CSRF})
    answer = client.post("/roster/api/admin/districts", **save,
                         json={"slug": "zoned", "timezone": "Pacific/Honolulu"})
    assert answer.status_code == 200 and answer.get_json()["timezone"] == "Pacific/Honolulu"
    bad = client.post("/roster/api/admin/districts", **save,
                      json={"slug": "zoned", "timezone": "../../etc/passwd"})
    assert bad.status_code == 400 and "not a time zone" in bad.get_json()["error"]
    assert District.get_by_id(district.id).timezone == "Pacific/Honolulu"
    assert District.get_by_id(district.id).today() == dt.datetime.now(
        ZoneInfo("Pacific/Honolulu")).date()
