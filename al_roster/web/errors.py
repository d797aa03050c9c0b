"""One answer for every :class:`~al_roster.errors.RosterError` that reaches a response.

Registered on the plugin's blueprint, so the host's own views keep their own handling. What
is said comes from the error (its ``status``, ``code``, ``shown`` message, ``title``,
``advice``, ``retry_after``); here is only how it is said:

- a JSON request (under ``<prefix>/api/``, ``/lti/jwks``, ``/health``, or one whose Accept
  prefers JSON) gets ``{"error": code, "message": text}``; the console's API
  (``<prefix>/api/admin/``) has always carried the text under ``error``, and keeps it there,
  the code beside it under ``code``;
- any other gets a page that says what to do (``al_roster/message.html``), or, for an error
  answered when the database is down, a self-contained one that needs nothing of it.

``Retry-After`` goes with ``retry_after``; an error with ``log_as`` is logged (one line, safe
for the log); a refused sign-in (``signs_out``) also signs out whoever was signed in.
"""
from __future__ import annotations

import logging

from flask import current_app, jsonify, render_template, request, session
from flask_login import logout_user

from ..errors import DatabaseUnavailable, RosterError
from ..logsafe import for_log
from .blueprint import bp

log = logging.getLogger(__name__)

#: A page's heading when the error names none.
TITLES = {400: "Not done", 401: "Please sign in", 403: "Not available", 404: "Not found",
          409: "Not done", 429: "Please wait", 503: "Try again in a minute"}


def wants_json() -> bool:
    """Whether this request is answered in JSON (see the module docstring)."""
    prefix = current_app.config["AL_ROSTER_URL_PREFIX"].rstrip("/")
    path = request.path
    if path.startswith(prefix + "/api/") or path in (prefix + "/lti/jwks", prefix + "/health"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > \
        request.accept_mimetypes["text/html"]


def _is_console_api() -> bool:
    prefix = current_app.config["AL_ROSTER_URL_PREFIX"].rstrip("/")
    return request.path.startswith(prefix + "/api/admin/")


def error_response(exc: RosterError):
    """The response for ``exc``: JSON or a page, with its status and headers."""
    if exc.log_as:
        log.log(logging.ERROR if exc.log_level == "error" else logging.WARNING, "%s: %s",
                exc.log_as, for_log(exc.logged, 300))
    if exc.signs_out:
        logout_user()
        session.clear()
    if wants_json():
        if _is_console_api() and not isinstance(exc, DatabaseUnavailable):
            response = jsonify(error=exc.shown, code=exc.code)
        else:
            response = jsonify(error=exc.code, message=exc.shown)
    else:
        response = current_app.make_response(_page(exc))
    response.status_code = exc.status
    response.headers["Cache-Control"] = "no-store"
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _page(exc: RosterError) -> str:
    title = exc.title or TITLES.get(exc.status, "Not done")
    if isinstance(exc, DatabaseUnavailable):
        # Jinja directly, not render_template: Flask's context processors would load the
        # signed-in user, from the database that is down.
        return current_app.jinja_env.get_template("al_roster/unavailable.html").render(
            title=title, message=exc.shown)
    return render_template("al_roster/message.html", title=title, message=exc.shown,
                           advice=exc.advice)


bp.register_error_handler(RosterError, error_response)
