"""What every page of the plugin shares: the base template and friendly error pages."""
from __future__ import annotations

from flask import current_app, g, render_template, url_for
from markupsafe import Markup, escape

from .blueprint import bp


def friendly_page(title: str, message: str, status: int, *, advice: str | None = None):
    """A page a person can act on (who to ask, what to check), never a stack trace."""
    return render_template("al_roster/message.html", title=title, message=message,
                           advice=advice), status


DEFAULT_BASE = "al_roster/base.html"
#: What a plugin page inside a host layout links at the top of its ``content`` block.
_STYLESHEETS = ("al_roster.css", "import_dialog.css")


@bp.app_template_global("al_roster_base")
def base_template() -> str:
    """The template the plugin's pages extend; a host app may set AL_ROSTER_BASE_TEMPLATE.

    A host layout must provide ``{% block content %}`` inside ``<body>``; ``title`` (inside
    ``<title>``), ``head`` and ``scripts`` are filled when it has them, and nothing the page
    needs is put there: its stylesheets and scripts come inside ``content``."""
    return current_app.config.get("AL_ROSTER_BASE_TEMPLATE") or DEFAULT_BASE


@bp.app_template_global("al_roster_once")
def once(name: str) -> bool:
    """True the first time a page asks for ``name``: what must be on a page once (the import
    dialog, its script, the stylesheets) is, however many templates ask for it."""
    done = g.setdefault("al_roster_rendered", set())
    if name in done:
        return False
    done.add(name)
    return True


@bp.app_template_global("al_roster_assets")
def assets() -> Markup:
    """The plugin's stylesheets, for a page rendered inside a host layout (once a page)."""
    if base_template() == DEFAULT_BASE or not once("stylesheets"):
        return Markup("")
    return Markup("".join(
        f'<link rel="stylesheet" href="{escape(url_for("al_roster.static", filename=name))}">'
        for name in _STYLESHEETS))
