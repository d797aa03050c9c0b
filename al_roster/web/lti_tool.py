"""pylti1p3, fitted to al_roster: registrations from our tables, nonces spent once.

- :class:`DatabaseToolConf`: pylti1p3's configuration lookup over ``lti_registration`` and
  ``lti_deployment`` (one issuer may have many client ids).
- :class:`LaunchSessionService`: pylti1p3 keeps the nonce it issues at login initiation in
  this browser's session, for ten minutes; the launch must carry one issued here.
  pylti1p3's own shortcut, which trusts any state it has seen validated once together with
  the same id_token, is switched off: the state cookie is always required.
- :class:`ToolLaunch`: after pylti1p3's checks (state, JWT format, nonce, registration,
  signature and expiry, deployment, message), the nonce is spent; a replayed launch (even
  with the cookies of the browser it was meant for) is refused. The platform's key set is
  fetched within the app's timeouts and kept a while (stale while the platform fails); one
  that cannot be had refuses the launch (:class:`PlatformKeysUnavailable`).
"""
from __future__ import annotations

import time

from flask import current_app, session
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskSessionService
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract

from ..errors import ConfigurationError, RosterError
from ..models import LtiDeployment
from ..services import lti as lti_service
from ..services.nonces import spend_for_app
from ..services.provider_documents import Limits, ProviderUnavailable, documents_for

NONCES_KEY = "al_roster_lti_nonces"
NONCE_LIFETIME_SECONDS = 600
MAX_PENDING_NONCES = 8  # launches started in other tabs and not finished yet
DEPLOYMENT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"


TRY_AGAIN = "Open the app again from your ClassLink portal."


class LoginRefused(RosterError):
    """Login initiation from a platform (or with parameters) this tool does not know."""

    code = "lti_login_refused"
    title = "This launch is not set up"
    public_message = "The app does not know the platform that sent you here."
    advice = ("Your district's OneRoster administrator can check the app's LTI registration "
              "in ClassLink.")
    log_as = "LTI login initiation refused"


class LaunchUnverified(RosterError):
    """pylti1p3 refused the launch (state, signature, registration, deployment, message)."""

    code = "lti_launch_unverified"
    title = "The launch could not be checked"
    public_message = "We could not confirm that this launch came from your ClassLink portal."
    advice = TRY_AGAIN
    log_as = "LTI launch refused"


class LaunchReplayed(LtiException, RosterError):
    """A launch whose nonce was spent already. An LtiException too, as pylti1p3 expects."""

    message = "A launch can be used once."
    code = "lti_launch_replayed"
    title = "This launch was already used"
    advice = TRY_AGAIN
    log_as = "LTI launch refused"

    @property
    def logged(self) -> str:
        return "replayed nonce"


class PlatformKeysUnavailable(LtiException, RosterError):
    """The platform's key set could not be fetched and no copy may stand in."""

    code = "lti_platform_keys_unavailable"
    status = 503
    retry_after = 30
    title = "The launch could not be checked"
    public_message = ("Your ClassLink portal did not answer when we asked for the keys that "
                      "prove this launch came from it, so we could not let you in.")
    advice = "Try again in a minute: open the app again from your ClassLink portal."
    log_as = "LTI launch refused"

    def __init__(self, cause: ProviderUnavailable):
        super().__init__(f"platform key set unavailable: {cause}")
        self.cause = cause


class KeySetNotServed(ConfigurationError):
    public_message = "The tool's key set is not available."
    log_as = "LTI key set not served"


class DatabaseToolConf(ToolConfAbstract):
    def __init__(self) -> None:
        super().__init__()
        self.deployments: dict[tuple[str, str, str], LtiDeployment] = {}

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args, **kwargs) -> Registration | None:
        return self.find_registration_by_params(iss, None)

    def find_registration_by_params(self, iss: str, client_id: str | None, *args,
                                    **kwargs) -> Registration | None:
        row = self._launch_deployment(iss, client_id, kwargs.get("jwt_body"))
        row = row.registration if row is not None else lti_service.find_registration(
            iss, client_id)
        if row is None:
            return None
        return (Registration().set_issuer(row.issuer).set_client_id(row.client_id)
                .set_auth_login_url(row.auth_login_url).set_auth_token_url(row.auth_token_url)
                .set_key_set_url(row.key_set_url).set_auth_audience(row.auth_audience))

    def _launch_deployment(self, iss: str, client_id: str | None, jwt_body) -> LtiDeployment | None:
        """At launch the deployment id is known already: registration, deployment and
        district come in one query (and find_deployment_by_params needs none)."""
        deployment_id = (jwt_body or {}).get(DEPLOYMENT_CLAIM)
        if client_id is None or not isinstance(deployment_id, str):
            return None
        row = lti_service.find_deployment(iss, client_id, deployment_id)
        if row is not None:
            self.deployments[(iss, client_id, deployment_id)] = row
        return row

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return None  # every issuer may have many client ids: find_deployment_by_params

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str, *args,
                                  **kwargs) -> Deployment | None:
        row = self.deployments.get((iss, client_id, deployment_id))
        if row is None:
            row = lti_service.find_deployment(iss, client_id, deployment_id)
        if row is None:
            return None
        self.deployments[(iss, client_id, deployment_id)] = row
        return Deployment().set_deployment_id(deployment_id)

    def deployment_of(self, iss: str, client_id: str, deployment_id: str) -> LtiDeployment:
        """The deployment a validated launch came through (its district)."""
        return self.deployments[(iss, client_id, deployment_id)]


class LaunchSessionService(FlaskSessionService):
    def save_nonce(self, nonce: str) -> None:
        now = time.time()
        pending = {n: at for n, at in session.get(NONCES_KEY, {}).items()
                   if now - at < NONCE_LIFETIME_SECONDS}
        pending[nonce] = now
        newest = sorted(pending.items(), key=lambda item: item[1])[-MAX_PENDING_NONCES:]
        session[NONCES_KEY] = dict(newest)

    def check_nonce(self, nonce: str) -> bool:
        pending = dict(session.get(NONCES_KEY, {}))
        issued_at = pending.pop(nonce, None)
        session[NONCES_KEY] = pending
        return issued_at is not None and time.time() - issued_at < NONCE_LIFETIME_SECONDS

    def save_launch_data(self, key, jwt_body) -> None:
        pass  # launches are not resumed later: nothing to keep (and not in a cookie)

    def set_state_valid(self, state: str, id_token_hash: str) -> None:
        pass

    def check_state_is_valid(self, state: str, id_token_hash: str) -> bool:
        return False


class ToolLaunch(FlaskMessageLaunch):
    _refresh_keys = False

    def validate(self) -> ToolLaunch:
        super().validate()
        nonce = self._jwt["body"]["nonce"]
        if not spend_for_app("lti-nonce", nonce, current_app.config):
            self._validated = False
            raise LaunchReplayed()
        return self

    def fetch_public_key(self, key_set_url: str):
        """The platform's key set within the app's timeouts, kept a while, standing in stale
        when the platform fails to answer (:mod:`al_roster.services.provider_documents`)."""
        try:
            return documents_for(current_app).get(key_set_url, Limits.from_config(
                current_app.config), refresh=self._refresh_keys)
        except ProviderUnavailable as exc:
            raise PlatformKeysUnavailable(exc) from exc

    def get_public_key(self):
        """A platform that rotated its key is asked for its key set again, once."""
        self._refresh_keys = False
        try:
            return super().get_public_key()
        except LtiException as exc:
            if "Unable to find public key" not in str(exc) or self._registration is None:
                raise
            self._refresh_keys = True
            self._registration.set_key_set(None)
            return super().get_public_key()
