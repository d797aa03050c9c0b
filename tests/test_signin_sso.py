"""ClassLink SSO end to end: the app on a real HTTP server, a real OpenID Connect provider
(oidc-provider with ClassLink's /v2/my/info), requests.Session as the browser."""
from __future__ import annotations

import datetime as dt
import html

import pytest
import requests
from conftest import make_app
from peers.oidc_peer import complete_login
from signin_helpers import bind, csrf_from, live_server, me, north_roster, sso_site, sync_files, user

from al_roster.models import Account, AccountEvent


def account(sub: str, given: str, family: str, **info) -> dict:
    return {"sub": sub, "given_name": given, "family_name": family,
            "email": f"{given.lower()}@classlink.example", "info": {"UserId": int(sub), **info}}


ACCOUNTS = [
    account("1001", "Ada", "Lovelace", TenantId=456, SourcedId="t-ada", Role="Teacher"),
    account("2002", "Bo", "Pupil", TenantId=456, SourcedId="s-bo", Role="Student"),
    account("2003", "Cy", "Pupil", TenantId=456, SourcedId="s-cy", Role="Teacher"),
    account("1010", "Grace", "Hopper", TenantId=456, SourcedId="t-grace", Role="Teacher"),
    account("4004", "Una", "Known", TenantId=999, SourcedId="t-ada", Role="Teacher"),
    account("6006", "Nobody", "Here", TenantId=456, SourcedId="nobody", Role="Student"),
    account("7007", "Otto", "Off", TenantId=456, SourcedId="s-off", Role="Student"),
]


@pytest.fixture(scope="module")
def sso(tmp_path_factory):
    with sso_site(tmp_path_factory.mktemp("sso"), ACCOUNTS) as site:
        yield site


@pytest.fixture(autouse=True)
def context(sso):
    bind(sso.app)
    with sso.app.app_context():
        yield


def sign_in(sso, account_id: str, *, next_url: str | None = None,
            session: requests.Session | None = None):
    """Start at the app, sign in at the provider, come back: (browser, the app's answer)."""
    session = session or requests.Session()
    start = session.get(sso.base + "/roster/classlink/login", allow_redirects=False, timeout=10,
                        params={"next": next_url} if next_url else None)
    callback = complete_login(session, start, account_id)
    return session, session.get(callback, allow_redirects=False, timeout=10)


def test_teacher_first_sign_in_makes_the_account_and_lands_on_the_host_page(sso):
    browser, answer = sign_in(sso, "1001")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    ada = Account.get(sourced_id="t-ada")
    body = me(browser, sso.base).json()
    assert body.pop("csrfToken")  # what a JSON client sends back on writes
    assert body == {
        "account": ada.id, "sourcedId": "t-ada", "role": "teacher", "district": "north",
        "name": "Ada Lovelace", "email": "ada@example.org", "classes": []}
    assert ada.classlink_user_id == "1001"


def test_student_lands_already_placed_in_their_imported_classes(sso):
    browser, answer = sign_in(sso, "2002")
    assert answer.status_code == 302
    body = me(browser, sso.base).json()
    assert (body["role"], body["name"]) == ("student", "Bo Pupil")
    assert [{k: c[k] for k in ("sourcedId", "title")} for c in body["classes"]] == [
        {"sourcedId": "cls-alg", "title": "Algebra I"}, {"sourcedId": "cls-bio", "title": "Biology"}]
    assert all(isinstance(c["id"], int) for c in body["classes"])


def test_the_roster_decides_the_role_not_classlink(sso):
    browser, _ = sign_in(sso, "2003")  # ClassLink says Teacher; the roster says student
    assert me(browser, sso.base).json()["role"] == "student"


def test_a_same_site_next_is_where_the_person_lands(sso):
    browser, answer = sign_in(sso, "1001", next_url="/roster/api/me?x=1")
    assert answer.headers["Location"] == "/roster/api/me?x=1"
    assert browser.get(sso.base + answer.headers["Location"]).json()["sourcedId"] == "t-ada"


@pytest.mark.parametrize(("account_id", "says"), [
    ("4004", "Your district is not set up for ClassLink sign-in here yet."),
    ("6006", "You are not in North District's roster."),
    ("7007", "Your account is turned off in North District's roster."),
])
def test_refused_people_see_why_and_whom_to_ask_and_get_no_account(sso, account_id, says):
    before = Account.select().count()
    browser, answer = sign_in(sso, account_id)
    assert answer.status_code == 403
    assert says in html.unescape(answer.text)
    assert "OneRoster administrator" in answer.text
    assert me(browser, sso.base).status_code == 401
    assert Account.select().count() == before


def test_consent_refused_at_classlink_is_a_clear_page(sso):
    browser = requests.Session()
    start = browser.get(sso.base + "/roster/classlink/login", allow_redirects=False)
    callback = complete_login(browser, start, "1001", consent=False)
    answer = browser.get(callback, allow_redirects=False)
    assert answer.status_code == 400 and "ClassLink did not sign you in." in answer.text
    assert "Traceback" not in answer.text
    assert me(browser, sso.base).status_code == 401


def test_changed_sourced_id_for_the_same_classlink_user_keeps_the_account(sso):
    _, answer = sign_in(sso, "1010")
    assert answer.status_code == 302
    grace = Account.get(sourced_id="t-grace")

    files = north_roster(dt.date.today())
    files["users"] = [user("t-grace-2", "teacher", "Grace", "Hopper")
                      if row["sourcedId"] == "t-grace" else row for row in files["users"]]
    sync_files(sso.app, sso.districts["north"], sso.tmp / "grace-changed", files)
    sso.op.set_account(account("1010", "Grace", "Hopper", TenantId=456, SourcedId="t-grace-2",
                               Role="Teacher"))

    browser, answer = sign_in(sso, "1010")
    assert answer.status_code == 302
    assert me(browser, sso.base).json()["sourcedId"] == "t-grace-2"
    assert Account.select().where(Account.given_name == "Grace").count() == 1
    assert Account.get_by_id(grace.id).sourced_id == "t-grace-2"
    assert [e.kind for e in AccountEvent.select().where(AccountEvent.account == grace.id)] == [
        "relinked"]


def test_sign_out(sso):
    browser, _ = sign_in(sso, "1001")
    page = browser.get(sso.base + "/roster/logout")
    assert "Sign out" in page.text
    done = browser.post(sso.base + "/roster/logout", allow_redirects=False,
                        data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert me(browser, sso.base).status_code == 401


def test_a_site_without_classlink_settings_says_so_instead_of_failing(sso, tmp_path):
    bare = make_app(f"sqlite:///{tmp_path / 'bare.sqlite3'}", tmp_path)
    with live_server(bare) as base:
        answer = requests.get(base + "/roster/classlink/login", allow_redirects=False)
    assert answer.status_code == 503
    assert "ClassLink sign-in is not set up" in answer.text and "Traceback" not in answer.text
