"""``GET /api/events?after=N&limit=M``: the roster event feed, for the host app's services.

Who may read it: the host's own service, sending ``Authorization: Bearer KEY`` where KEY is
the value of the environment variable named by ``AL_ROSTER_EVENTS_KEY_ENV`` (default
``AL_ROSTER_EVENTS_KEY``; at least 32 characters, else no key is accepted), compared in
constant time; signed-in support staff; and a district's OneRoster administrators, who see
only their own district's events. ``district=SLUG`` narrows the feed for the others.
Anyone else: 401 without a sign-in or key, 403 signed in.

Answer: ``{"events": [...], "next": N}``: ask again with ``after=N`` (the last event's id,
or ``after`` itself when there is nothing new); ``oldest`` is the oldest event still kept.
"""
from __future__ import annotations

import hmac
import os

from flask import current_app, jsonify, request
from flask_login import current_user

from ..errors import DistrictNotFound, NotSignedIn, Refused
from ..models import District
from ..services import access
from ..services.roster_events import DEFAULT_LIMIT, events, oldest_id
from ..settings import roster_state
from .blueprint import bp

MIN_KEY_LENGTH = 32


def _host_key_sent() -> bool:
    expected = os.environ.get(current_app.config["AL_ROSTER_EVENTS_KEY_ENV"] or "", "")
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if len(expected) < MIN_KEY_LENGTH or scheme.lower() != "bearer" or not sent:
        return False
    return hmac.compare_digest(sent.strip().encode(), expected.encode())


def _district_scope() -> int | None:
    """The district whose events the caller may read, or None for every district."""
    if _host_key_sent():
        everything = True
    elif not current_user.is_authenticated:
        raise NotSignedIn("Sign in as support staff, or send the host app's events key as a "
                          "Bearer token.")
    else:
        everything = access.is_staff(current_user, roster_state().staff)
    # A host app's own user is a district's admin through the Account linked to it.
    own = None if everything else access.administered_district_id(current_user,
                                                                   roster_state().staff)
    if not everything and own is None:
        raise Refused(403, "The event feed is for support staff, the host app's services and "
                      "a district's own OneRoster administrators.", code="not_allowed")
    slug = request.args.get("district")
    wanted = District.get_or_none(District.slug == slug) if slug else None
    if everything:
        if slug and wanted is None:
            raise DistrictNotFound(f"No district {slug!r}.")
        return wanted.id if wanted else None
    if slug and (wanted is None or wanted.id != own):
        raise Refused(403, "You can see only your own district's events.", code="not_allowed")
    return own


def _number(name: str, default: int) -> int | None:
    raw = request.args.get(name, str(default)).strip()
    return int(raw) if raw.isdigit() else None


@bp.get("/api/events")
def api_events():
    district_id = _district_scope()
    after, limit = _number("after", 0), _number("limit", DEFAULT_LIMIT)
    if after is None or limit is None:
        raise Refused(400, "after and limit are whole numbers (after: the id of the last "
                      "event you handled, 0 at first).", code="bad_cursor")
    page = events(after=after, limit=limit, district_id=district_id)
    response = jsonify(events=[e.to_dict() for e in page],
                       next=page[-1].id if page else after, oldest=oldest_id())
    response.headers["Cache-Control"] = "no-store"  # it names students
    return response
