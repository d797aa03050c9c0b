"""The plugin's blueprint: sign-in, class import and the support console."""
from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("al_roster", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")


# Each module adds its routes to ``bp``.
from . import errors  # noqa: E402,F401  (one answer for every RosterError)

# isort: split
from . import admin, admin_privacy, auth, classes, csrf, dev_login, framing, lti, pages, sso  # noqa: E402,F401

# isort: split
from . import admin_questions, class_why  # noqa: E402,F401  (teachers' questions)

# isort: split
from . import events  # noqa: E402,F401  (the roster event feed)

# isort: split
from . import unavailable  # noqa: E402,F401  (database down: 503 pages; GET /health)


def register_web(app: Flask, state) -> None:
    app.register_blueprint(bp, url_prefix=app.config["AL_ROSTER_URL_PREFIX"])
