"""When a service the app needs is down: a page that says so, and a health endpoint.

- The database unreachable (or the connection lost mid-request): any page of the app, the
  host's own included, answers 503 with a plain page, "The app cannot reach its database;
  try again in a minute", and ``Retry-After: 60``; a JSON request (the plugin's ``/api/``
  and ``/lti/jwks`` routes, or one that asks for JSON) gets ``{"error":
  "database_unavailable", "message": ...}``. The page is self-contained: it does not extend
  the host's base template, which may itself need the database. The thread's connection is
  discarded, so the next request opens a fresh one: the pool recovers when the database
  returns, with no restart. One warning a minute per process is logged, not one a request.
- ``GET /health``: ``{"status", "database", "redis"}``, each part "ok" or "down" (Redis:
  "not configured" without AL_ROSTER_REDIS_URL). 503 when the database is down; 200
  otherwise, also when only Redis is down, because sign-in goes on without it (launch
  nonces fall back to the database): a load balancer should keep such a web node.
"""
from __future__ import annotations

import logging
import threading
import time

from flask import current_app, jsonify

from ..errors import DatabaseUnavailable
from ..models import database
from ..models.base import discard_connection, unavailable_errors
from ..services import redis_link
from .blueprint import bp
from .errors import error_response

log = logging.getLogger(__name__)

WARN_EVERY_SECONDS = 60.0
_warned = {"at": None}
_warn_lock = threading.Lock()


def database_unavailable(exc: BaseException):
    """The 503 answer (page or JSON) for a database that cannot be reached."""
    discard_connection(database.obj)
    _warn(exc)
    return error_response(DatabaseUnavailable())


def _warn(exc: BaseException) -> None:
    now = time.monotonic()
    with _warn_lock:
        last = _warned["at"]
        if last is not None and now - last < WARN_EVERY_SECONDS:
            return
        _warned["at"] = now
    log.warning("the database is unreachable (%s: %s); answering 503 meanwhile. Said at most "
                "once a minute.", type(exc).__name__, str(exc).strip().splitlines()[0][:200]
                if str(exc).strip() else "")


def _register(app) -> None:
    """App-wide (the host's pages need the database too), unless the host app already
    handles these errors itself."""
    handlers = app.error_handler_spec[None][None]  # defaultdicts: app-wide, by class
    for error in unavailable_errors():
        if error not in handlers:
            app.register_error_handler(error, database_unavailable)


bp.record_once(lambda setup_state: _register(setup_state.app))


@bp.get("/health")
def health():
    """For load balancers: is the database reachable, is Redis (see the module docstring)."""
    database_ok = _database_ok()
    url = current_app.config.get("AL_ROSTER_REDIS_URL")
    if not url:
        redis_state = "not configured"
    else:
        timeout = float(current_app.config.get("AL_ROSTER_REDIS_TIMEOUT", 0.5))
        redis_state = "ok" if redis_link.is_up(url, timeout) else "down"
    status = "down" if not database_ok else ("ok" if redis_state != "down" else "degraded")
    response = jsonify(status=status, database="ok" if database_ok else "down",
                       redis=redis_state)
    response.status_code = 200 if database_ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _database_ok() -> bool:
    db = database.obj
    try:
        db.execute_sql("SELECT 1").fetchone()
        return True
    except unavailable_errors():
        discard_connection(db)
        return False
