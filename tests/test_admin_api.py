"""The console's JSON API: what each role may see, and what each page's data says."""
from __future__ import annotations

import csv
import io

import pytest
from admin_helpers import CSRF, account, half_dropped, sign_in, sync, two_districts

from al_roster.models import District, RosterUser, present


@pytest.fixture
def world(app, tmp_path):
    north, south, files, first = two_districts(tmp_path, console_people=True)
    dropped, gone = half_dropped(files)
    north.hold_whole_runs = True  # a run held whole, as districts may choose
    north.save()
    held = sync(north, tmp_path, dropped, "north-2")
    assert held.status == "held"
    people = {
        "staff": account(south, "teacher", "staff-1", is_staff=True),
        "admin": account(north, "administrator", "adm-1"),
        "other_admin": account(south, "administrator", "adm-s"),
        "teacher": account(north, "teacher", "tch-1"),
        "student": account(north, "student", "stu-9"),
    }
    return dict(north=north, south=south, held=held, first=first, gone=gone, **people)


def north_urls(w):
    return ["/roster/api/admin/districts/north/runs", f"/roster/api/admin/runs/{w['held'].id}",
            "/roster/api/admin/people/north/stu-9",
            "/roster/api/admin/why?district=north&student=stu-9&class=cls-1",
            "/roster/admin/districts/north/runs", f"/roster/admin/runs/{w['held'].id}",
            f"/roster/admin/runs/{w['held'].id}/issues.csv", "/roster/admin/people/north/stu-9",
            "/roster/admin/why?district=north&student=stu-9&class=cls-1"]


GLOBAL_URLS = ["/roster/api/admin/districts", "/roster/api/admin/lookup?q=stu",
               "/roster/admin/", "/roster/admin/lookup?q=stu", "/roster/admin/why"]


@pytest.mark.parametrize("role, north_status, global_status", [
    (None, 401, 401), ("teacher", 403, 403), ("student", 403, 403),
    ("staff", 200, 200), ("admin", 200, 200), ("other_admin", 403, 200),
])
def test_who_sees_what(world, client, role, north_status, global_status):
    sign_in(client, world[role] if role else None)
    for url in north_urls(world):
        assert client.get(url).status_code == north_status, url
    for url in GLOBAL_URLS:
        assert client.get(url).status_code == global_status, url
    action = client.post(f"/roster/api/admin/runs/{world['held'].id}/reject",
                         headers={"X-CSRF-Token": CSRF})
    assert action.status_code == north_status
    if north_status != 200:
        assert world["held"].__class__.get_by_id(world["held"].id).status == "held"


def test_staff_by_setting_sees_every_district(world, client, app):
    app.config["AL_ROSTER_STAFF"] = f"1000, {world['student'].id}"
    sign_in(client, world["student"])
    data = client.get("/roster/api/admin/districts").get_json()
    assert [d["slug"] for d in data["districts"]] == ["north", "south"]


def test_districts_list_puts_held_runs_first(world, client):
    sign_in(client, world["staff"])
    data = client.get("/roster/api/admin/districts").get_json()
    assert data["heldRuns"][0]["run"] == world["held"].id
    north = data["districts"][0]
    assert north["plan"] == "prime" and north["rosteringEnabled"] is True
    # a teacher, ten students, the district administrator and the staff member
    assert north["lastRun"]["status"] == "held" and north["counts"]["users"] == 13
    sign_in(client, world["admin"])
    assert [d["slug"] for d in client.get("/roster/api/admin/districts").get_json()["districts"]] \
        == ["north"]


def test_run_page_data_held_then_approved_then_undone(world, client):
    sign_in(client, world["admin"])
    runs = client.get("/roster/api/admin/districts/north/runs").get_json()["runs"]
    assert runs[0]["status"] == "held" and runs[1]["status"] == "applied"
    url = f"/roster/api/admin/runs/{world['held'].id}"
    data = client.get(url + "?entity=users&kind=removed").get_json()
    assert {c["sourcedId"] for c in data["changes"]["changes"]} == world["gone"]
    assert data["actions"] == ["approve", "reject"]
    assert "Likely cause" in data["message"]
    page2 = client.get(url + "?page=2").get_json()
    assert page2["page"] == 2 and page2["changes"]["offset"] == 50

    refused = client.post(url + "/undo", headers={"X-CSRF-Token": CSRF})
    assert refused.status_code == 409 and "only a applied run" in refused.get_json()["error"]
    assert client.post(url + "/approve").status_code == 400  # no CSRF token
    done = client.post(url + "/approve", headers={"X-CSRF-Token": CSRF}).get_json()
    assert done["status"] == "applied"
    assert present(RosterUser, world["north"].id).count() == 13 - len(world["gone"])
    assert client.get(url).get_json()["actions"] == ["undo"]
    undone = client.post(url + "/undo", headers={"X-CSRF-Token": CSRF}).get_json()
    assert undone["status"] == "undone"
    assert present(RosterUser, world["north"].id).count() == 13


def test_issues_download_as_csv(world, client, tmp_path):
    from packages import small_district
    files = small_district(10)
    files["users"][3]["role"] = "wizard"
    bad = sync(world["north"], tmp_path, files, "north-bad")
    sign_in(client, world["staff"])
    response = client.get(f"/roster/admin/runs/{bad.id}/issues.csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert any(r["file"] == "users.csv" and r["line"] == "5" and r["severity"] == "error"
               for r in rows), rows


def test_lookup_person_and_why(world, client):
    sign_in(client, world["admin"])
    found = client.get("/roster/api/admin/lookup?q=Student7").get_json()["people"]
    assert [p["sourcedId"] for p in found] == ["stu-7"]
    assert client.get("/roster/api/admin/lookup?q=stu7").get_json()["people"][0]["sourcedId"] \
        == "stu-7"
    assert client.get("/roster/api/admin/lookup?q=ada@example.org").get_json()["people"][0][
        "sourcedId"] == "tch-1"
    # south's students are not the north admin's to see
    assert client.get("/roster/api/admin/lookup?q=Student1").get_json()["people"][0][
        "district"] == "north"
    assert all(p["district"] == "north"
               for p in client.get("/roster/api/admin/lookup?q=Pupil").get_json()["people"])
    person = client.get("/roster/api/admin/people/north/stu-9").get_json()
    assert person["account"]["role"] == "student" and person["signedIn"] is True
    assert person["enrollments"][0]["class"] == "cls-1"
    assert person["enrollments"][0]["lastChangedBy"]["run"] == world["first"].id
    why = client.get("/roster/api/admin/why?district=north&student=stu-9&class=cls-1").get_json()
    assert why["reason"] == "class_not_imported" and "no teacher has imported" in why["answer"]
    assert client.get("/roster/api/admin/why?district=north").status_code == 400


def test_district_setup(world, client):
    sign_in(client, world["staff"])
    post = lambda body: client.post("/roster/api/admin/districts", json=body,  # noqa: E731
                                    headers={"X-CSRF-Token": CSRF})
    refused = post({"slug": "east", "name": "East", "plan": "basic", "rostering": True})
    assert refused.status_code == 400 and "Prime" in refused.get_json()["error"]
    made = post({"slug": "east", "name": "East", "plan": "prime", "rostering": True,
                 "classlinkTenantId": "777", "threshold": "0.2", "contacts": "it@east.org"})
    assert made.status_code == 200 and made.get_json()["deletionThreshold"] == 0.2
    assert District.get(District.slug == "east").contacts == "it@east.org"
    assert post({"slug": "east", "plan": "basic"}).status_code == 400  # rostering is on
    assert post({"slug": "east", "rostering": False, "plan": "basic"}).status_code == 200
    sign_in(client, world["admin"])
    assert post({"slug": "west", "name": "West"}).status_code == 403
    assert post({"slug": "south", "threshold": 0.5}).status_code == 403
    assert post({"slug": "north", "threshold": 0.3}).get_json()["deletionThreshold"] == 0.3


def test_pages_show_what_the_json_says(world, client):
    sign_in(client, world["staff"])
    home = client.get("/roster/admin/").get_data(as_text=True)
    assert "Held runs waiting for review" in home and f"Run {world['held'].id} of north" in home
    run = client.get(f"/roster/admin/runs/{world['held'].id}?entity=users&kind=removed")
    text = run.get_data(as_text=True)
    assert "Approve and apply" in text and "Reject" in text and sorted(world["gone"])[0] in text
    assert "Traceback" not in client.get("/roster/admin/runs/999999").get_data(as_text=True)
    assert client.get("/roster/admin/runs/999999").status_code == 404
    why = client.get("/roster/admin/why?district=north&student=nobody&class=cls-1")
    assert "is not in North District" in why.get_data(as_text=True)


def test_staff_set_up_a_districts_source_and_lti_registration(world, client, tmp_path):
    from al_roster.models.lti import LtiRegistration
    drop = tmp_path / "drop"
    drop.mkdir()
    sign_in(client, world["staff"])
    post = lambda body: client.post("/roster/api/admin/districts", json=body,  # noqa: E731
                                    headers={"X-CSRF-Token": CSRF})
    done = post({"slug": "north", "sourceKind": "csv_drop", "csvDropDirectory": str(drop),
                 "ltiIssuer": "https://launchpad.classlink.com", "ltiClientId": "tool-1",
                 "ltiDeploymentIds": "456", "ltiAuthLoginUrl": "https://lp.example/auth",
                 "ltiAuthTokenUrl": "https://lp.example/token",
                 "ltiKeySetUrl": "https://lp.example/jwks"})
    assert done.status_code == 200, done.get_json()
    north = District.get(District.slug == "north")
    assert north.source_kind == "csv_drop" and north.source_config["directory"] == str(drop)
    assert LtiRegistration.get(LtiRegistration.client_id == "tool-1").key_set_url.endswith("/jwks")
    api = post({"slug": "north", "sourceKind": "oneroster_api", "apiUrl": "https://or.example",
                "apiVersion": "1.2", "apiClientId": "abc",
                "apiClientSecretEnv": "AL_ROSTER_SOURCE_NORTH_SECRET"})
    assert api.status_code == 200
    config = District.get(District.slug == "north").source_config
    assert config["client_secret_env"] == "AL_ROSTER_SOURCE_NORTH_SECRET"
    assert "secret" not in str(config.values())
    bad = post({"slug": "north", "sourceKind": "csv_drop", "csvDropDirectory": ""})
    assert bad.status_code == 400 and "folder" in bad.get_json()["error"]
    sign_in(client, world["admin"])  # a district admin may not point the sync at a server path
    refused = post({"slug": "north", "sourceKind": "csv_drop", "csvDropDirectory": str(drop)})
    assert refused.status_code == 403
