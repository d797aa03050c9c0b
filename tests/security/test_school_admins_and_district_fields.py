"""Item 15: a OneRoster 1.1 "administrator" of one school does not get the whole district's
console; item 12: a district's name or contacts cannot carry a header into support mail."""
from __future__ import annotations

import pytest

from al_roster.models import Account, District
from security.attack import csrf_of, dev_sign_in, district, forget_loaded_user, roster, sync


@pytest.fixture
def north(app, tmp_path):
    app.config["AL_ROSTER_DEV_LOGIN"] = True
    north = district("north")
    sync(app, north, tmp_path / "north", roster(
        ("adm-d", "administrator", "boss@north.example", "dist-1"),
        ("adm-s", "administrator", "principal@north.example", "sch-1")))
    return north


def test_a_school_administrator_gets_no_district_console(app, north):
    client = app.test_client()
    answer = dev_sign_in(client, "north", "adm-s")
    assert answer.status_code == 403
    assert "school administrator" in answer.get_data(as_text=True)
    assert client.get("/roster/api/admin/districts").status_code == 401
    assert not Account.select().where(Account.sourced_id == "adm-s").exists()


def test_the_district_administrator_and_a_granted_school_administrator_get_it(
        app, north, runner):
    boss = app.test_client()
    dev_sign_in(boss, "north", "adm-d")
    assert boss.get("/roster/api/admin/districts").status_code == 200
    granted = runner.invoke(args=["al-roster", "district", "grant-admin", "north", "adm-s"])
    assert granted.exit_code == 0, granted.output
    principal = app.test_client()
    dev_sign_in(principal, "north", "adm-s")
    listed = principal.get("/roster/api/admin/districts")
    assert listed.status_code == 200 and [d["slug"] for d in listed.get_json()["districts"]] \
        == ["north"]


@pytest.mark.parametrize("field, value", [
    ("contacts", "it@north.example\r\nBcc: everyone@elsewhere.example"),
    ("contacts", "it@north.example, Someone <x@y.example>"),
    ("name", "North\r\nX-Injected: yes"),
])
def test_a_header_in_a_districts_name_or_contacts_is_refused_where_entered(
        app, north, runner, field, value):
    Account.create(district=north, sourced_id="adm-d", role="administrator")
    client = app.test_client()
    dev_sign_in(client, "north", "adm-d")
    answer = client.post("/roster/api/admin/districts", headers={"X-CSRF-Token": csrf_of(client)},
                         json={"slug": "north", field: value})
    assert answer.status_code == 400, answer.get_data(as_text=True)
    forget_loaded_user()
    cli = runner.invoke(args=["al-roster", "district", "set", "north", f"--{field}", value])
    assert cli.exit_code != 0
    stored = District.get(District.slug == "north")
    assert (stored.name, stored.contacts) == ("North District", None)
