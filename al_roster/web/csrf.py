"""CSRF protection for the plugin's forms and JSON writes.

A random token lives in the session; every unsafe request to the blueprint must carry it,
as the ``csrf_token`` form field or the ``X-CSRF-Token`` header. Views that authenticate
the request by other means (the LTI launch: a signed id_token and a state cookie) are
marked with :func:`exempt`.
"""
from __future__ import annotations

from flask import abort, request

from ..services.csrf_tokens import SESSION_KEY, csrf_token, token_sent  # noqa: F401
from .blueprint import bp

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_exempt_views: set[str] = set()


def exempt(view):
    _exempt_views.add(f"{bp.name}.{view.__name__}")
    return view


@bp.app_context_processor
def _inject_token() -> dict:
    return {"csrf_token": csrf_token}


@bp.before_request
def _check_token() -> None:
    if request.method in SAFE_METHODS or request.endpoint in _exempt_views:
        return
    if not token_sent():
        abort(400, description="The form expired or did not come from this site. "
                               "Reload the page and try again.")
