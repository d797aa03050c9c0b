"""The session's CSRF token: made once per session, and checked against what a request sent
(the ``csrf_token`` form field or the ``X-CSRF-Token`` header). The plugin's routes check it
in :mod:`al_roster.web.csrf`; a host app's own forms may use it through ``al_roster.api``."""
from __future__ import annotations

import hmac
import secrets

from flask import request, session

SESSION_KEY = "al_roster_csrf"


def csrf_token() -> str:
    token = session.get(SESSION_KEY)
    if token is None:
        token = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def token_sent() -> bool:
    """True when the request carries this session's token (form field or header)."""
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get(SESSION_KEY)
    return bool(expected) and hmac.compare_digest(str(sent), expected)
