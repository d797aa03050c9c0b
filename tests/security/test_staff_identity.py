"""Item 1: a district's own data cannot make anyone support staff.

The attacker is a district's OneRoster admin: they control users.csv, so they can give one of
their teachers the vendor's support address (support mails reveal it) and have her sign in.
"""
from __future__ import annotations

import pytest
from conftest import make_app

from al_roster.errors import ConfigurationError
from al_roster.models import Account
from security.attack import dev_sign_in, district, forget_loaded_user, roster, sync

SUPPORT = "support@vendor.example"


@pytest.fixture
def districts(app, tmp_path):
    app.config["AL_ROSTER_DEV_LOGIN"] = True
    vendor, north, south = district("vendor"), district("north"), district("south")
    sync(app, vendor, tmp_path / "vendor", roster(("sup-1", "teacher", SUPPORT)))
    # North's admin sets a teacher's e-mail to the vendor's support address.
    sync(app, north, tmp_path / "north", roster(("t-eve", "teacher", SUPPORT.upper())))
    sync(app, south, tmp_path / "south", roster(("t-sam", "teacher", "sam@south.example")))
    return dict(vendor=vendor, north=north, south=south)


def console_districts(client) -> tuple[int, list[str]]:
    forget_loaded_user()
    answer = client.get("/roster/api/admin/districts")
    slugs = [d["slug"] for d in answer.get_json().get("districts", [])] \
        if answer.status_code == 200 else []
    return answer.status_code, slugs


def test_an_email_in_the_staff_setting_stops_the_app_at_start_up(tmp_path):
    with pytest.raises(ConfigurationError) as refused:
        make_app(f"sqlite:///{tmp_path / 'r.sqlite3'}", tmp_path, AL_ROSTER_STAFF=f"3, {SUPPORT}")
    assert "account id" in refused.value.message and "is_staff" in refused.value.message


def test_granting_staff_by_email_is_refused_and_a_look_alike_teacher_gets_no_console(
        app, districts, runner):
    dev_sign_in(app.test_client(), "vendor", "sup-1")  # the real support person signs in once
    eve_client = app.test_client()
    dev_sign_in(eve_client, "north", "t-eve")

    granted = runner.invoke(args=["al-roster", "staff", "grant", SUPPORT])
    assert granted.exit_code != 0 and "not an account id" in granted.output
    assert not Account.select().where(Account.is_staff).exists()
    assert console_districts(eve_client) == (403, [])

    support = Account.get(Account.sourced_id == "sup-1")
    assert runner.invoke(args=["al-roster", "staff", "grant", str(support.id)]).exit_code == 0
    assert console_districts(eve_client) == (403, [])
    support_client = app.test_client()
    dev_sign_in(support_client, "vendor", "sup-1")
    assert console_districts(support_client) == (200, ["north", "south", "vendor"])


def test_granting_a_district_admin_by_an_email_two_accounts_share_is_refused(
        app, districts, runner):
    for sourced_id in ("t-a", "t-b"):
        Account.create(district=districts["south"], sourced_id=sourced_id, role="teacher",
                       email="shared@south.example")
    answer = runner.invoke(args=["al-roster", "district", "grant-admin", "south",
                                 "shared@south.example"])
    assert answer.exit_code != 0 and "2 accounts" in answer.output
    assert not Account.select().where(Account.district_admin).exists()
    by_id = runner.invoke(args=["al-roster", "district", "grant-admin", "south", "t-b"])
    assert by_id.exit_code == 0, by_id.output
    assert [a.sourced_id for a in Account.select().where(Account.district_admin)] == ["t-b"]
