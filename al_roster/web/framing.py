"""The plugin's pages refuse to be framed, so their one-button forms (approve, undo, import,
sign out) cannot be clickjacked from another site. ``AL_ROSTER_FRAME_ANCESTORS`` may name
origins allowed to frame them (an LMS that embeds the app, say)."""
from __future__ import annotations

import re

from flask import current_app

from ..errors import ConfigurationError
from .blueprint import bp

_ORIGIN = re.compile(r"https://[A-Za-z0-9.-]+(:\d{1,5})?|'self'")


def frame_ancestors(setting: str | None) -> str:
    """The CSP ``frame-ancestors`` value for the setting: ``'none'`` unless origins are named."""
    origins = (setting or "").replace(",", " ").split()
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ConfigurationError(f"AL_ROSTER_FRAME_ANCESTORS lists {origin!r}: name origins "
                                     "as https://host[:port] (or 'self'), separated by spaces.")
    return " ".join(origins) or "'none'"


@bp.after_request
def _refuse_framing(response):
    ancestors = frame_ancestors(current_app.config["AL_ROSTER_FRAME_ANCESTORS"])
    policy = f"frame-ancestors {ancestors}"
    existing = response.headers.get("Content-Security-Policy")
    response.headers["Content-Security-Policy"] = f"{existing}; {policy}" if existing else policy
    if ancestors == "'none'":
        response.headers.setdefault("X-Frame-Options", "DENY")
    elif ancestors == "'self'":
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return response
