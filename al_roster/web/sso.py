"""ClassLink SSO: OpenID Connect, authorization code flow with PKCE (authlib's Flask client).

OpenID Connect Core 1.0 (https://openid.net/specs/openid-connect-core-1_0.html), PKCE
(RFC 7636), authorization server issuer identification (RFC 9207).

``GET /classlink/login`` sends the browser to ClassLink with a state, a nonce and an S256
code challenge (authlib keeps them in the session). ``GET /classlink/callback`` spends the
state once, exchanges the code, validates the id_token (signature against the provider's
key set, issuer, audience, expiry, nonce, which is then spent too), reads ClassLink's user
info (TenantId, SourcedId, UserId) and signs the person in through provisioning.
"""
from __future__ import annotations

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from flask import current_app, request, session, url_for
from joserfc.errors import JoseError

from ..errors import ConfigurationError, RosterError
from ..models import District
from ..services.nonces import spend_for_app
from ..services.provider_documents import (
    Limits,
    ProviderDocuments,
    ProviderUnavailable,
    documents_for,
)
from ..services.provisioning import refuse, sign_in_roster_user
from .auth import complete_sign_in, safe_next
from .blueprint import bp

CLIENT_KEY = "al_roster.classlink"
NEXT_KEY = "al_roster_next"
ID_TOKEN_LEEWAY_SECONDS = 60
TRY_AGAIN = "Open the app again from your ClassLink portal."


class CallbackRejected(RosterError):
    """The callback is not a sign-in we can trust; ``reason`` is logged, the message shown."""

    code = "callback_rejected"
    title = "Sign-in did not work"
    advice = TRY_AGAIN
    log_as = "ClassLink sign-in rejected"

    def __init__(self, reason: str, message: str):
        super().__init__(message, reason=reason)
        self.reason = reason

    @property
    def logged(self) -> str:
        return self.reason


class ClassLinkNotSetUp(ConfigurationError):
    title = "ClassLink sign-in is not set up"
    public_message = "This site cannot sign you in with ClassLink yet."
    log_as = "ClassLink sign-in is not configured"


class ClassLinkApp(FlaskOAuth2App):
    """authlib's client, with ClassLink's discovery document and key set fetched within the
    app's timeouts, kept a while and standing in stale when ClassLink fails to answer
    (:mod:`al_roster.services.provider_documents`), instead of authlib's copy kept forever."""

    def __init__(self, *args, limits: Limits, documents: ProviderDocuments, **kwargs):
        super().__init__(*args, **kwargs)
        self.limits, self.documents = limits, documents

    def load_server_metadata(self):
        # The settings given to the constructor (code_challenge_method) live there too.
        return {**self.server_metadata,
                **self.documents.get(self._server_metadata_url, self.limits)}

    def fetch_jwk_set(self, force=False):
        uri = self.load_server_metadata().get("jwks_uri")
        if not uri:
            raise ProviderUnavailable(self._server_metadata_url, "names no jwks_uri")
        return self.documents.get(uri, self.limits, refresh=force)


def classlink_client() -> ClassLinkApp:
    """This app's ClassLink client, made from its AL_ROSTER_CLASSLINK_* settings (and made
    again when they change)."""
    config = current_app.config
    limits = Limits.from_config(config)
    key = (config["AL_ROSTER_CLASSLINK_CLIENT_ID"], config["AL_ROSTER_CLASSLINK_CLIENT_SECRET"],
           config["AL_ROSTER_CLASSLINK_SERVER_METADATA_URL"],
           config["AL_ROSTER_CLASSLINK_SCOPES"], limits)
    made = current_app.extensions.get(CLIENT_KEY)
    if made is not None and made[0] == key:
        return made[1]
    if not (config["AL_ROSTER_CLASSLINK_CLIENT_ID"]
            and config["AL_ROSTER_CLASSLINK_CLIENT_SECRET"]):
        raise ClassLinkNotSetUp("ClassLink sign-in needs AL_ROSTER_CLASSLINK_CLIENT_ID and "
                                "AL_ROSTER_CLASSLINK_CLIENT_SECRET.")
    client = ClassLinkApp(
        FlaskIntegration("al_roster_classlink"), "al_roster_classlink",
        client_id=config["AL_ROSTER_CLASSLINK_CLIENT_ID"],
        client_secret=config["AL_ROSTER_CLASSLINK_CLIENT_SECRET"],
        server_metadata_url=config["AL_ROSTER_CLASSLINK_SERVER_METADATA_URL"],
        client_kwargs={"scope": config["AL_ROSTER_CLASSLINK_SCOPES"],
                       "default_timeout": limits.timeout},
        code_challenge_method="S256", limits=limits,
        documents=documents_for(current_app),
    )
    current_app.extensions[CLIENT_KEY] = (key, client)
    return client


@bp.get("/classlink/login")
def classlink_login():
    session.pop(NEXT_KEY, None)  # an abandoned sign-in's destination is not this one's
    next_url = safe_next(request.args.get("next"))
    if next_url:
        session[NEXT_KEY] = next_url
    # Not set up (503), ClassLink not answering (503, Retry-After): answered by .errors.
    client = classlink_client()
    return client.authorize_redirect(url_for("al_roster.classlink_callback", _external=True))


@bp.get("/classlink/callback")
def classlink_callback():
    """Signs the person in; a refusal (403, signed out), a callback not to be trusted (400),
    ClassLink not answering or not set up (503) are answered by :mod:`.errors`."""
    next_url = session.get(NEXT_KEY)
    account = _sign_in_from_callback(classlink_client())
    return complete_sign_in(account, next_url)


def _sign_in_from_callback(client: FlaskOAuth2App):
    if request.args.get("error"):
        raise CallbackRejected(f"provider error {request.args['error']}",
                               "ClassLink did not sign you in.")
    _spend_state(client, request.args.get("state") or "")
    token = _exchange_code(client)
    if not spend_for_app("oidc-nonce", token["userinfo"]["nonce"], current_app.config):
        raise CallbackRejected("nonce replayed", "This sign-in was already used.")
    info = _classlink_info(client, token)
    district = _district_of(info)
    return sign_in_roster_user(district, _text(info.get("SourcedId")),
                               classlink_user_id=_text(info.get("UserId")), via="sso")


def _spend_state(client: FlaskOAuth2App, state: str) -> None:
    """The state must be one this browser was given, and is good once (even if the old
    session cookie is sent again)."""
    if not state or client.framework.get_state_data(session, state) is None:
        raise CallbackRejected("unknown state", "This sign-in did not start here, or it "
                               "took too long.")
    if not spend_for_app("oidc-state", state, current_app.config):
        raise CallbackRejected("state replayed", "This sign-in was already used.")
    issuer = client.load_server_metadata().get("issuer")
    sent_issuer = request.args.get("iss")
    if sent_issuer is not None and sent_issuer != issuer:
        raise CallbackRejected(f"issuer mismatch {sent_issuer!r}",
                               "The answer did not come from ClassLink.")


def _exchange_code(client: FlaskOAuth2App) -> dict:
    metadata = client.load_server_metadata()
    if not metadata.get("issuer"):
        raise ClassLinkNotSetUp("ClassLink's discovery document has no issuer.")
    # authlib checks the issuer only when told to, and accepts a foreign "aud" whenever
    # "azp" names us: both are pinned here.
    claims_options = {"iss": {"essential": True, "value": metadata["issuer"]},
                      "aud": {"essential": True, "value": client.client_id},
                      "exp": {"essential": True}, "nonce": {"essential": True}}
    try:
        token = client.authorize_access_token(claims_options=claims_options,
                                              leeway=ID_TOKEN_LEEWAY_SECONDS)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ProviderUnavailable(metadata.get("token_endpoint", "the token endpoint"),
                                  f"token exchange: {type(exc).__name__}") from exc
    except (AuthlibBaseError, JoseError, requests.RequestException, ValueError) as exc:
        raise CallbackRejected(f"token exchange or id_token invalid: {exc!r}",
                               "ClassLink's answer could not be verified.") from exc
    if not token.get("id_token") or not token.get("userinfo"):
        raise CallbackRejected("no id_token", "ClassLink's answer could not be verified.")
    return token


def _classlink_info(client: FlaskOAuth2App, token: dict) -> dict:
    url = current_app.config["AL_ROSTER_CLASSLINK_USERINFO_URL"]
    try:
        response = client.get(url, token=token)
        if response.status_code >= 500:
            raise ProviderUnavailable(url, f"user info: HTTP {response.status_code}")
        response.raise_for_status()
        info = response.json()
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ProviderUnavailable(url, f"user info: {type(exc).__name__}") from exc
    except (AuthlibBaseError, requests.RequestException, ValueError) as exc:
        raise CallbackRejected(f"user info failed: {exc!r}",
                               "ClassLink did not tell us who you are.") from exc
    if not isinstance(info, dict):
        raise CallbackRejected("user info is not an object", "ClassLink did not tell us who "
                               "you are.")
    return info


def _district_of(info: dict) -> District:
    tenant = _text(info.get("TenantId"))
    district = District.get_or_none(District.classlink_tenant_id == tenant) if tenant else None
    if district is None:
        raise refuse("unknown_district", "Your district is not set up for ClassLink sign-in "
                     "here yet.", advice="Your district's OneRoster administrator can ask us "
                     "to set the district up.", tenant=tenant, via="sso")
    return district


def _text(value) -> str | None:
    return None if value is None or value == "" else str(value)
