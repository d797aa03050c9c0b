"""A host app with its own User (tests/host.py): ClassLink SSO and LTI launches through the
real peers log in the host's user; the roster's routes, import, the console and session
endings work for that user."""
from __future__ import annotations

import html
from types import SimpleNamespace

import pytest
import requests
from host import User, create_app
from peers.lti_platform import run_lti_platform
from peers.oidc_peer import complete_login, require_node, run_oidc_provider
from signin_helpers import bind, configure_classlink, csrf_from, live_server, me, setup_districts
from test_signin_lti import ADA as ADA_LTI
from test_signin_lti import register

from al_roster import api
from al_roster.models import Account, District, database
from al_roster.schema import upgrade


def classlink(sub: str, given: str, family: str, sourced_id: str, role: str) -> dict:
    return {"sub": sub, "given_name": given, "family_name": family,
            "email": f"{given.lower()}@classlink.example",
            "info": {"UserId": int(sub), "TenantId": 456, "SourcedId": sourced_id, "Role": role}}


ACCOUNTS = [classlink("1001", "Ada", "Lovelace", "t-ada", "Teacher"),
            classlink("2002", "Bo", "Pupil", "s-bo", "Student"),
            classlink("3003", "Alan", "Admin", "adm-1", "Administrator")]


def host_site(tmp, loader: str):
    app = create_app({"TESTING": True, "SECRET_KEY": "host-test",
                      "AL_ROSTER_DATABASE_URL": f"sqlite:///{tmp / 'roster.sqlite3'}",
                      "AL_ROSTER_STORAGE_DIR": str(tmp / "storage"),
                      "HOST_DATABASE": str(tmp / "host.sqlite3")}, loader=loader)
    upgrade(app.extensions["al_roster"].db)
    with app.app_context():
        districts = setup_districts(app, tmp)
    return app, districts


@pytest.fixture(scope="module", params=["before", "after"])
def site(request, tmp_path_factory):
    require_node()
    tmp = tmp_path_factory.mktemp(f"host-{request.param}")
    app, districts = host_site(tmp, request.param)
    with live_server(app) as base, \
            run_oidc_provider([base + "/roster/classlink/callback"], ACCOUNTS) as op, \
            run_lti_platform(client_id="al-roster-tool", deployment_id="456") as platform:
        configure_classlink(app, op)
        platform.configure_tool(login_url=base + "/roster/lti/login",
                                launch_url=base + "/roster/lti/launch",
                                jwks_url=base + "/roster/lti/jwks")
        with app.app_context():
            register(app.test_cli_runner(), platform, "north", "456")
        yield SimpleNamespace(app=app, base=base, op=op, platform=platform, districts=districts)
    database.close()


@pytest.fixture(autouse=True)
def context(site):
    bind(site.app)
    with site.app.app_context():
        yield


def sso(site, sub: str) -> requests.Session:
    browser = requests.Session()
    start = browser.get(site.base + "/roster/classlink/login", allow_redirects=False, timeout=10)
    answer = browser.get(complete_login(browser, start, sub), allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return browser


def host_page(browser, site) -> str:
    return html.unescape(browser.get(site.base + "/", timeout=10).text)


def test_classlink_sign_in_logs_in_the_hosts_own_user(site):
    browser = sso(site, "1001")
    ada = Account.get(sourced_id="t-ada")
    user = User.get(User.roster_account_id == ada.id)
    assert "Signed in as Ada Lovelace (User)" in host_page(browser, site)
    assert me(browser, site.base).json()["account"] == ada.id
    assert api.account_of(user).id == ada.id and api.find_account("north", "t-ada").id == ada.id
    sso(site, "1001")  # a second sign-in finds the same host user
    assert User.select().where(User.roster_account_id == ada.id).count() == 1


def test_an_lti_launch_logs_in_the_hosts_own_user(site):
    browser = requests.Session()
    answer = site.platform.launch(browser, ADA_LTI).response
    assert answer.status_code == 302
    assert "Signed in as Ada Lovelace (User)" in host_page(browser, site)
    assert me(browser, site.base).json()["sourcedId"] == "t-ada"


def test_the_hosts_teacher_lists_imports_and_reads_rosters(site):
    browser = sso(site, "1001")
    token = me(browser, site.base).json()["csrfToken"]
    listed = browser.get(site.base + "/roster/api/importable-classes", timeout=10)
    assert listed.status_code == 200
    titles = [c["title"] for t in listed.json()["terms"] for c in t["classes"]]
    assert "Chemistry" in titles
    done = browser.post(site.base + "/roster/api/import", json={"classes": ["cls-chem"]},
                        headers={"X-CSRF-Token": token}, timeout=10)
    assert done.status_code == 200, done.text
    (chemistry,) = done.json()["classes"]
    assert [s["sourcedId"] for s in chemistry["students"]] == ["s-bo"]
    assert browser.get(site.base + "/roster/classes", timeout=10).status_code == 200
    roster = browser.get(f"{site.base}/roster/api/classes/{chemistry['id']}", timeout=10)
    assert roster.status_code == 200
    user = User.get(User.roster_account_id == me(browser, site.base).json()["account"])
    assert "Chemistry" in [c.title for c in api.classes_of(user)]


def test_the_hosts_district_admin_uses_the_console_and_a_student_does_not(site):
    admin = sso(site, "3003")
    assert admin.get(site.base + "/roster/admin/", timeout=10).status_code == 200
    runs = admin.get(site.base + "/roster/api/admin/districts/north/runs", timeout=10)
    assert runs.status_code == 200
    assert admin.get(site.base + "/roster/api/admin/districts/south/runs",
                     timeout=10).status_code == 403
    # The event feed: their own district's, through the linked account; never another's.
    feed = admin.get(site.base + "/roster/api/events", timeout=10)
    assert feed.status_code == 200, feed.text
    north = District.get(District.slug == "north").id
    assert feed.json()["events"] and {e["district"] for e in feed.json()["events"]} == {north}
    assert admin.get(site.base + "/roster/api/events?district=south",
                     timeout=10).status_code == 403
    student = sso(site, "2002")
    assert student.get(site.base + "/roster/admin/", timeout=10).status_code == 403
    assert student.get(site.base + "/roster/api/importable-classes",
                       timeout=10).status_code == 403


def test_logout_ends_every_copy_of_the_host_users_session(site):
    browser = sso(site, "1001")
    copied = requests.Session()
    copied.cookies.update(browser.cookies)
    assert me(copied, site.base).status_code == 200
    page = browser.get(site.base + "/roster/logout", timeout=10)
    browser.post(site.base + "/roster/logout", data={"csrf_token": csrf_from(page.text)},
                 timeout=10)
    assert me(copied, site.base).status_code == 401  # the copied cookie is signed out too
    assert "Signed in as" not in host_page(copied, site)


def test_a_host_user_the_roster_drops_is_signed_out(site):
    browser = sso(site, "2002")
    assert me(browser, site.base).status_code == 200
    Account.update(role="teacher").where(Account.sourced_id == "s-bo").execute()
    try:
        assert me(browser, site.base).status_code == 401  # the roster says student
    finally:
        Account.update(role="student").where(Account.sourced_id == "s-bo").execute()


def test_a_host_user_with_no_roster_account_gets_refusals_not_errors(site):
    stranger = User.create(name="Local Only", roster_account_id=-1)
    client = site.app.test_client()
    with client.session_transaction() as session:  # the host's own password sign-in, say
        session["_user_id"] = str(stranger.id)
    assert client.get("/roster/api/me").status_code == 403
    assert client.get("/roster/api/importable-classes").status_code == 403
    assert client.get("/roster/classes").status_code == 403
    assert client.get("/roster/admin/").status_code == 403
    assert "Local Only" in client.get("/").get_data(as_text=True)


def test_staff_is_decided_by_the_linked_account_or_the_hosts_hook(site):
    from al_roster.services.access import StaffPolicy, permitted_districts
    browser = sso(site, "1001")  # Ada, a teacher: no console
    assert browser.get(site.base + "/roster/admin/", timeout=10).status_code == 403
    ada = Account.get(sourced_id="t-ada")
    Account.update(is_staff=True).where(Account.id == ada.id).execute()  # al-roster staff grant
    try:
        assert browser.get(site.base + "/roster/api/admin/districts/south/runs",
                           timeout=10).status_code == 200
    finally:
        Account.update(is_staff=False).where(Account.id == ada.id).execute()
    user = User.get(User.roster_account_id == ada.id)
    hooked = StaffPolicy(hook=lambda u: isinstance(u, User) and u.name == "Ada Lovelace",
                         account_of=api.account_of)
    assert hooked.is_staff(user) and len(permitted_districts(user, hooked)) == 4
    assert permitted_districts(user, StaffPolicy(account_of=api.account_of)) == []
