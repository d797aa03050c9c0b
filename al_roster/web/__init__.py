"""The plugin's blueprint: sign-in, class import and the support console."""
from __future__ import annotations

from flask import Flask

from . import errors  # noqa: F401  (one answer for every RosterError)

# Each module adds its routes to ``bp``.
from .blueprint import bp

# isort: split
from . import admin, admin_privacy, auth, classes, csrf, dev_login, framing, lti, pages, sso  # noqa: F401

# isort: split
from . import admin_questions, class_why  # noqa: F401  (teachers' questions)

# isort: split
from . import events  # noqa: F401  (the roster event feed)

# isort: split
from . import unavailable  # noqa: F401  (database down: 503 pages; GET /health)

__all__ = ["bp", "register_web"]


def register_web(app: Flask, state) -> None:
    app.register_blueprint(bp, url_prefix=app.config["AL_ROSTER_URL_PREFIX"])
