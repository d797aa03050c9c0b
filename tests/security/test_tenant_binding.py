"""Item 3: a district admin cannot rebind their district to a ClassLink tenant they control.

The tenant id decides which district a ClassLink sign-in lands in. North's OneRoster admin
sends the console's own district form (JSON and HTML) with a tenant id of their choosing.
"""
from __future__ import annotations

import pytest

from al_roster.models import Account, District
from security.attack import csrf_of, dev_sign_in, district, roster, sync


@pytest.fixture
def world(app, tmp_path):
    app.config["AL_ROSTER_DEV_LOGIN"] = True
    north, south = district("north", tenant="456"), district("south", tenant="789")
    sync(app, north, tmp_path / "north",
         roster(("adm-1", "administrator", "adm@north.example", "dist-1")))
    sync(app, south, tmp_path / "south", roster(("t-sam", "teacher", "sam@south.example")))
    return dict(north=north, south=south)


def tenants() -> dict[str, str | None]:
    return {d.slug: d.classlink_tenant_id for d in District.select()}


def test_a_district_admin_cannot_change_the_tenant_id(app, world):
    client = app.test_client()
    dev_sign_in(client, "north", "adm-1")
    token = csrf_of(client)
    for tenant in ("999", "789", ""):
        answer = client.post("/roster/api/admin/districts", headers={"X-CSRF-Token": token},
                             json={"slug": "north", "classlinkTenantId": tenant})
        assert answer.status_code == 403, (tenant, answer.get_data(as_text=True))
        assert "Only support staff" in answer.get_json()["error"]
        form = client.post("/roster/admin/districts", data={
            "csrf_token": token, "slug": "north", "classlinkTenantId": tenant})
        assert form.status_code == 403
    assert tenants() == {"north": "456", "south": "789"}
    # What a district admin may change still saves, with the tenant id unchanged.
    saved = client.post("/roster/api/admin/districts", headers={"X-CSRF-Token": token},
                        json={"slug": "north", "contacts": "it@north.example",
                              "classlinkTenantId": "456"})
    assert saved.status_code == 200 and saved.get_json()["classlinkTenantId"] == "456"


def test_staff_giving_a_district_another_districts_tenant_get_a_409(app, world):
    staff = Account.create(district=world["north"], sourced_id="adm-1", role="administrator",
                           is_staff=True)
    client = app.test_client()
    dev_sign_in(client, "north", staff.sourced_id)
    answer = client.post("/roster/api/admin/districts", headers={"X-CSRF-Token": csrf_of(client)},
                         json={"slug": "north", "classlinkTenantId": "789"})
    assert answer.status_code == 409
    assert "already belongs to another district" in answer.get_json()["error"]
    assert tenants() == {"north": "456", "south": "789"}
