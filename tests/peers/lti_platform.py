"""An LTI 1.3 platform on loopback (ClassLink's role in an LTI launch), for tests.

It signs real launches with its own RSA key, using the ``lti1p3platform``
package, and serves on 127.0.0.1 (a free port, werkzeug in a thread):

- ``GET  /jwks``       its key set (``key_set_url``)
- ``GET|POST /auth``   the OIDC authorization endpoint (``auth_login_url``): checks
  the tool's authentication request and answers with a form that posts the
  signed ``id_token`` and ``state`` to the tool's redirect_uri
- ``POST /token``      LTI service access tokens (``auth_token_url``), client
  credentials with a JWT assertion checked against the tool's key set
- ``GET  /start/<id>`` a page that posts a login initiation to the tool (for a
  real browser; see :meth:`LtiPlatform.browser_launch_url`)

:meth:`LtiPlatform.launch` plays the browser with a ``requests.Session``: it
sends the login initiation to the tool, follows the tool's redirect to
``/auth`` and posts the id_token to the tool's launch URL, so cookies the tool
set at login initiation come back at launch.

    with run_lti_platform(client_id="tool-1", deployment_id="456") as platform:
        platform.configure_tool(login_url=..., launch_url=..., jwks_url=...)
        result = platform.launch(requests.Session(), teacher)
        result.response  # the tool's answer to the launch
"""

from __future__ import annotations

import contextlib
import html
import re
import secrets
import threading
import time
import typing as t
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, request
from lti1p3platform.exceptions import (
    LtiException,
    MissingRequiredClaim,
    UnsupportedGrantType,
)
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import MessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request as PlatformRequest
from lti1p3platform.request import TRequest
from werkzeug.serving import make_server

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
LIS_CLAIM = CLAIM + "lis"
ROLES_CLAIM = CLAIM + "roles"
MEMBERSHIP_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTITUTION_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"

#: Short role names accepted by :class:`LtiPerson` and the URIs they stand for.
ROLE_URIS = {
    name: MEMBERSHIP_ROLE + name
    for name in ("Instructor", "Learner", "Administrator", "Mentor", "ContentDeveloper")
}

DEFAULT_CLIENT_ID = "al-roster-lti-test"
DEFAULT_DEPLOYMENT_ID = "456"


class LtiPlatformError(RuntimeError):
    """The platform refused the tool's request, or the tool's answer was unusable."""


@dataclass
class LtiPerson:
    """The person a launch is for (``sub`` is also the login_hint)."""

    sub: str
    given_name: str
    family_name: str
    email: str
    person_sourcedid: str | None = None
    roles: Sequence[str] = ("Learner",)  # short names of ROLE_URIS, or full role URIs
    name: str | None = None

    @classmethod
    def of(cls, person: LtiPerson | Mapping[str, t.Any]) -> LtiPerson:
        return person if isinstance(person, LtiPerson) else cls(**person)

    @property
    def full_name(self) -> str:
        return self.name or f"{self.given_name} {self.family_name}".strip()

    @property
    def role_uris(self) -> list[str]:
        return [ROLE_URIS.get(role, role) for role in self.roles]


@dataclass
class LaunchResult:
    """What happened during :meth:`LtiPlatform.launch`.

    ``stage`` is "launch" when the id_token was posted to the tool (``response``
    is the tool's answer to it, None with ``submit=False``), or "login" when the
    tool did not redirect the login initiation to the platform (``response`` is
    then the tool's answer to the login initiation, and there is no id_token).
    """

    stage: str
    response: requests.Response | None
    login_response: requests.Response
    # the query the tool sent to the platform's auth_login_url
    auth_request: dict[str, str] = field(default_factory=dict)
    # the tool's redirect_uri, where id_token and state are posted
    launch_url: str | None = None
    id_token: str | None = None
    state: str | None = None
    # the id_token's payload
    claims: dict[str, t.Any] = field(default_factory=dict)


@dataclass
class _Pending:
    person: LtiPerson
    knobs: dict[str, t.Any]


@dataclass
class _Key:
    private_pem: str
    public_pem: str
    jwk: dict[str, t.Any]

    @classmethod
    def generate(cls) -> _Key:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            .decode()
        )
        return cls(private_pem, public_pem, Registration.get_jwk(public_pem))

    @property
    def kid(self) -> str:
        return self.jwk["kid"]


# --- the lti1p3platform subclasses -------------------------------------------


class _Registration(Registration):
    """A registration whose signing key id can be forced (to sign with another key)."""

    kid_override: str | None = None

    def get_kid(self) -> str | None:
        return self.kid_override or super().get_kid()


class _PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: t.Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: t.Any) -> Registration:
        return self._registration


class _Request(PlatformRequest):
    def build_metadata(self, request: t.Any) -> TRequest:
        return {
            "method": request.method,
            "form_data": request.form.to_dict(),
            "get_data": request.args.to_dict(),
            "headers": dict(request.headers),
            "content_type": request.content_type,
            "path": request.path,
            "json": None,
        }


class _OIDCLogin(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: t.Any) -> None:
        self._lti_message_hint = kwargs["lti_message_hint"]

    def get_redirect(self, url: str) -> str:
        return url


class _MessageLaunch(MessageLaunchAbstract):
    overrides: dict[str, t.Any]
    removals: Iterable[str]

    def get_launch_message(self, include_extra_claims: bool = True) -> dict[str, t.Any]:
        message = super().get_launch_message(include_extra_claims)
        message.update(self.overrides)
        for claim in self.removals:
            message.pop(claim, None)
        return message

    def get_launch_data(self) -> tuple[dict[str, t.Any], str]:
        message, state = super().get_launch_data()
        if "nonce" in self.overrides:
            message["nonce"] = self.overrides["nonce"]
        for claim in self.removals:
            message.pop(claim, None)
        return message, state

    def render_launch_form(self, launch_data: dict[str, t.Any], **kwargs: t.Any) -> dict[str, t.Any]:
        return launch_data


# --- the platform -------------------------------------------------------------


class LtiPlatform:
    """An LTI 1.3 platform serving on 127.0.0.1; see :func:`run_lti_platform`."""

    def __init__(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        deployment_id: str = DEFAULT_DEPLOYMENT_ID,
        *,
        tool_login_url: str | None = None,
        tool_launch_url: str | None = None,
        tool_jwks_url: str | None = None,
        tool_redirect_uris: Iterable[str] | None = None,
        issuer: str | None = None,
    ) -> None:
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.key = _Key.generate()
        self.other_key = _Key.generate()  # for launches "signed by a different key"
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

        self._server = make_server("127.0.0.1", 0, self._make_app(), threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self.issuer = issuer or self.base_url
        self.auth_login_url = self.base_url + "/auth"
        self.auth_token_url = self.base_url + "/token"
        self.key_set_url = self.base_url + "/jwks"

        self.tool_login_url = tool_login_url
        self.tool_launch_url = tool_launch_url
        self.tool_jwks_url = tool_jwks_url
        self.tool_redirect_uris = list(tool_redirect_uris or [])

        self._thread = threading.Thread(target=self._server.serve_forever, name="lti-platform", daemon=True)
        self._thread.start()

    # configuration

    def configure_tool(
        self,
        *,
        login_url: str,
        launch_url: str,
        jwks_url: str | None = None,
        redirect_uris: Iterable[str] | None = None,
    ) -> None:
        """Register the tool: login initiation URL, launch URL (target_link_uri),
        key set URL, and redirect URIs accepted at /auth (default: the launch URL)."""
        self.tool_login_url = login_url
        self.tool_launch_url = launch_url
        self.tool_jwks_url = jwks_url
        self.tool_redirect_uris = list(redirect_uris or [])

    @property
    def allowed_redirect_uris(self) -> list[str]:
        return self.tool_redirect_uris or [u for u in [self.tool_launch_url] if u]

    @property
    def jwks(self) -> dict[str, t.Any]:
        return {"keys": [dict(self.key.jwk)]}

    def tool_conf_dict(self) -> dict[str, t.Any]:
        """This platform as a pylti1p3 ``ToolConfDict`` configuration."""
        return {
            self.issuer: [
                {
                    "default": True,
                    "client_id": self.client_id,
                    "auth_login_url": self.auth_login_url,
                    "auth_token_url": self.auth_token_url,
                    "auth_audience": None,
                    "key_set_url": self.key_set_url,
                    "key_set": None,
                    "deployment_ids": [self.deployment_id],
                }
            ]
        }

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # launches

    def launch(
        self,
        session: requests.Session,
        person: LtiPerson | Mapping[str, t.Any],
        *,
        login_method: str = "POST",
        submit: bool = True,
        follow_redirects: bool = False,
        **knobs: t.Any,
    ) -> LaunchResult:
        """Launch the tool for ``person`` with ``session`` as the browser.

        Knobs (all optional, for negative tests):
          ``deployment_id``   another deployment id (login initiation and claim)
          ``audience``        another aud (and azp) in the id_token
          ``expired``         True: the id_token expired five minutes ago
          ``expires_in``      id_token lifetime in seconds (default 300; 0: no iat/exp)
          ``wrong_key``       True: signed by a key not in the platform's key set,
                              under the platform key's kid
          ``nonce``           this nonce instead of the tool's
          ``target_link_uri`` another target link URI (login initiation and claim)
          ``extra_claims``    claims added to (or replacing those of) the id_token
          ``remove_claims``   claim names left out of the id_token
          ``resource_link_id`` (default "resource-link-1"), ``context`` (dict with
                              id, title, label, type)

        ``login_method`` is how the login initiation is sent (POST or GET).
        ``submit=False`` stops before posting the id_token (the result still has
        it). The last request to the tool does not follow redirects unless
        ``follow_redirects``. Raises LtiPlatformError when the platform refuses
        the tool's authentication request (e.g. an unregistered redirect_uri).
        """
        self._require_tool()
        person = LtiPerson.of(person)
        hint = self._register(person, knobs)
        params = self._login_params(person, hint, knobs)

        if login_method.upper() == "GET":
            login = session.get(self.tool_login_url, params=params, allow_redirects=False, timeout=10)
        else:
            login = session.post(self.tool_login_url, data=params, allow_redirects=False, timeout=10)

        auth_url = _redirect_target(login)
        if auth_url is None or not _same_endpoint(auth_url, self.auth_login_url):
            return LaunchResult(stage="login", response=login, login_response=login)
        auth_request = dict(parse_qsl(urlsplit(auth_url).query))

        auth = session.get(auth_url, allow_redirects=False, timeout=10)
        if auth.status_code != 200:
            raise LtiPlatformError(f"the platform refused the authentication request: {auth.text}")
        form = read_form(auth.text)
        launch_url = urljoin(auth.url, form["action"])
        id_token, state = form["fields"]["id_token"], form["fields"]["state"]
        result = LaunchResult(
            stage="launch",
            response=None,
            login_response=login,
            auth_request=auth_request,
            launch_url=launch_url,
            id_token=id_token,
            state=state,
            claims=jwt.decode(id_token, options={"verify_signature": False}),
        )
        if submit:
            result.response = self.post_launch(
                session, launch_url, id_token, state, follow_redirects=follow_redirects
            )
        return result

    def post_launch(
        self,
        session: requests.Session,
        launch_url: str,
        id_token: str,
        state: str,
        *,
        follow_redirects: bool = False,
    ) -> requests.Response:
        """Post an id_token and state to the tool (a replay, or a hand-made token)."""
        return session.post(
            launch_url,
            data={"id_token": id_token, "state": state},
            allow_redirects=follow_redirects,
            timeout=10,
        )

    def browser_launch_url(self, person: LtiPerson | Mapping[str, t.Any], **knobs: t.Any) -> str:
        """A platform URL whose page posts the login initiation to the tool: open
        it in a real browser to run the whole launch there (same knobs as launch)."""
        self._require_tool()
        person = LtiPerson.of(person)
        return f"{self.base_url}/start/{self._register(person, knobs)}"

    def sign(
        self,
        claims: Mapping[str, t.Any],
        *,
        expires_in: int | None = 300,
        wrong_key: bool = False,
    ) -> str:
        """Sign claims as this platform (iat/exp set unless ``expires_in`` is None)."""
        payload = dict(claims)
        if expires_in is not None:
            now = int(time.time())
            payload.update(iat=now, exp=now + expires_in)
        key = self.other_key if wrong_key else self.key
        return jwt.encode(payload, key.private_pem, algorithm="RS256", headers={"kid": self.key.kid})

    # internals

    def _require_tool(self) -> None:
        if not (self.tool_login_url and self.tool_launch_url):
            raise LtiPlatformError("no tool registered: call configure_tool() first")

    def _register(self, person: LtiPerson, knobs: dict[str, t.Any]) -> str:
        unknown = set(knobs) - _KNOBS
        if unknown:
            raise TypeError(f"unknown launch knobs: {sorted(unknown)}")
        hint = secrets.token_urlsafe(16)
        with self._lock:
            self._pending[hint] = _Pending(person, dict(knobs))
        return hint

    def _registration(self, knobs: Mapping[str, t.Any]) -> _Registration:
        key = self.other_key if knobs.get("wrong_key") else self.key
        registration = _Registration()
        registration.set_iss(self.issuer)
        registration.set_client_id(self.client_id)
        registration.set_deployment_id(knobs.get("deployment_id") or self.deployment_id)
        registration.set_launch_url(knobs.get("target_link_uri") or self.tool_launch_url)
        registration.set_oidc_login_url(self.tool_login_url)
        registration.set_platform_private_key(key.private_pem)
        registration.set_platform_public_key(key.public_pem)
        if self.tool_jwks_url:
            registration.set_tool_key_set_url(self.tool_jwks_url)
        if knobs.get("wrong_key"):
            registration.kid_override = self.key.kid
        return registration

    def _login_params(self, person: LtiPerson, hint: str, knobs: Mapping[str, t.Any]) -> dict[str, str]:
        registration = self._registration(knobs)
        conf = _PlatformConf(registration=registration)
        login = _OIDCLogin(None, conf)
        login.set_lti_message_hint(lti_message_hint=hint)
        url = login.initiate_login(person.sub)
        own = set(dict(parse_qsl(urlsplit(self.tool_login_url).query)))
        return {k: v for k, v in parse_qsl(urlsplit(url).query) if k not in own}

    def _authorize(self, params: Mapping[str, str]) -> tuple[str, str, str]:
        """Check the tool's authentication request; return (redirect_uri, id_token, state)."""
        expected = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": self.client_id,
        }
        for name, value in expected.items():
            if params.get(name) != value:
                raise LtiPlatformError(f"{name} must be {value!r}, got {params.get(name)!r}")
        for name in (
            "redirect_uri",
            "login_hint",
            "lti_message_hint",
            "nonce",
            "state",
        ):
            if not params.get(name):
                raise LtiPlatformError(f"missing {name}")
        if params["redirect_uri"] not in self.allowed_redirect_uris:
            raise LtiPlatformError(f"redirect_uri not registered: {params['redirect_uri']}")
        with self._lock:
            pending = self._pending.get(params["lti_message_hint"])
        if pending is None:
            raise LtiPlatformError("unknown lti_message_hint")
        if params["login_hint"] != pending.person.sub:
            raise LtiPlatformError("login_hint does not match the launch")

        knobs = pending.knobs
        person = pending.person
        conf = _PlatformConf(registration=self._registration(knobs))
        launch = _MessageLaunch(_Request(request), conf)
        launch.set_user_data(person.sub, person.role_uris, person.full_name, person.email)
        launch.set_resource_link_claim(knobs.get("resource_link_id", "resource-link-1"))
        context = knobs.get("context")
        if context:
            launch.set_launch_context_claim(
                context["id"],
                context.get("type"),
                context.get("title"),
                context.get("label"),
            )
        claims: dict[str, t.Any] = {
            "given_name": person.given_name,
            "family_name": person.family_name,
        }
        if person.person_sourcedid is not None:
            claims[LIS_CLAIM] = {"person_sourcedid": person.person_sourcedid}
        launch.set_extra_claims(claims)
        overrides: dict[str, t.Any] = dict(knobs.get("extra_claims") or {})
        if knobs.get("audience"):
            overrides.update(aud=knobs["audience"], azp=knobs["audience"])
        if knobs.get("nonce"):
            overrides["nonce"] = knobs["nonce"]
        launch.overrides = overrides
        launch.removals = list(knobs.get("remove_claims") or ())
        if knobs.get("expired"):
            launch.set_id_token_expiration(-300)
        elif knobs.get("expires_in") is not None:
            launch.set_id_token_expiration(int(knobs["expires_in"]))
        data = launch.lti_launch()
        return data["launch_url"], data["id_token"], data["state"]

    def _make_app(self) -> Flask:
        app = Flask("lti_platform_peer")

        @app.get("/jwks")
        def jwks() -> Response:
            return jsonify(self.jwks)

        @app.route("/auth", methods=["GET", "POST"])
        def auth() -> Response | tuple[str, int]:
            params = request.args if request.method == "GET" else request.form
            try:
                redirect_uri, id_token, state = self._authorize(params.to_dict())
            except LtiPlatformError as error:
                return f"invalid_request: {html.escape(str(error))}", 400
            return Response(
                _autopost(redirect_uri, {"id_token": id_token, "state": state}),
                content_type="text/html",
            )

        @app.get("/start/<hint>")
        def start(hint: str) -> Response | tuple[str, int]:
            with self._lock:
                pending = self._pending.get(hint)
            if pending is None:
                return "unknown launch", 404
            params = self._login_params(pending.person, hint, pending.knobs)
            return Response(_autopost(self.tool_login_url, params), content_type="text/html")

        @app.post("/token")
        def token() -> Response | tuple[Response, int]:
            if not self.tool_jwks_url:
                return jsonify(error="invalid_client", error_description="no tool key set"), 400
            conf = _PlatformConf(registration=self._registration({}))
            try:
                return jsonify(conf.get_access_token(request.form.to_dict()))
            except (
                LtiException,
                MissingRequiredClaim,
                UnsupportedGrantType,
                jwt.PyJWTError,
                KeyError,
                ValueError,
            ) as error:
                return jsonify(error="invalid_request", error_description=str(error)), 400

        return app


_KNOBS = frozenset(
    {
        "deployment_id",
        "audience",
        "expired",
        "expires_in",
        "wrong_key",
        "nonce",
        "target_link_uri",
        "extra_claims",
        "remove_claims",
        "resource_link_id",
        "context",
    }
)


@contextlib.contextmanager
def run_lti_platform(
    client_id: str = DEFAULT_CLIENT_ID,
    deployment_id: str = DEFAULT_DEPLOYMENT_ID,
    **kwargs: t.Any,
) -> Iterator[LtiPlatform]:
    """Run an :class:`LtiPlatform` for the duration of the block (keyword
    arguments: tool_login_url, tool_launch_url, tool_jwks_url,
    tool_redirect_uris, issuer; the tool can also be registered later with
    :meth:`LtiPlatform.configure_tool`)."""
    platform = LtiPlatform(client_id, deployment_id, **kwargs)
    try:
        yield platform
    finally:
        platform.close()


# --- helpers ------------------------------------------------------------------


def _autopost(action: str, fields: Mapping[str, str]) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items()
    )
    return (
        '<!DOCTYPE html><html><body onload="document.forms[0].submit()">'
        f'<form method="post" action="{html.escape(action)}">{inputs}'
        '<noscript><button type="submit">Continue</button></noscript></form></body></html>'
    )


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.form: dict[str, t.Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.form is None:
            self.form = {"action": attributes.get("action", ""), "fields": {}}
        elif tag == "input" and self.form is not None and attributes.get("name"):
            self.form["fields"][attributes["name"]] = attributes.get("value", "")


def read_form(text: str) -> dict[str, t.Any]:
    """The first form of an HTML page: {"action": ..., "fields": {name: value}}."""
    parser = _FormParser()
    parser.feed(text)
    if parser.form is None:
        raise LtiPlatformError(f"no form in the page: {text[:500]}")
    return parser.form


_JS_LOCATION = re.compile(r"""window\.location\s*=\s*["']([^"']+)["']""")


def _redirect_target(response: requests.Response) -> str | None:
    """Where the tool sends the browser: a Location header, or a script redirect."""
    if response.is_redirect:
        return urljoin(response.url, response.headers["Location"])
    if response.status_code == 200 and "html" in response.headers.get("Content-Type", ""):
        match = _JS_LOCATION.search(response.text)
        if match:
            return urljoin(response.url, html.unescape(match.group(1)))
    return None


def _same_endpoint(url: str, endpoint: str) -> bool:
    a, b = urlsplit(url), urlsplit(endpoint)
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)
