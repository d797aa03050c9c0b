"""The support and district console: districts, runs, held-run review, lookup and "why".

Every page has the same data as JSON under ``/api/admin/``. Staff see every district; a
district's OneRoster admins see their own; teachers and students get 403, anonymous 401.
"""
from __future__ import annotations

import csv
import io

from flask import Response, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ..errors import AccessDenied, Conflict, Refused, RosterError
from ..models import Account, District, RunIssue, SyncRun
from ..models.runs import APPLIED, AWAITING_REVIEW, HELD, PARTIAL
from ..services import access, diagnostics
from ..services import districts as district_service
from ..services.retention import approve_refusal, undo_refusal
from ..services.run_review import CHANGE_KINDS, district_runs, review_data, run_changes, shown_of
from ..settings import roster_state
from ..sync.report import run_report
from ..sync.review import approve_run, reject_run, undo_run
from . import district_form
from .blueprint import bp

PAGE_SIZE = 50


def _staff() -> access.StaffPolicy:
    return roster_state().staff


def _viewer():
    if not current_user.is_authenticated:
        raise Refused(401, "Sign in to see the rostering console.")
    if not access.can_use_console(current_user, _staff()):
        raise Refused(403, "The rostering console is for support staff and district "
                            "OneRoster administrators. Ask your district's administrator.")
    return current_user


def _district(slug: str) -> District:
    viewer = _viewer()
    return access.require_district(viewer, district_service.get_district(slug), _staff())


def _run(run_id: int) -> SyncRun:
    run = SyncRun.get_or_none(SyncRun.id == run_id)
    if run is None:
        _viewer()
        raise Refused(404, f"No run {run_id}.")
    _district(run.district.slug)
    return run


def _is_api() -> bool:
    return "/api/admin/" in request.path


def _who() -> str:
    """Who decided, for the run's record: an id no district can forge, then a name to read."""
    user = current_user._get_current_object()
    account = _staff().account(user)
    if isinstance(user, Account):
        return f"account {user.id} ({user.name}, {user.district.slug})"
    linked = f", account {account.id}" if account is not None else ""
    return f"{type(user).__name__} {user.get_id()}{linked}"


# --- data shared by pages and JSON -------------------------------------------------------

def districts_data() -> dict:
    viewer = _viewer()
    options = roster_state().sync_options
    districts = access.permitted_districts(viewer, _staff())
    held = (SyncRun.select().where(SyncRun.status.in_(AWAITING_REVIEW)
                                   & SyncRun.district.in_([d.id for d in districts]))
            .order_by(SyncRun.id.desc())) if districts else []
    return {
        "staff": access.is_staff(viewer, _staff()),
        "heldRuns": [_run_row(r) for r in held],
        "districts": [{**district_service.describe_district(d, options),
                       "contacts": d.contacts} for d in districts],
    }


def _run_row(run: SyncRun) -> dict:
    report = run_report(run, issue_limit=0)
    report.pop("issues")
    return report


def runs_data(slug: str) -> dict:
    district = _district(slug)
    runs = district_runs(district, limit=100)
    runs.sort(key=lambda r: (r.status not in AWAITING_REVIEW, -r.id))
    return {"district": district.slug, "name": district.name,
            "runs": [_run_row(r) for r in runs]}


def run_data(run_id: int) -> dict:
    run = _run(run_id)
    entity = request.args.get("entity") or None
    kind = request.args.get("kind") or None
    page = max(1, request.args.get("page", 1, type=int))
    report = run_report(run, issue_limit=200)
    changes = run_changes(run, entity=entity, kind=kind, limit=PAGE_SIZE,
                          offset=(page - 1) * PAGE_SIZE)
    actions = {HELD: ["approve", "reject"], PARTIAL: ["approve", "reject", "undo"],
               APPLIED: ["undo"]}.get(run.status, [])
    too_old = {APPLIED: undo_refusal, HELD: approve_refusal}.get(run.status, lambda r: None)(run)
    if too_old:  # past the retention window: the console says so instead of offering it
        actions = [a for a in actions if a not in ("undo", "approve")]
    return {**report, "changes": changes, "page": page, "entity": entity, "kind": kind,
            "actions": actions, "decidedBy": run.decided_by, "retentionNote": too_old,
            "review": {**review_data(run), "shownOf": shown_of(run, changes["totals"])}}


def lookup_data() -> dict:
    viewer = _viewer()
    query = request.args.get("q", "")
    districts = access.permitted_districts(viewer, _staff())
    slug = request.args.get("district")
    if slug:
        districts = [d for d in districts if d.slug == slug]
    return {"q": query, "people": diagnostics.lookup(query, districts)}


def person_data(slug: str, sourced_id: str) -> dict:
    detail = diagnostics.person_detail(_district(slug), sourced_id)
    if detail is None:
        raise Refused(404, f"No one with sourcedId {sourced_id} in {slug}'s roster.")
    return detail


def why_data() -> dict | None:
    student = request.args.get("student", "").strip()
    class_ref = request.args.get("class", "").strip()
    slug = request.args.get("district", "").strip()
    if not (student and class_ref and slug):
        if _is_api():
            raise Refused(400, "Give district, student and class.")
        return None
    district = _district(slug)
    # Only staff hear that the person is in another district's roster (and which one); a
    # district's admin gets the answer for someone who exists nowhere.
    staff = access.is_staff(current_user, _staff())
    return diagnostics.why_not_in_class(district, student, class_ref,
                                        may_see_other_districts=staff)


def _act(run_id: int, action: str) -> SyncRun:
    run = _run(run_id)
    options = roster_state().sync_options
    try:
        if action == "approve":
            return approve_run(run, options, by=_who())
        if action == "reject":
            return reject_run(run, by=_who())
        if action == "undo":
            return undo_run(run, options, by=_who())
    except RosterError as exc:  # whatever stopped it, the action was not done
        raise Refused(409, exc.message, code=exc.code) from exc
    abort(404)


def _save_district() -> District:
    """Creates or updates a district from the form or JSON: all of it, or nothing."""
    viewer = _viewer()
    data = (request.get_json(silent=True) if request.is_json else request.form) or {}
    slug = (data.get("slug") or "").strip()
    if not slug:
        raise Refused(400, "A district needs a slug (short name, e.g. springfield).")
    existing = District.get_or_none(District.slug == slug)
    if existing is not None:
        _district(slug)  # one the viewer may see
    by = district_service.Editor(staff=access.is_staff(viewer, _staff()), name=_who())
    try:
        changes = district_form.changes(data)
        if existing is None:
            return district_service.create_district(slug, changes, by=by)
        return district_service.update_district(existing, changes, by=by)
    except AccessDenied as exc:
        raise Refused(403, exc.message) from exc
    except Conflict as exc:
        raise Refused(409, exc.message) from exc
    except RosterError as exc:
        raise Refused(400, exc.message) from exc


# --- JSON ----------------------------------------------------------------------------------

@bp.get("/api/admin/districts")
def api_districts():
    return jsonify(districts_data())


@bp.post("/api/admin/districts")
def api_save_district():
    district = _save_district()
    return jsonify(district_service.describe_district(district))


@bp.get("/api/admin/districts/<slug>/runs")
def api_runs(slug):
    return jsonify(runs_data(slug))


@bp.get("/api/admin/runs/<int:run_id>")
def api_run(run_id):
    return jsonify(run_data(run_id))


@bp.post("/api/admin/runs/<int:run_id>/<any(approve, reject, undo):action>")
def api_run_action(run_id, action):
    run = _act(run_id, action)
    return jsonify(run_report(run, issue_limit=20))


@bp.get("/api/admin/lookup")
def api_lookup():
    return jsonify(lookup_data())


@bp.get("/api/admin/people/<slug>/<path:sourced_id>")
def api_person(slug, sourced_id):
    return jsonify(person_data(slug, sourced_id))


@bp.get("/api/admin/why")
def api_why():
    return jsonify(why_data())


# --- pages ---------------------------------------------------------------------------------

@bp.get("/admin/")
def admin_districts():
    return render_template("al_roster/admin_districts.html", title="Rostering",
                           data=districts_data(), message=request.args.get("message"))


@bp.post("/admin/districts")
def admin_save_district():
    district = _save_district()
    return redirect(url_for("al_roster.admin_districts",
                            message=f"District {district.slug} saved."))


@bp.get("/admin/districts/<slug>/runs")
def admin_runs(slug):
    data = runs_data(slug)
    return render_template("al_roster/admin_runs.html", title=f"Runs of {data['name']}",
                           data=data)


@bp.get("/admin/runs/<int:run_id>")
def admin_run(run_id):
    data = run_data(run_id)
    return render_template("al_roster/admin_run.html", title=f"Run {run_id}", data=data,
                           kinds=CHANGE_KINDS, page_size=PAGE_SIZE,
                           message=request.args.get("message"))


@bp.post("/admin/runs/<int:run_id>/<any(approve, reject, undo):action>")
def admin_run_action(run_id, action):
    run = _act(run_id, action)
    return redirect(url_for("al_roster.admin_run", run_id=run.id,
                            message=f"Run {run.id} is now {run.status}."))


@bp.get("/admin/runs/<int:run_id>/issues.csv")
def admin_run_issues(run_id):
    from ..oneroster.issues import spreadsheet_cell  # no cell of the district's is a formula
    run = _run(run_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["file", "line", "field", "severity", "message", "count"])
    for issue in RunIssue.select().where(RunIssue.run == run).order_by(RunIssue.id):
        writer.writerow(map(spreadsheet_cell, [issue.file, issue.line, issue.field,
                                               issue.severity, issue.message, issue.count]))
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="run-{run.id}-issues.csv"'})


@bp.get("/admin/lookup")
def admin_lookup():
    return render_template("al_roster/admin_lookup.html", title="Roster lookup",
                           data=lookup_data())


@bp.get("/admin/people/<slug>/<path:sourced_id>")
def admin_person(slug, sourced_id):
    data = person_data(slug, sourced_id)
    return render_template("al_roster/admin_person.html", title=data["person"]["sourcedId"],
                           data=data)


@bp.get("/admin/why")
def admin_why():
    viewer = _viewer()
    return render_template("al_roster/admin_why.html", title="Why is a student not in a class?",
                           data=why_data(), args=request.args,
                           districts=access.permitted_districts(viewer, _staff()))
