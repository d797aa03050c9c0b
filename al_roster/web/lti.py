"""LTI 1.3 launches from ClassLink (1EdTech LTI Core 1.3, https://www.imsglobal.org/spec/lti/v1p3/).

- ``GET|POST /lti/login``: third-party initiated login. The platform's browser arrives with
  ``iss``, ``login_hint`` and friends; we answer with a redirect to the platform's
  authorization endpoint carrying a state (also set as a cookie) and a nonce (kept in the
  session). CSRF-exempt: it is a cross-site request by design and changes nothing.
- ``POST /lti/launch``: the platform posts the signed id_token and the state. After the
  checks (see :mod:`.lti_tool`) the district comes from the deployment, the person from the
  LIS claim's ``person_sourcedid``, and provisioning decides. CSRF-exempt: the signed
  id_token, the state cookie and the single-use nonce authenticate it.
- ``GET /lti/jwks``: the tool's public keys (current and recently retired).

The launch's roles claim is not used: the roster decides who is a teacher.
"""
from __future__ import annotations

import logging

from flask import current_app, jsonify, url_for
from pylti1p3.contrib.flask import FlaskOIDCLogin, FlaskRequest
from pylti1p3.exception import LtiException, OIDCException

from ..errors import ConfigurationError
from ..logsafe import for_log
from ..services import lti as lti_service
from ..services.provisioning import SignInRefused, sign_in_roster_user
from . import bp
from .auth import complete_sign_in, refusal_page
from .csrf import exempt
from .lti_tool import (
    DEPLOYMENT_CLAIM,
    DatabaseToolConf,
    LaunchReplayed,
    LaunchSessionService,
    PlatformKeysUnavailable,
    ToolLaunch,
)
from .pages import friendly_page

log = logging.getLogger(__name__)

LIS_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/lis"
TRY_AGAIN = "Open the app again from your ClassLink portal."


@bp.route("/lti/login", methods=["GET", "POST"])
@exempt
def lti_login():
    request = FlaskRequest()
    login = FlaskOIDCLogin(request, DatabaseToolConf(),
                           session_service=LaunchSessionService(request))
    try:
        return login.redirect(url_for("al_roster.lti_launch", _external=True))
    except (OIDCException, LtiException) as exc:
        log.warning("LTI login initiation refused: %s", for_log(exc))
        return friendly_page("This launch is not set up", "The app does not know the "
                             "platform that sent you here.", 400,
                             advice="Your district's OneRoster administrator can check the "
                                    "app's LTI registration in ClassLink.")


@bp.post("/lti/launch")
@exempt
def lti_launch():
    request = FlaskRequest()
    conf = DatabaseToolConf()
    launch = ToolLaunch(request, conf, session_service=LaunchSessionService(request))
    try:
        claims = launch.get_launch_data()
    except PlatformKeysUnavailable as exc:
        log.warning("LTI launch refused: %s", for_log(str(exc), 300))
        page, status = friendly_page(
            "The launch could not be checked", "Your ClassLink portal did not answer when "
            "we asked for the keys that prove this launch came from it, so we could not let "
            "you in.", 503, advice="Try again in a minute: open the app again from your "
            "ClassLink portal.")
        return page, status, {"Retry-After": "30"}
    except LaunchReplayed:
        log.warning("LTI launch refused: replayed nonce")
        return friendly_page("This launch was already used", "A launch can be used once.",
                             400, advice=TRY_AGAIN)
    except (LtiException, OIDCException) as exc:
        log.warning("LTI launch refused: %s", for_log(exc))
        return friendly_page("The launch could not be checked", "We could not confirm that "
                             "this launch came from your ClassLink portal.", 400,
                             advice=TRY_AGAIN)
    deployment = conf.deployment_of(launch.get_iss(), launch.get_client_id(),
                                    claims[DEPLOYMENT_CLAIM])
    person = claims.get(LIS_CLAIM)
    sourced_id = person.get("person_sourcedid") if isinstance(person, dict) else None
    try:
        account = sign_in_roster_user(deployment.district, sourced_id, via="lti")
    except SignInRefused as refused:
        return refusal_page(refused)
    return complete_sign_in(account)


@bp.get("/lti/jwks")
def lti_jwks():
    try:
        keys = lti_service.published_keys(current_app.config["AL_ROSTER_LTI_KEY_GRACE_MINUTES"])
    except ConfigurationError as exc:
        log.error("LTI key set not served: %s", exc.message)
        return jsonify(error="The tool's key set is not available."), 503
    response = jsonify(keys)
    response.cache_control.max_age = 300
    response.cache_control.public = True
    return response
