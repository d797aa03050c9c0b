"""The sign-in's security list, one test (or table) per item, against the real peers.

The id_token checks go through a tampering relay between the app and the OpenID Connect
provider: the relay forwards the token request to the provider and alters the id_token it
gets back (re-signing it with a key it publishes next to the provider's), so the app sees a
properly signed token that is wrong in exactly one way.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import time
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from conftest import make_app
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, request
from peers.lti_platform import LtiPerson, run_lti_platform
from peers.oidc_peer import complete_login, require_node, run_oidc_provider
from signin_helpers import bind, csrf_from, dev_sign_in, live_server, me, setup_districts
from werkzeug.middleware.proxy_fix import ProxyFix

from al_roster.errors import ConfigurationError
from al_roster.models import Account, UsedNonce, database
from al_roster.services import lti as lti_service

REDIS_URL = "redis://127.0.0.1:6379/9"


def oidc_account(sub: str, given: str, **info) -> dict:
    return {"sub": sub, "given_name": given, "family_name": "Test",
            "email": f"{given.lower()}@classlink.example", "info": {"UserId": int(sub), **info}}


ACCOUNTS = [
    oidc_account("1001", "Ada", TenantId=456, SourcedId="t-ada"),
    oidc_account("2002", "Bo", TenantId=456, SourcedId="s-bo"),
    # A person of South, arriving with North's tenant id.
    oidc_account("3003", "Sam", TenantId=456, SourcedId="s-south"),
]
BO = LtiPerson(sub="cl-bo", given_name="Bo", family_name="Pupil", email="bo@example.org",
               person_sourcedid="s-bo")


class TamperingRelay:
    """Discovery and token endpoint in front of the provider; alters the id_token per mode."""

    def __init__(self, op):
        self.op, self.mode = op, None
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.app = Flask("tampering_relay")
        self.app.add_url_rule("/.well-known/openid-configuration", view_func=self.discovery)
        self.app.add_url_rule("/jwks", view_func=self.jwks)
        self.app.add_url_rule("/token", view_func=self.token, methods=["POST"])

    def discovery(self):
        metadata = requests.get(self.op.metadata_url, timeout=10).json()
        metadata.update(token_endpoint=request.host_url + "token",
                        jwks_uri=request.host_url + "jwks")
        return jsonify(metadata)

    def jwks(self):
        keys = requests.get(self.op.jwks_uri, timeout=10).json()["keys"]
        mine = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return jsonify(keys=keys + [{**mine, "kid": "relay", "alg": "RS256", "use": "sig"}])

    def token(self):
        answer = requests.post(self.op.token_endpoint, data=request.form.to_dict(), timeout=10,
                               headers={"Authorization": request.headers.get("Authorization", "")})
        body = answer.json()
        if answer.ok and self.mode is not None:
            body = self.alter(body)
        return jsonify(body), answer.status_code

    def alter(self, body: dict) -> dict:
        if self.mode == "no id_token":
            body.pop("id_token")
            return body
        claims = jwt.decode(body["id_token"], options={"verify_signature": False})
        now = int(time.time())
        changes = {
            "re-signed": {},
            "signature": {},
            "issuer": {"iss": "http://127.0.0.1:1/not-the-provider"},
            "audience": {"aud": "another-client", "azp": claims["aud"]},
            "expired": {"iat": now - 900, "exp": now - 600},
            "nonce": {"nonce": "not-the-nonce-we-sent"},
        }[self.mode]
        key = self.rogue if self.mode == "signature" else self.key
        body["id_token"] = jwt.encode({**claims, **changes}, key, algorithm="RS256",
                                      headers={"kid": "relay"})
        return body


@pytest.fixture(scope="module")
def sec(tmp_path_factory):
    require_node()
    tmp = tmp_path_factory.mktemp("security")
    app = make_app(f"sqlite:///{tmp / 'roster.sqlite3'}", tmp, AL_ROSTER_DEV_LOGIN=True)
    with app.app_context():
        districts = setup_districts(app, tmp)
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(live_server(app))
        op = stack.enter_context(run_oidc_provider([base + "/roster/classlink/callback"],
                                                   ACCOUNTS))
        relay = TamperingRelay(op)
        relay_base = stack.enter_context(live_server(relay.app))
        platform = stack.enter_context(run_lti_platform(client_id="tool", deployment_id="456"))
        platform.configure_tool(login_url=base + "/roster/lti/login",
                                launch_url=base + "/roster/lti/launch",
                                jwks_url=base + "/roster/lti/jwks")
        app.config.update(
            AL_ROSTER_CLASSLINK_CLIENT_ID=op.client_id,
            AL_ROSTER_CLASSLINK_CLIENT_SECRET=op.client_secret,
            AL_ROSTER_CLASSLINK_SERVER_METADATA_URL=relay_base + "/.well-known/openid-configuration",
            AL_ROSTER_CLASSLINK_USERINFO_URL=op.userinfo_url,
        )
        with app.app_context():
            for slug, deployment in (("north", "456"), ("south", "789")):
                lti_service.register_platform(
                    districts[slug], issuer=platform.issuer, client_id="tool",
                    deployment_ids=[deployment], auth_login_url=platform.auth_login_url,
                    auth_token_url=platform.auth_token_url, key_set_url=platform.key_set_url)
        yield SimpleNamespace(app=app, base=base, op=op, relay=relay, platform=platform)
    database.close()


@pytest.fixture(autouse=True)
def context(sec):
    bind(sec.app)
    sec.relay.mode = None
    with sec.app.app_context():
        yield


def start_sso(sec, browser: requests.Session, next_url: str | None = None) -> str:
    """Starts a ClassLink sign-in; returns the authorization URL the app redirected to."""
    start = browser.get(sec.base + "/roster/classlink/login", allow_redirects=False, timeout=10,
                        params={"next": next_url} if next_url else None)
    assert start.status_code == 302
    return start.headers["Location"]


def text(response) -> str:
    return html.unescape(response.text)


def copy_of(browser: requests.Session) -> requests.Session:
    other = requests.Session()
    other.cookies.update(browser.cookies)
    return other


# --- state and nonce: single use ----------------------------------------------------


def test_sso_callback_replayed_with_the_old_cookies_is_refused(sec):
    browser = requests.Session()
    callback = complete_login(browser, start_sso(sec, browser), "1001")
    before = copy_of(browser)  # the cookies as they were when ClassLink answered
    assert browser.get(callback, allow_redirects=False).status_code == 302

    replay = before.get(callback, allow_redirects=False)
    assert replay.status_code == 400 and "This sign-in was already used." in text(replay)
    assert me(before, sec.base).status_code == 401


def test_sso_callback_for_a_state_this_browser_was_not_given_is_refused(sec):
    attacker = requests.Session()
    callback = complete_login(attacker, start_sso(sec, attacker), "1001")
    victim = requests.Session()
    victim.get(sec.base + "/roster/dev/login")  # has a session of its own
    answer = victim.get(callback, allow_redirects=False)
    assert answer.status_code == 400 and "did not start here" in text(answer)
    assert me(victim, sec.base).status_code == 401


@pytest.mark.parametrize("store", ["database", "redis"])
def test_lti_launch_replayed_even_with_the_browsers_cookies_is_refused(sec, store):
    sec.app.config["AL_ROSTER_REDIS_URL"] = REDIS_URL if store == "redis" else None
    spent_rows = UsedNonce.select().count()
    try:
        browser = requests.Session()
        result = sec.platform.launch(browser, BO, submit=False)
        before = copy_of(browser)  # state cookie and the session holding the nonce
        first = sec.platform.post_launch(browser, result.launch_url, result.id_token, result.state)
        assert first.status_code == 302

        same_browser = copy_of(before)
        replay = sec.platform.post_launch(same_browser, result.launch_url, result.id_token,
                                          result.state)
        assert replay.status_code == 400 and "This launch was already used" in text(replay)
        assert me(same_browser, sec.base).status_code == 401

        other_browser = requests.Session()
        replay = sec.platform.post_launch(other_browser, result.launch_url, result.id_token,
                                          result.state)
        assert replay.status_code == 400 and me(other_browser, sec.base).status_code == 401
    finally:
        sec.app.config["AL_ROSTER_REDIS_URL"] = None
    # Every spend is written to the database too (Redis, when configured, as well), so a
    # nonce stays single use when Redis comes and goes.
    assert UsedNonce.select().count() == spent_rows + 1


# --- id_token: signature, issuer, audience, expiry, nonce ---------------------------------


@pytest.mark.parametrize(("mode", "accepted"), [
    (None, True),
    ("re-signed", True),  # the relay itself is trusted: the tampering below is what fails
    ("signature", False),
    ("issuer", False),
    ("audience", False),
    ("expired", False),
    ("nonce", False),
    ("no id_token", False),
])
def test_sso_id_token_must_be_signed_for_us_by_the_issuer_unexpired_with_our_nonce(
        sec, mode, accepted):
    sec.relay.mode = mode
    browser = requests.Session()
    answer = browser.get(complete_login(browser, start_sso(sec, browser), "2002"),
                         allow_redirects=False)
    if accepted:
        assert answer.status_code == 302 and me(browser, sec.base).status_code == 200
    else:
        assert answer.status_code == 400
        assert "ClassLink's answer could not be verified." in text(answer)
        assert me(browser, sec.base).status_code == 401


@pytest.mark.parametrize("knobs", [
    {"wrong_key": True},
    {"expired": True},
    {"audience": "another-tool"},
    {"deployment_id": "999"},
    {"nonce": "a-nonce-we-never-issued"},
    {"remove_claims": ["nonce"]},
])
def test_lti_id_token_must_be_signed_unexpired_for_us_from_a_known_deployment(sec, knobs):
    browser = requests.Session()
    answer = sec.platform.launch(browser, BO, **knobs).response
    assert answer.status_code == 400
    assert "could not confirm that this launch came from your ClassLink portal" in text(answer)
    assert me(browser, sec.base).status_code == 401


# --- PKCE ---------------------------------------------------------------------------------


def session_data(sec, browser: requests.Session) -> dict:
    serializer = sec.app.session_interface.get_signing_serializer(sec.app)
    return serializer.loads(browser.cookies["session"])


def test_sso_uses_pkce_s256_with_a_verifier_kept_in_the_session(sec):
    browser = requests.Session()
    query = parse_qs(urlsplit(start_sso(sec, browser)).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["openid profile email oneroster"]
    assert query["nonce"][0] and query["state"][0]
    kept = next(v for k, v in session_data(sec, browser).items() if k.startswith("_state_"))
    verifier = kept["data"]["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert query["code_challenge"] == [challenge.rstrip(b"=").decode()]


def test_an_intercepted_authorization_code_is_useless_in_another_browser(sec):
    victim = requests.Session()
    victims_callback = complete_login(victim, start_sso(sec, victim), "1001")
    code = parse_qs(urlsplit(victims_callback).query)["code"][0]

    attacker = requests.Session()
    own_state = parse_qs(urlsplit(start_sso(sec, attacker)).query)["state"][0]
    injected = f"{sec.base}/roster/classlink/callback?" + urlencode(
        {"code": code, "state": own_state})
    answer = attacker.get(injected, allow_redirects=False)
    assert answer.status_code == 400
    assert me(attacker, sec.base).status_code == 401


# --- no open redirect through next ----------------------------------------------------------

OFF_SITE = ["https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
            "/\t/evil.example", "javascript:alert(1)", "http://127.0.0.1:1/elsewhere",
            "https:evil.example", " //evil.example"]


@pytest.mark.parametrize("next_url", OFF_SITE)
def test_next_never_leads_off_site(sec, next_url):
    answer = dev_sign_in(requests.Session(), sec.base, "t-ada", next_url=next_url)
    assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_same_site_next_is_kept_through_sso_and_dev_sign_in(sec):
    answer = dev_sign_in(requests.Session(), sec.base, "t-ada", next_url="/roster/api/me")
    assert answer.headers["Location"] == "/roster/api/me"
    answer = dev_sign_in(requests.Session(), sec.base, "t-ada", next_url=sec.base + "/x?y=1")
    assert answer.headers["Location"] == sec.base + "/x?y=1"
    browser = requests.Session()
    callback = complete_login(browser, start_sso(sec, browser, "//evil.example"), "1001")
    assert browser.get(callback, allow_redirects=False).headers["Location"] == "/"


# --- session renewed at sign-in ---------------------------------------------------------------


def test_nothing_planted_in_the_session_before_sign_in_survives_it(sec):
    # An attacker takes a session from the site (they know its CSRF token) and plants its
    # cookie in the victim's browser; the victim signs in with it.
    attacker = requests.Session()
    known_token = csrf_from(attacker.get(sec.base + "/roster/dev/login").text)
    victim = copy_of(attacker)
    assert dev_sign_in(victim, sec.base, "t-ada").status_code == 302
    assert victim.cookies["session"] != attacker.cookies["session"]
    assert me(victim, sec.base).status_code == 200

    forged = victim.post(sec.base + "/roster/logout", data={"csrf_token": known_token},
                         allow_redirects=False)
    assert forged.status_code == 400
    assert me(victim, sec.base).status_code == 200


# --- CSRF on every form -------------------------------------------------------------------------

CROSS_SITE_BY_DESIGN = {"al_roster.lti_login", "al_roster.lti_launch"}


def sample_value(rule, argument: str):
    converter = rule._converters[argument]
    return sorted(converter.items)[0] if hasattr(converter, "items") else 1


def test_every_form_post_needs_the_csrf_token(sec):
    browser = requests.Session()
    dev_sign_in(browser, sec.base, "t-ada")
    posts = sorted((rule.endpoint, rule) for rule in sec.app.url_map.iter_rules()
                   if rule.endpoint.startswith("al_roster.") and "POST" in rule.methods
                   and rule.endpoint not in CROSS_SITE_BY_DESIGN)
    assert {"al_roster.dev_login", "al_roster.logout"} <= {endpoint for endpoint, _ in posts}
    for endpoint, rule in posts:
        path = rule.build({arg: sample_value(rule, arg) for arg in rule.arguments},
                          append_unknown=False)[1]
        answer = browser.post(sec.base + path, data={"district": "north", "sourced_id": "s-bo"},
                              allow_redirects=False)
        assert answer.status_code == 400, endpoint
        assert "did not come from this site" in text(answer), endpoint
    assert me(browser, sec.base).json()["sourcedId"] == "t-ada"  # still Ada: nothing happened


def test_the_plugins_forms_carry_the_token(sec):
    browser = requests.Session()
    page = browser.get(sec.base + "/roster/dev/login").text
    token = csrf_from(page)
    assert page.count(f'name="csrf_token" value="{token}"') == page.count("<form method=\"post\"")
    dev_sign_in(browser, sec.base, "t-ada")
    assert csrf_from(browser.get(sec.base + "/roster/logout").text)


# --- tenants -----------------------------------------------------------------------------------


def test_a_tenant_id_of_one_district_with_a_person_of_another_gets_nobody_in(sec):
    browser = requests.Session()
    answer = browser.get(complete_login(browser, start_sso(sec, browser), "3003"),
                         allow_redirects=False)
    assert answer.status_code == 403 and "not in North District's roster" in text(answer)
    sam = LtiPerson(sub="cl-sam", given_name="Sam", family_name="South",
                    email="sam@example.org", person_sourcedid="s-south")
    launched = requests.Session()
    answer = sec.platform.launch(launched, sam).response  # through North's deployment
    assert answer.status_code == 403 and "not in North District's roster" in text(answer)
    assert me(launched, sec.base).status_code == 401
    assert Account.select().where(Account.sourced_id == "s-south").count() == 0
    # Sam does get in through South's own deployment.
    assert sec.platform.launch(requests.Session(), sam, deployment_id="789").response.status_code == 302


# --- dev sign-in stays in development ---------------------------------------------------------


def test_the_app_refuses_to_start_with_dev_sign_in_outside_debug_or_testing(sec, tmp_path):
    with pytest.raises(ConfigurationError, match="AL_ROSTER_DEV_LOGIN"):
        make_app(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path, TESTING=False,
                 AL_ROSTER_DEV_LOGIN=True)
    quiet = make_app(f"sqlite:///{tmp_path / 'y.sqlite3'}", tmp_path)
    assert quiet.test_client().get("/roster/dev/login").status_code == 404
    bind(sec.app)


# --- cookies in production: Secure, SameSite=None behind HTTPS ------------------------------


def test_documented_production_cookie_settings_give_secure_cross_site_cookies(sec):
    """HTTPS behind a proxy (ProxyFix), SESSION_COOKIE_SECURE and SESSION_COOKIE_SAMESITE=None:
    the cookies a cross-site LTI launch needs come back Secure and SameSite=None."""
    app = sec.app
    saved = app.wsgi_app, dict(app.config)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)
    app.config.update(SESSION_COOKIE_SECURE=True, SESSION_COOKIE_SAMESITE="None")
    try:
        answer = app.test_client().post(
            "/roster/lti/login", headers={"X-Forwarded-Proto": "https",
                                          "X-Forwarded-Host": "app.example.org"},
            data={"iss": sec.platform.issuer, "login_hint": "x", "client_id": "tool",
                  "target_link_uri": "https://app.example.org/roster/lti/launch"})
    finally:
        app.wsgi_app = saved[0]
        app.config.clear()
        app.config.update(saved[1])
    assert answer.status_code == 302
    assert "redirect_uri=https%3A%2F%2Fapp.example.org%2Froster%2Flti%2Flaunch" in (
        answer.headers["Location"])
    cookies = {c.split("=", 1)[0]: c for c in answer.headers.getlist("Set-Cookie")}
    assert {"session"} | {n for n in cookies if n.startswith("lti1p3-state-")} == set(cookies)
    assert len(cookies) == 2
    for cookie in cookies.values():
        assert "Secure" in cookie and "SameSite=None" in cookie and "HttpOnly" in cookie
