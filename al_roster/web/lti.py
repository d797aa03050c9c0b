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

from flask import current_app, jsonify, url_for
from pylti1p3.contrib.flask import FlaskOIDCLogin, FlaskRequest
from pylti1p3.exception import LtiException, OIDCException

from ..errors import ConfigurationError, RosterError
from ..services import lti as lti_service
from ..services.provisioning import sign_in_roster_user
from .auth import complete_sign_in
from .blueprint import bp
from .csrf import exempt
from .lti_tool import (
    DEPLOYMENT_CLAIM,
    DatabaseToolConf,
    KeySetNotServed,
    LaunchSessionService,
    LaunchUnverified,
    LoginRefused,
    ToolLaunch,
)

LIS_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/lis"


@bp.route("/lti/login", methods=["GET", "POST"])
@exempt
def lti_login():
    request = FlaskRequest()
    login = FlaskOIDCLogin(request, DatabaseToolConf(),
                           session_service=LaunchSessionService(request))
    try:
        return login.redirect(url_for("al_roster.lti_launch", _external=True))
    except (OIDCException, LtiException) as exc:  # pylti1p3's own, as ours
        raise LoginRefused(str(exc)) from exc


@bp.post("/lti/launch")
@exempt
def lti_launch():
    request = FlaskRequest()
    conf = DatabaseToolConf()
    launch = ToolLaunch(request, conf, session_service=LaunchSessionService(request))
    try:
        claims = launch.get_launch_data()
    except RosterError:
        raise  # replayed (400), the platform's keys out of reach (503): answered by .errors
    except (LtiException, OIDCException) as exc:  # pylti1p3's own, as ours
        raise LaunchUnverified(str(exc)) from exc
    deployment = conf.deployment_of(launch.get_iss(), launch.get_client_id(),
                                    claims[DEPLOYMENT_CLAIM])
    person = claims.get(LIS_CLAIM)
    sourced_id = person.get("person_sourcedid") if isinstance(person, dict) else None
    account = sign_in_roster_user(deployment.district, sourced_id, via="lti")
    return complete_sign_in(account)  # a refusal (403, signed out) is answered by .errors


@bp.get("/lti/jwks")
def lti_jwks():
    try:
        keys = lti_service.published_keys(current_app.config["AL_ROSTER_LTI_KEY_GRACE_MINUTES"])
    except ConfigurationError as exc:
        raise KeySetNotServed(exc.message) from exc
    response = jsonify(keys)
    response.cache_control.max_age = 300
    response.cache_control.public = True
    return response
