"""Self-tests of the sign-in test peers (tests/peers), with throwaway clients:
an authlib Flask client against the OpenID Connect provider, and a pylti1p3
Flask tool against the LTI 1.3 platform. No product code is involved."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from authlib.integrations.flask_client import OAuth, OAuthError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, request, url_for
from jwt import PyJWKClient
from peers.loopback import live_server as serve
from peers.lti_platform import (
    LIS_CLAIM,
    ROLES_CLAIM,
    LtiPerson,
    LtiPlatformError,
    read_form,
    run_lti_platform,
)
from peers.oidc_peer import (
    OidcPeerError,
    complete_login,
    require_node,
    run_oidc_provider,
)
from pylti1p3.contrib.flask import (
    FlaskCacheDataStorage,
    FlaskMessageLaunch,
    FlaskOIDCLogin,
    FlaskRequest,
)
from pylti1p3.exception import OIDCException
from pylti1p3.tool_config import ToolConfDict

# --- OpenID Connect (ClassLink SSO) -----------------------------------------

TEACHER = {
    "sub": "1001",
    "email": "ada.teacher@example.org",
    "given_name": "Ada",
    "family_name": "Teacher",
    "info": {
        "TenantId": 456,
        "SourcedId": "t-ada",
        "Role": "Teacher",
        "LoginId": "ada.t",
    },
}
STUDENT = {
    "sub": "2002",
    "email": "bo.student@example.org",
    "given_name": "Bo",
    "family_name": "Student",
    "name": "Bo S.",
    "info": {"TenantId": 456, "SourcedId": "s-bo"},
}


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


@pytest.fixture(scope="module")
def oidc() -> Iterator[SimpleNamespace]:
    """The provider, and a throwaway authlib client app registered with it."""
    require_node()
    app = Flask("oidc_client")
    app.secret_key = secrets.token_hex(16)
    oauth = OAuth(app)
    env = SimpleNamespace()

    @app.get("/login")
    def login():
        return oauth.classlink.authorize_redirect(url_for("callback", _external=True))

    @app.get("/callback")
    def callback():
        try:
            token = oauth.classlink.authorize_access_token()
        except OAuthError as error:
            return jsonify(error=error.error), 400
        info = oauth.classlink.get(env.op.userinfo_url, token=token)
        return jsonify(
            userinfo=dict(token["userinfo"]),
            info=info.json(),
            id_token=token["id_token"],
        )

    with serve(app) as base:
        env.client_base = base
        env.redirect_uri = base + "/callback"
        env.manual_redirect_uri = base + "/manual"
        with run_oidc_provider([env.redirect_uri, env.manual_redirect_uri], [TEACHER, STUDENT]) as op:
            env.op = op
            oauth.register(
                "classlink",
                client_id=op.client_id,
                client_secret=op.client_secret,
                server_metadata_url=op.metadata_url,
                code_challenge_method="S256",
                client_kwargs={"scope": "openid profile email oneroster"},
            )
            yield env


def _authorize_url(env: SimpleNamespace, challenge: str | None, state: str = "st-1") -> str:
    params = {
        "response_type": "code",
        "client_id": env.op.client_id,
        "redirect_uri": env.manual_redirect_uri,
        "scope": "openid profile email",
        "state": state,
        "nonce": "n-1",
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return env.op.authorization_endpoint + "?" + urlencode(params)


def _exchange(env: SimpleNamespace, code: str, verifier: str | None) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": env.manual_redirect_uri,
    }
    if verifier:
        data["code_verifier"] = verifier
    return requests.post(
        env.op.token_endpoint,
        data=data,
        auth=(env.op.client_id, env.op.client_secret),
        timeout=10,
    )


def test_oidc_discovery(oidc):
    metadata = requests.get(oidc.op.metadata_url, timeout=10).json()
    assert metadata["issuer"] == oidc.op.issuer
    assert oidc.op.issuer.startswith("http://127.0.0.1:")
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "profile", "email", "oneroster"} <= set(metadata["scopes_supported"])
    assert metadata["response_types_supported"] == ["code"]
    keys = requests.get(metadata["jwks_uri"], timeout=10).json()["keys"]
    assert [(k["kty"], k["alg"]) for k in keys] == [("RSA", "RS256")]
    assert all("d" not in k for k in keys)


def test_oidc_authlib_code_flow_with_pkce(oidc):
    session = requests.Session()
    start = session.get(oidc.client_base + "/login", allow_redirects=False)
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert start.headers["Location"].startswith(oidc.op.authorization_endpoint + "?")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]

    callback = complete_login(session, start, TEACHER["sub"])
    assert callback.startswith(oidc.redirect_uri + "?")
    assert set(parse_qs(urlsplit(callback).query)) >= {"code", "state"}

    done = session.get(callback)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["userinfo"]["sub"] == "1001"
    assert body["userinfo"]["email"] == TEACHER["email"]
    assert body["userinfo"]["given_name"] == "Ada"
    assert body["userinfo"]["family_name"] == "Teacher"
    assert body["userinfo"]["name"] == "Ada Teacher"
    assert body["userinfo"]["iss"] == oidc.op.issuer
    assert body["userinfo"]["aud"] == oidc.op.client_id
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "RS256"
    assert body["info"] == {
        "UserId": 1001,
        "TenantId": 456,
        "SourcedId": "t-ada",
        "Role": "Teacher",
        "LoginId": "ada.t",
        "Email": "ada.teacher@example.org",
        "FirstName": "Ada",
        "LastName": "Teacher",
        "DisplayName": "Ada Teacher",
        "BuildingId": 0,
    }
    assert body["info"] == oidc.op.info_for("1001")

    # The same callback again: the client's state is spent.
    assert session.get(callback).status_code == 400


def test_oidc_id_token_signed_by_provider_keys(oidc):
    session = requests.Session()
    verifier, challenge = _pkce_pair()
    callback = complete_login(session, _authorize_url(oidc, challenge), STUDENT["sub"])
    code = parse_qs(urlsplit(callback).query)["code"][0]
    tokens = _exchange(oidc, code, verifier)
    assert tokens.status_code == 200, tokens.text
    id_token = tokens.json()["id_token"]
    signing_key = PyJWKClient(oidc.op.issuer + "/oauth2/v2/jwks").get_signing_key_from_jwt(id_token)
    claims = jwt.decode(
        id_token,
        signing_key.key,
        algorithms=["RS256"],
        audience=oidc.op.client_id,
        issuer=oidc.op.issuer,
    )
    assert claims["sub"] == "2002" and claims["nonce"] == "n-1" and claims["name"] == "Bo S."

    info = requests.get(
        oidc.op.userinfo_url,
        headers={"Authorization": "Bearer " + tokens.json()["access_token"]},
        timeout=10,
    )
    assert info.json()["Role"] == "Student" and info.json()["SourcedId"] == "s-bo"
    # A code is good once.
    assert _exchange(oidc, code, verifier).json()["error"] == "invalid_grant"


def test_oidc_pkce_is_required_and_checked(oidc):
    session = requests.Session()
    callback = complete_login(session, _authorize_url(oidc, None), TEACHER["sub"])
    assert parse_qs(urlsplit(callback).query)["error"] == ["invalid_request"]

    _, challenge = _pkce_pair()
    callback = complete_login(requests.Session(), _authorize_url(oidc, challenge), TEACHER["sub"])
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert _exchange(oidc, code, "x" * 43).json()["error"] == "invalid_grant"


def test_oidc_consent_denied_and_unknown_account(oidc):
    _, challenge = _pkce_pair()
    callback = complete_login(
        requests.Session(),
        _authorize_url(oidc, challenge),
        TEACHER["sub"],
        consent=False,
    )
    assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]

    with pytest.raises(OidcPeerError, match="unknown account"):
        complete_login(requests.Session(), _authorize_url(oidc, challenge), "nobody")


def test_oidc_my_info_needs_a_valid_token_and_follows_account_changes(oidc):
    assert requests.get(oidc.op.userinfo_url, timeout=10).status_code == 401
    bad = requests.get(oidc.op.userinfo_url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert bad.status_code == 401

    verifier, challenge = _pkce_pair()
    callback = complete_login(requests.Session(), _authorize_url(oidc, challenge), STUDENT["sub"])
    token = _exchange(oidc, parse_qs(urlsplit(callback).query)["code"][0], verifier).json()
    headers = {"Authorization": "Bearer " + token["access_token"]}
    oidc.op.set_account({**STUDENT, "info": {**STUDENT["info"], "SourcedId": "s-bo-2"}})
    try:
        assert requests.get(oidc.op.userinfo_url, headers=headers, timeout=10).json()["SourcedId"] == "s-bo-2"
    finally:
        oidc.op.set_account(STUDENT)


# --- LTI 1.3 -------------------------------------------------------------------

TEACHER_PERSON = LtiPerson(
    sub="lti-1001",
    given_name="Ada",
    family_name="Teacher",
    email="ada.teacher@example.org",
    person_sourcedid="t-ada",
    roles=("Instructor",),
)


class _DictCache:
    """The cache interface pylti1p3's FlaskCacheDataStorage uses."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, exp=None):
        self.data[key] = value


@pytest.fixture(scope="module")
def lti() -> Iterator[SimpleNamespace]:
    """The platform, and a throwaway pylti1p3 tool registered with it."""
    app = Flask("lti_tool")
    app.secret_key = secrets.token_hex(16)
    cache = _DictCache()
    tool_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tool_kid = "tool-key-1"
    env = SimpleNamespace(tool_key=tool_key, tool_kid=tool_kid)

    def tool_conf() -> ToolConfDict:
        platform = env.platform
        return ToolConfDict(
            {
                platform.issuer: [
                    {
                        "default": True,
                        "client_id": platform.client_id,
                        "auth_login_url": platform.auth_login_url,
                        "auth_token_url": platform.auth_token_url,
                        "key_set_url": platform.key_set_url,
                        "key_set": None,
                        "deployment_ids": [platform.deployment_id],
                    }
                ]
            }
        )

    @app.route("/lti/login", methods=["GET", "POST"])
    def lti_login():
        storage = FlaskCacheDataStorage(cache)
        login = FlaskOIDCLogin(FlaskRequest(), tool_conf(), launch_data_storage=storage)
        try:
            return login.redirect(request.values["target_link_uri"])
        except OIDCException as error:
            return str(error), 400

    @app.post("/lti/launch")
    def lti_launch():
        storage = FlaskCacheDataStorage(cache)
        launch = FlaskMessageLaunch(FlaskRequest(), tool_conf(), launch_data_storage=storage)
        try:
            data = launch.get_launch_data()
        # pylti1p3's ToolConfDict raises a bare Exception for an unknown client id.
        except Exception as error:  # noqa: BLE001
            return jsonify(error=str(error)), 400
        return jsonify(
            sub=data["sub"],
            person_sourcedid=data[LIS_CLAIM]["person_sourcedid"],
            roles=data[ROLES_CLAIM],
            email=data["email"],
            is_instructor=launch.check_teacher_access(),
        )

    @app.get("/lti/jwks")
    def lti_jwks():
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(tool_key.public_key(), as_dict=True)
        return jsonify(keys=[{**jwk, "kid": tool_kid, "alg": "RS256", "use": "sig"}])

    with (
        serve(app) as base,
        run_lti_platform(client_id="tool-1", deployment_id="456") as platform,
    ):
        env.platform = platform
        env.base = base
        platform.configure_tool(
            login_url=base + "/lti/login",
            launch_url=base + "/lti/launch",
            jwks_url=base + "/lti/jwks",
        )
        yield env


def test_lti_jwks_served(lti):
    keys = requests.get(lti.platform.key_set_url, timeout=10).json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["kid"] and "d" not in keys[0]


@pytest.mark.parametrize("login_method", ["POST", "GET"])
def test_lti_launch_accepted_by_pylti1p3_tool(lti, login_method):
    result = lti.platform.launch(requests.Session(), TEACHER_PERSON, login_method=login_method)
    assert result.stage == "launch"
    assert result.response.status_code == 200, result.response.text
    assert result.response.json() == {
        "sub": "lti-1001",
        "person_sourcedid": "t-ada",
        "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
        "email": "ada.teacher@example.org",
        "is_instructor": True,
    }
    assert result.auth_request["redirect_uri"] == lti.base + "/lti/launch"
    assert result.auth_request["response_mode"] == "form_post"
    claims = result.claims
    assert claims["iss"] == lti.platform.issuer and claims["aud"] == "tool-1"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiResourceLinkRequest"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/version"] == "1.3.0"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == "456"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/target_link_uri"] == lti.base + "/lti/launch"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/resource_link"]["id"]
    assert (claims["name"], claims["given_name"], claims["family_name"]) == (
        "Ada Teacher",
        "Ada",
        "Teacher",
    )
    assert claims["nonce"] == result.auth_request["nonce"]


def test_lti_replay_is_returned_for_the_test(lti):
    session = requests.Session()
    result = lti.platform.launch(session, {**TEACHER_PERSON.__dict__, "roles": ["Learner"]})
    assert result.response.json()["is_instructor"] is False
    # pylti1p3 alone accepts a replayed launch from another browser (it does not
    # consume nonces): a tool has to refuse it itself. The peer makes the replay possible.
    again = lti.platform.post_launch(requests.Session(), result.launch_url, result.id_token, result.state)
    assert again.status_code == 200


def test_lti_browser_start_page(lti):
    """The pages a real browser would go through, walked with requests."""
    session = requests.Session()
    start = session.get(lti.platform.browser_launch_url(TEACHER_PERSON, resource_link_id="rl-9"))
    form = read_form(start.text)
    assert form["action"] == lti.base + "/lti/login"
    assert form["fields"]["iss"] == lti.platform.issuer
    assert form["fields"]["login_hint"] == "lti-1001"
    assert form["fields"]["lti_deployment_id"] == "456"
    login = session.post(form["action"], data=form["fields"], allow_redirects=False)
    assert login.headers["Location"].startswith(lti.platform.auth_login_url + "?")
    form = read_form(session.get(login.headers["Location"]).text)
    assert form["action"] == lti.base + "/lti/launch"
    launch = session.post(form["action"], data=form["fields"])
    assert launch.status_code == 200 and launch.json()["person_sourcedid"] == "t-ada"
    claims = jwt.decode(form["fields"]["id_token"], options={"verify_signature": False})
    assert claims["https://purl.imsglobal.org/spec/lti/claim/resource_link"]["id"] == "rl-9"


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"audience": "someone-else"}, "[client_id=someone-else] not found"),
        ({"expired": True}, "expired"),
        ({"wrong_key": True}, "Signature verification failed"),
        ({"deployment_id": "999"}, "Unable to find deployment"),
        ({"nonce": "not-issued"}, "Invalid Nonce"),
    ],
)
def test_lti_tampered_launches_are_rejected_by_the_tool(lti, knobs, message):
    result = lti.platform.launch(requests.Session(), TEACHER_PERSON, **knobs)
    assert result.stage == "launch"
    assert result.response.status_code == 400
    assert message.lower() in result.response.json()["error"].lower()


def test_lti_platform_refuses_unregistered_redirect_uri(lti):
    platform = lti.platform
    platform.configure_tool(
        login_url=lti.base + "/lti/login",
        launch_url=lti.base + "/lti/launch",
        jwks_url=lti.base + "/lti/jwks",
        redirect_uris=[lti.base + "/elsewhere"],
    )
    try:
        with pytest.raises(LtiPlatformError, match="redirect_uri not registered"):
            platform.launch(requests.Session(), TEACHER_PERSON)
    finally:
        platform.configure_tool(
            login_url=lti.base + "/lti/login",
            launch_url=lti.base + "/lti/launch",
            jwks_url=lti.base + "/lti/jwks",
        )


def test_lti_service_token(lti):
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": "tool-1",
            "sub": "tool-1",
            "aud": lti.platform.auth_token_url,
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_hex(8),
        },
        lti.tool_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        algorithm="RS256",
        headers={"kid": lti.tool_kid},
    )
    scope = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
    answer = requests.post(
        lti.platform.auth_token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": scope,
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == scope and answer.json()["token_type"] == "bearer"
