"""Class import: the JSON API the popup uses, the "Your classes" page and a class's roster.

``GET /api/importable-classes``, ``POST /api/import`` (``{"classes": [sourcedId, ...]}``,
with the ``X-CSRF-Token`` header) and ``GET /api/classes/<id>`` answer 401 when nobody is
signed in and 403 when the signed-in person may not see or import what they asked for
(pages the same, as pages: :mod:`.errors` answers both).
"""
from __future__ import annotations

from functools import wraps

from flask import jsonify, render_template, request, url_for
from flask_login import current_user

from ..errors import AccessDenied, NotSignedIn, Refused
from ..services.class_import import (
    ImportableClass,
    TermGroup,
    check_may_import,
    import_classes,
    importable_classes,
    new_term_reminder,
)
from ..services.class_rosters import (
    ClassRoster,
    Person,
    class_roster,
    classes_of,
    rosters_of,
)
from .auth import required_account
from .blueprint import bp

NOT_SIGNED_IN = NotSignedIn.message
EMPTY_STATE = ("No classes found for you in your district's SIS", (
    "Classes appear here when your district's SIS lists you as their teacher for this term "
    "or an upcoming one. If a class is missing, ask your district's OneRoster administrator "
    "to check its teacher and term; changes arrive with the next nightly sync."))


def signed_in(view):
    """A page or JSON view for signed-in people: anyone else gets 401 (NotSignedIn)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            raise NotSignedIn()
        return view(*args, **kwargs)
    return wrapper


@bp.get("/api/importable-classes")
@signed_in
def api_importable_classes():
    groups = importable_classes(required_account())
    reminder = new_term_reminder(groups)
    return jsonify(
        terms=[_term_json(g) for g in groups],
        reminder=None if reminder is None else {"term": reminder.term,
                                                "message": reminder.message},
        empty=None if groups else {"title": EMPTY_STATE[0], "advice": EMPTY_STATE[1]})


@bp.post("/api/import")
@signed_in
def api_import():
    body = request.get_json(silent=True)
    wanted = body.get("classes") if isinstance(body, dict) else None
    if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted):
        raise Refused(400, 'Send {"classes": [sourcedId, ...]}: the classes to import.',
                      code="bad_request")
    classes = import_classes(required_account(), wanted)
    return jsonify(classes=[_roster_json(r) for r in rosters_of(classes)])


@bp.get("/api/classes/<int:class_id>")
@signed_in
def api_class(class_id: int):
    return jsonify(_roster_json(class_roster(required_account(), class_id)))


@bp.get("/classes")
@signed_in
def classes_page():
    account = required_account()
    may_import = True
    try:
        check_may_import(account)
    except AccessDenied:
        may_import = False
    return render_template("al_roster/import_page.html", title="Your classes",
                           classes=classes_of(account), may_import=may_import)


@bp.get("/classes/<int:class_id>")
@signed_in
def class_page(class_id: int):
    roster = class_roster(required_account(), class_id)
    return render_template("al_roster/class_detail.html", title=roster.imported_class.title,
                           roster=roster)


def _term_json(group: TermGroup) -> dict:
    return {"sourcedId": group.sourced_id, "title": group.title,
            "startDate": group.start_date.isoformat(), "endDate": group.end_date.isoformat(),
            "begun": group.begun, "classes": [_importable_json(c, group) for c in group.classes]}


def _importable_json(klass: ImportableClass, group: TermGroup) -> dict:
    return {"sourcedId": klass.sourced_id, "title": klass.title, "term": group.title,
            "course": klass.course, "school": klass.school, "period": ", ".join(klass.periods),
            "students": klass.students, "imported": klass.imported,
            "importedByColleague": klass.imported_by_colleague}


def _roster_json(roster: ClassRoster) -> dict:
    klass = roster.imported_class
    return {"id": klass.id, "sourcedId": klass.sourced_id, "title": klass.title,
            "status": klass.status, "url": url_for("al_roster.class_page", class_id=klass.id),
            "teachers": [_person_json(p) for p in roster.teachers],
            "students": [_person_json(p) for p in roster.students]}


def _person_json(person: Person) -> dict:
    return {"sourcedId": person.sourced_id, "name": person.name, "signedIn": person.signed_in}
