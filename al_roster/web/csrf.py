"""CSRF protection for the plugin's forms and JSON writes.

A random token lives in the session; every unsafe request to the blueprint must carry it,
as the ``csrf_token`` form field or the ``X-CSRF-Token`` header. Views that authenticate
the request by other means (the LTI launch: a signed id_token and a state cookie) are
marked with :func:`exempt`.
"""
from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

from .blueprint import bp

SESSION_KEY = "al_roster_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_exempt_views: set[str] = set()


def csrf_token() -> str:
    token = session.get(SESSION_KEY)
    if token is None:
        token = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def exempt(view):
    _exempt_views.add(f"{bp.name}.{view.__name__}")
    return view


@bp.app_context_processor
def _inject_token() -> dict:
    return {"csrf_token": csrf_token}


def token_sent() -> bool:
    """True when the request carries this session's token (form field or header)."""
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get(SESSION_KEY)
    return bool(expected) and hmac.compare_digest(str(sent), expected)


@bp.before_request
def _check_token() -> None:
    if request.method in SAFE_METHODS or request.endpoint in _exempt_views:
        return
    if not token_sent():
        abort(400, description="The form expired or did not come from this site. "
                               "Reload the page and try again.")
