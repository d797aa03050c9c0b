"""Item 5: sessions end when they should, for every copy of the cookie.

Signed in through ClassLink SSO for real (the app on an HTTP server, an OpenID Connect
provider on loopback), then: a cookie copied before logout (a shared Chromebook, a stolen
cookie) is tried after it; the SIS removes or turns off the person; the district loses
rostering; the session outlives the absolute lifetime.
"""
from __future__ import annotations

import time

import pytest
import requests
from peers.oidc_peer import complete_login
from signin_helpers import bind, csrf_from, me, sso_site, sync_files, user

from al_roster.models import District

ACCOUNTS = [
    {"sub": str(1000 + n), "given_name": given, "family_name": "Person",
     "email": f"{given.lower()}@classlink.example",
     "info": {"UserId": 1000 + n, "TenantId": 456, "SourcedId": sourced_id, "Role": role}}
    for n, (given, sourced_id, role) in enumerate([
        ("Ada", "t-ada", "Teacher"), ("Grace", "t-grace", "Teacher"), ("Bo", "s-bo", "Student"),
        ("Cy", "s-cy", "Student")])
]
SUB = {a["info"]["SourcedId"]: a["sub"] for a in ACCOUNTS}


@pytest.fixture(scope="module")
def sso(tmp_path_factory):
    with sso_site(tmp_path_factory.mktemp("sessions"), ACCOUNTS) as site:
        yield site


@pytest.fixture(autouse=True)
def context(sso):
    bind(sso.app)
    with sso.app.app_context():
        yield


def signed_in(sso, sourced_id: str) -> requests.Session:
    browser = requests.Session()
    start = browser.get(sso.base + "/roster/classlink/login", allow_redirects=False, timeout=10)
    browser.get(complete_login(browser, start, SUB[sourced_id]), allow_redirects=False,
                timeout=10)
    assert me(browser, sso.base).status_code == 200
    return browser


def copy_of(browser: requests.Session) -> requests.Session:
    thief = requests.Session()
    thief.cookies.update(browser.cookies)
    return thief


def delta_users(sso, folder: str, *rows: dict) -> None:
    sync_files(sso.app, sso.districts["north"], sso.tmp / folder, {"users": list(rows)},
               modes={"users": "delta"})


def changed(sourced_id: str, role: str, given: str, **fields) -> dict:
    return user(sourced_id, role, given, "Person") | dict(
        dateLastModified="2031-01-01T00:00:00.000Z", **fields)


def test_a_cookie_copied_before_logout_is_refused_after_it(sso):
    browser = signed_in(sso, "t-ada")
    thief = copy_of(browser)
    assert me(thief, sso.base).status_code == 200
    token = csrf_from(browser.get(sso.base + "/roster/logout", timeout=10).text)
    browser.post(sso.base + "/roster/logout", data={"csrf_token": token}, timeout=10)
    assert me(browser, sso.base).status_code == 401
    assert me(thief, sso.base).status_code == 401
    assert thief.get(sso.base + "/roster/classes", timeout=10).status_code in (401, 302, 403)
    assert me(signed_in(sso, "t-ada"), sso.base).status_code == 200  # signing in again works


def test_a_teacher_the_nightly_sync_removes_is_signed_out_at_her_next_request(sso):
    browser = signed_in(sso, "t-grace")
    delta_users(sso, "grace-gone", changed("t-grace", "teacher", "Grace", status="tobedeleted"))
    try:
        assert me(browser, sso.base).status_code == 401
        assert browser.get(sso.base + "/roster/api/importable-classes",
                           timeout=10).status_code == 401
    finally:
        delta_users(sso, "grace-back", changed("t-grace", "teacher", "Grace", status="active"))


def test_a_student_turned_off_in_the_sis_is_signed_out(sso):
    browser = signed_in(sso, "s-cy")
    delta_users(sso, "cy-off", changed("s-cy", "student", "Cy", status="active",
                                       enabledUser="false"))
    try:
        assert me(browser, sso.base).status_code == 401
    finally:
        delta_users(sso, "cy-on", changed("s-cy", "student", "Cy", status="active"))


def test_everyone_of_a_district_that_loses_rostering_is_signed_out(sso):
    browser = signed_in(sso, "s-bo")
    District.update(rostering_enabled=False).where(District.slug == "north").execute()
    try:
        assert me(browser, sso.base).status_code == 401
    finally:
        District.update(rostering_enabled=True).where(District.slug == "north").execute()


def test_a_session_ends_after_the_absolute_lifetime_however_active(sso, monkeypatch):
    browser = signed_in(sso, "t-ada")
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 11.5 * 3600)
    assert me(browser, sso.base).status_code == 200  # kept busy all day...
    monkeypatch.setattr(time, "time", lambda: real_time() + 12.5 * 3600)
    assert me(browser, sso.base).status_code == 401  # ...and still over after 12 hours
