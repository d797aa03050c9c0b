"""Signing in from ClassLink in a real browser (Chromium through Playwright): a teacher through
the OpenID Connect provider's own sign-in pages, a student through an LTI 1.3 launch that the
platform's page starts; both land on the host app's page, signed in."""
from __future__ import annotations

import json

import pytest
from conftest import make_app
from peers.lti_platform import LtiPerson, run_lti_platform
from peers.oidc_peer import require_node, run_oidc_provider
from signin_helpers import bind, configure_classlink, live_server, setup_districts

from al_roster.models import database
from al_roster.services import lti as lti_service

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

TEACHER = {"sub": "1001", "given_name": "Ada", "family_name": "Lovelace",
           "email": "ada@classlink.example",
           "info": {"UserId": 1001, "TenantId": 456, "SourcedId": "t-ada", "Role": "Teacher"}}
STUDENT = LtiPerson(sub="cl-bo", given_name="Bo", family_name="Pupil", email="bo@example.org",
                    person_sourcedid="s-bo", roles=("Learner",))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_node()
    tmp = tmp_path_factory.mktemp("browser")
    app = make_app(f"sqlite:///{tmp / 'roster.sqlite3'}", tmp)
    with app.app_context():
        districts = setup_districts(app, tmp)
    with live_server(app) as base, \
            run_oidc_provider([base + "/roster/classlink/callback"], [TEACHER]) as op, \
            run_lti_platform(client_id="tool", deployment_id="456") as platform:
        configure_classlink(app, op)
        platform.configure_tool(login_url=base + "/roster/lti/login",
                                launch_url=base + "/roster/lti/launch",
                                jwks_url=base + "/roster/lti/jwks")
        with app.app_context():
            lti_service.register_platform(
                districts["north"], issuer=platform.issuer, client_id="tool",
                deployment_ids=["456"], auth_login_url=platform.auth_login_url,
                auth_token_url=platform.auth_token_url, key_set_url=platform.key_set_url)
        bind(app)
        yield base, platform
    database.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


def signed_in_as(page, base: str) -> dict:
    page.goto(base + "/roster/api/me")
    return json.loads(page.locator("body").inner_text())


def test_teacher_signs_in_through_classlink_sso(site, page):
    base, _ = site
    page.goto(base + "/roster/classlink/login")
    page.locator("input[name=login]").fill("1001")
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Signed in as Ada Lovelace (teacher)")).to_be_visible()
    assert page.url == base + "/"
    me = signed_in_as(page, base)
    assert (me["sourcedId"], me["role"], me["district"]) == ("t-ada", "teacher", "north")


def test_student_launches_from_the_platform_and_is_already_in_their_classes(site, page):
    base, platform = site
    page.goto(platform.browser_launch_url(STUDENT))
    expect(page.get_by_text("Signed in as Bo Pupil (student)")).to_be_visible()
    assert page.url == base + "/"
    me = signed_in_as(page, base)
    assert me["role"] == "student"
    assert [c["title"] for c in me["classes"]] == ["Algebra I", "Biology"]
