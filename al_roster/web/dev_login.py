"""Dev sign-in for the demo: pick a roster person, sign in as them through the same
provisioning as ClassLink sign-ins. Only with AL_ROSTER_DEV_LOGIN on, which the app refuses
unless it runs in debug or testing mode.

``GET /dev/login?district=SLUG`` lists the district's present district administrators
(administrators of an org of type district: they see the support console), teachers, then
students (the
district with slug "demo" by default, else the first); each is a form posting ``district``,
``sourced_id``, ``csrf_token`` and ``next`` to ``POST /dev/login``, whose button is named
"Sign in as <given name> <family name>".
"""
from __future__ import annotations

from flask import abort, current_app, render_template, request

from ..demo.district import DEMO_SLUG
from ..errors import ConfigurationError
from ..models import District, Org, RosterUser, present
from ..services.provisioning import sign_in_roster_user
from .auth import complete_sign_in, safe_next
from .blueprint import bp
from .pages import friendly_page


@bp.record_once
def _refuse_outside_development(setup_state) -> None:
    app = setup_state.app
    if app.config.get("AL_ROSTER_DEV_LOGIN") and not (app.debug or app.testing):
        raise ConfigurationError(
            "AL_ROSTER_DEV_LOGIN lets anyone sign in as anyone: it is allowed only in debug "
            "or testing mode. Turn it off (unset AL_ROSTER_DEV_LOGIN) for this app.")


def _require_dev_login() -> None:
    """Checked on every request, not only at start-up: an app switched out of debug or
    testing mode afterwards (or configured after the blueprint registered) serves nothing."""
    app = current_app
    if not (app.config.get("AL_ROSTER_DEV_LOGIN") and (app.debug or app.testing)):
        abort(404)


def _chosen_district(slug: str | None) -> District | None:
    if slug:
        return District.get_or_none(District.slug == slug)
    return (District.get_or_none(District.slug == DEMO_SLUG)
            or District.select().order_by(District.id).first())


@bp.get("/dev/login")
def dev_login_page():
    _require_dev_login()
    district = _chosen_district(request.args.get("district"))
    if district is None:
        return friendly_page("No such district", "There is no district to sign in to.", 404,
                             advice="`al-roster demo` makes the demo district.")
    people = (present(RosterUser, district.id)
              .where(RosterUser.role.in_(("teacher", "student")))
              .order_by(RosterUser.family_name, RosterUser.given_name, RosterUser.sourced_id))
    groups = {"teacher": [], "student": []}
    for person in people:
        groups[person.role].append(person)
    return render_template("al_roster/dev_login.html", district=district,
                           districts=District.select().order_by(District.name),
                           administrators=_district_administrators(district),
                           teachers=groups["teacher"], students=groups["student"],
                           next=safe_next(request.args.get("next")) or "")


def _district_administrators(district: District) -> list:
    district_orgs = {o.sourced_id for o in present(Org, district.id).where(Org.type == "district")}
    admins = (present(RosterUser, district.id).where(RosterUser.role == "administrator")
              .order_by(RosterUser.family_name, RosterUser.given_name, RosterUser.sourced_id))
    return [a for a in admins if district_orgs & set((a.org_sourced_ids or "").split(","))]


@bp.post("/dev/login")
def dev_login():
    _require_dev_login()
    district = District.get_or_none(District.slug == request.form.get("district", ""))
    if district is None:
        return friendly_page("No such district", "That district does not exist.", 404)
    # A refusal (403, signed out) is answered by .errors, as for ClassLink sign-ins.
    account = sign_in_roster_user(district, request.form.get("sourced_id"), via="dev")
    return complete_sign_in(account, request.form.get("next"))
