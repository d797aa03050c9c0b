"""LTI 1.3 launches end to end: the app on a real HTTP server, a real LTI platform
(lti1p3platform, its own keys), registered through the CLI; requests.Session as the browser."""
from __future__ import annotations

import html
import json
import threading
from types import SimpleNamespace

import pytest
import requests
from conftest import make_app
from peers.lti_platform import LtiPerson, run_lti_platform
from signin_helpers import bind, live_server, me, setup_districts

from al_roster.models import Account, LtiToolKey, database
from al_roster.services import lti as lti_service

CLIENT_ID = "al-roster-tool"


def person(sourced_id: str | None, given: str, family: str, *roles: str) -> LtiPerson:
    return LtiPerson(sub=f"cl-{sourced_id}", given_name=given, family_name=family,
                     email=f"{given.lower()}@classlink.example", person_sourcedid=sourced_id,
                     roles=roles or ("Learner",))


ADA = person("t-ada", "Ada", "Lovelace", "Instructor")
BO = person("s-bo", "Bo", "Pupil")


def register(runner, platform, slug: str, *deployment_ids: str):
    args = ["al-roster", "lti", "register", slug, "--issuer", platform.issuer,
            "--client-id", platform.client_id, "--auth-login-url", platform.auth_login_url,
            "--auth-token-url", platform.auth_token_url, "--key-set-url", platform.key_set_url]
    for deployment_id in deployment_ids:
        args += ["--deployment-id", deployment_id]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def lti(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lti")
    app = make_app(f"sqlite:///{tmp / 'roster.sqlite3'}", tmp)
    with app.app_context():
        districts = setup_districts(app, tmp)
    with live_server(app) as base, \
            run_lti_platform(client_id=CLIENT_ID, deployment_id="456") as platform:
        platform.configure_tool(login_url=base + "/roster/lti/login",
                                launch_url=base + "/roster/lti/launch",
                                jwks_url=base + "/roster/lti/jwks")
        runner = app.test_cli_runner()
        with app.app_context():
            register(runner, platform, "north", "456")
            register(runner, platform, "south", "789")
            register(runner, platform, "basic", "111")
        yield SimpleNamespace(app=app, base=base, platform=platform, districts=districts,
                              runner=runner)
    database.close()


@pytest.fixture(autouse=True)
def context(lti):
    bind(lti.app)
    with lti.app.app_context():
        yield


def launch(lti, who: LtiPerson, **knobs):
    browser = requests.Session()
    result = lti.platform.launch(browser, who, **knobs)
    return browser, result.response


@pytest.mark.parametrize("login_method", ["POST", "GET"])
def test_teacher_launch_makes_the_account_and_lands_on_the_host_page(lti, login_method):
    browser, answer = launch(lti, ADA, login_method=login_method)
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    body = me(browser, lti.base).json()
    assert (body["sourcedId"], body["role"], body["district"], body["name"]) == (
        "t-ada", "teacher", "north", "Ada Lovelace")
    assert Account.select().where(Account.sourced_id == "t-ada").count() == 1


def test_student_launch_lands_placed_in_their_imported_classes(lti):
    browser, answer = launch(lti, BO)
    assert answer.status_code == 302
    assert [c["title"] for c in me(browser, lti.base).json()["classes"]] == [
        "Algebra I", "Biology"]


def test_the_launchs_roles_do_not_decide_the_role(lti):
    browser, _ = launch(lti, person("s-cy", "Cy", "Pupil", "Instructor", "Administrator"))
    assert me(browser, lti.base).json()["role"] == "student"
    browser, _ = launch(lti, person("t-grace", "Grace", "Hopper", "Learner"))
    assert me(browser, lti.base).json()["role"] == "teacher"


@pytest.mark.parametrize(("who", "knobs", "says"), [
    (person(None, "No", "Lis"), {}, "ClassLink did not send your OneRoster ID"),
    (person("nobody", "No", "Body"), {}, "You are not in North District's roster."),
    (person("b-1", "Bea", "Basic"), {"deployment_id": "111"},
     "Signing in from ClassLink is not turned on for Basic District."),
])
def test_refused_launches_say_why_and_whom_to_ask(lti, who, knobs, says):
    before = Account.select().count()
    browser, answer = launch(lti, who, **knobs)
    assert answer.status_code == 403
    text = html.unescape(answer.text)
    assert says in text and "OneRoster administrator" in text
    assert me(browser, lti.base).status_code == 401
    assert Account.select().count() == before


def test_the_person_comes_from_the_lis_claim_not_the_subject(lti):
    browser, _ = launch(lti, BO, extra_claims={"sub": "t-ada"})
    assert me(browser, lti.base).json()["sourcedId"] == "s-bo"


def test_an_unknown_platform_is_told_clearly(lti):
    with run_lti_platform(client_id="stranger", deployment_id="456") as stranger:
        stranger.configure_tool(login_url=lti.base + "/roster/lti/login",
                                launch_url=lti.base + "/roster/lti/launch")
        result = stranger.launch(requests.Session(), ADA)
    assert result.stage == "login" and result.response.status_code == 400
    assert "does not know the platform" in result.response.text


def jwks(lti) -> list[dict]:
    answer = requests.get(lti.base + "/roster/lti/jwks", timeout=10)
    assert answer.status_code == 200
    return answer.json()["keys"]


def test_jwks_serves_public_keys_only(lti):
    keys = jwks(lti)
    assert keys and all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["kid"] for k in keys)
    assert not any(set(k) & {"d", "p", "q", "dp", "dq", "qi"} for k in keys)
    assert keys[0]["kid"] == lti_service.current_tool_key().kid


def test_rotated_key_stays_published_for_the_grace_period(lti):
    old = jwks(lti)[0]["kid"]
    result = lti.runner.invoke(args=["al-roster", "lti", "rotate-key"])
    assert result.exit_code == 0, result.output
    new = lti_service.current_tool_key().kid
    assert new != old and f"New tool key {new}" in result.output
    assert [k["kid"] for k in jwks(lti)] == [new, old]
    grace = lti.app.config["AL_ROSTER_LTI_KEY_GRACE_MINUTES"]
    lti.app.config["AL_ROSTER_LTI_KEY_GRACE_MINUTES"] = 0
    try:
        assert [k["kid"] for k in jwks(lti)] == [new]
    finally:
        lti.app.config["AL_ROSTER_LTI_KEY_GRACE_MINUTES"] = grace
    # Launches go on working after a rotation.
    assert launch(lti, ADA)[1].status_code == 302


def test_the_first_tool_key_is_made_once_even_when_asked_for_at_once(lti):
    LtiToolKey.delete().execute()
    barrier, kids = threading.Barrier(4), []

    def first_need():
        with lti.app.app_context():
            barrier.wait(timeout=10)
            kids.append(lti_service.current_tool_key().kid)
        database.close()

    threads = [threading.Thread(target=first_need) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(kids) == 4 and len(set(kids)) == 1
    assert LtiToolKey.select().count() == 1


def test_show_lists_the_districts_registration(lti):
    result = lti.runner.invoke(args=["al-roster", "lti", "show", "north", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["registrations"] == [{
        "issuer": lti.platform.issuer, "clientId": CLIENT_ID,
        "authLoginUrl": lti.platform.auth_login_url,
        "authTokenUrl": lti.platform.auth_token_url,
        "keySetUrl": lti.platform.key_set_url, "deploymentIds": ["456"]}]


def test_a_deployment_belongs_to_one_district(lti):
    args = ["al-roster", "lti", "register", "south", "--issuer", lti.platform.issuer,
            "--client-id", CLIENT_ID, "--deployment-id", "456",
            "--auth-login-url", lti.platform.auth_login_url,
            "--auth-token-url", lti.platform.auth_token_url,
            "--key-set-url", lti.platform.key_set_url]
    result = lti.runner.invoke(args=args)
    assert result.exit_code != 0
    assert "already belongs to district north" in result.output
