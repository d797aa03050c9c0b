"""What every page of the plugin shares: the base template and friendly error pages."""
from __future__ import annotations

from flask import render_template

from . import bp


def friendly_page(title: str, message: str, status: int, *, advice: str | None = None):
    """A page a person can act on (who to ask, what to check), never a stack trace."""
    return render_template("al_roster/message.html", title=title, message=message,
                           advice=advice), status


@bp.app_template_global("al_roster_base")
def base_template() -> str:
    """The template the plugin's pages extend; a host app may set AL_ROSTER_BASE_TEMPLATE."""
    from flask import current_app
    return current_app.config.get("AL_ROSTER_BASE_TEMPLATE") or "al_roster/base.html"
