"""The end every sign-in shares, and the account's own routes.

- :func:`complete_sign_in`: a fresh session (nothing from before sign-in survives it), the
  Flask-Login session, then a redirect to a validated same-site ``next`` or the landing page.
- ``GET /api/me``: the signed-in account as JSON (401 when nobody is).
- ``GET|POST /logout``: a sign-out button, and signing out (POST, with the CSRF token).
"""
from __future__ import annotations

import string
from urllib.parse import urlsplit

from flask import current_app, jsonify, redirect, render_template, request, session
from flask_login import current_user, login_user, logout_user

from ..errors import AccessDenied
from ..models import Account, ImportedClass, Membership
from ..services import sessions
from ..settings import roster_state
from .blueprint import bp
from .csrf import csrf_token
from .pages import friendly_page

_UNSAFE_IN_NEXT = set(string.whitespace) | {"\\"} | {chr(c) for c in range(32)} | {"\x7f"}


def safe_next(target: str | None) -> str | None:
    """``target`` if it stays on this site, else None.

    A path must start with one slash (``//host`` is another site); browsers read a
    backslash as a slash and drop tabs and newlines, so those are refused outright.
    An absolute URL must name this very scheme and host.
    """
    if not target or len(target) > 2048 or _UNSAFE_IN_NEXT & set(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        here = urlsplit(request.host_url)
        return target if (parts.scheme, parts.netloc) == (here.scheme, here.netloc) else None
    return target if target.startswith("/") and not target.startswith("//") else None


def landing_target(next_url: str | None) -> str:
    return safe_next(next_url) or current_app.config["AL_ROSTER_LANDING_URL"]


def renew_session() -> None:
    """Start from an empty session, so nothing planted before sign-in outlives it; with a
    server-side session store that can, also under a new session id."""
    session.clear()
    regenerate = getattr(current_app.session_interface, "regenerate", None)
    if callable(regenerate):
        regenerate(session)


def complete_sign_in(account: Account, next_url: str | None = None):
    """Logs in the Account, or the host app's user for it (``user_for_account``)."""
    target = landing_target(next_url)
    renew_session()
    user = roster_state().host_users.user_for(account)
    if user is None:
        return friendly_page("You can't sign in here yet", (
            "This app did not accept your sign-in. Ask your school's support for this app."), 403)
    login_user(user)
    if user is not account:  # the host's user: its session ends as the Account's would
        session[sessions.SESSION_KEY] = sessions.stamp_for_host_user(account)
    return redirect(target)


def signed_in_account() -> Account | None:
    """The roster Account of whoever is signed in: an Account, or a host user's link."""
    user = current_user._get_current_object() if current_user else None
    return roster_state().host_users.account_of(user)


@bp.app_template_global("al_roster_account")
def template_account() -> Account | None:
    """For templates: the signed-in person's roster Account (the macros decide by it)."""
    return signed_in_account()


NOT_LINKED = ("You are signed in to this app, but not through your district's ClassLink, so "
              "your school's roster is not linked to you here. Open the app from your "
              "ClassLink portal.")


def required_account() -> Account:
    """The signed-in person's roster Account; AccessDenied (403) for a host user with none."""
    account = signed_in_account()
    if account is None:
        raise AccessDenied(NOT_LINKED)
    return account


@bp.get("/api/me")
def api_me():
    account = signed_in_account()
    if account is None and current_user.is_authenticated:
        return jsonify(error="not_linked", message=NOT_LINKED), 403
    if account is None:
        return jsonify(error="not_signed_in", message="Nobody is signed in."), 401
    classes = (ImportedClass.select(ImportedClass.id, ImportedClass.sourced_id,
                                    ImportedClass.title)
               .join(Membership)
               .where((Membership.district_id == account.district_id)
                      & (Membership.user_sourced_id == account.sourced_id)
                      & Membership.removed_at.is_null()
                      & (ImportedClass.district == account.district_id)
                      & (ImportedClass.status == "active"))
               .order_by(ImportedClass.title, ImportedClass.id))
    return jsonify(
        account=account.id,
        sourcedId=account.sourced_id,
        role=account.role,
        district=account.district.slug,
        name=account.name,
        email=account.email,
        classes=[{"id": c.id, "sourcedId": c.sourced_id, "title": c.title} for c in classes],
        csrfToken=csrf_token(),  # for JSON clients: send it as X-CSRF-Token on writes
    )


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    next_url = request.values.get("next")
    if request.method == "GET":
        return render_template("al_roster/logout.html", next=safe_next(next_url) or "",
                               signed_in=signed_in_account() is not None)
    logout_user()
    session.clear()
    return redirect(landing_target(next_url))
