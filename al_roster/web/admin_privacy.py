"""The console's "Delete this district" (staff only): the same purge as
`al-roster district purge SLUG --confirm SLUG`, confirmed by typing the slug.

A page lists what would be deleted; the form posts the CSRF token and the slug typed again.
JSON twin: ``GET /api/admin/districts/<slug>/purge`` (what would go) and ``POST`` with
``{"confirm": slug}`` (the report). A district syncing at the time is not purged (409).
"""
from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ..errors import Refused, RosterError
from ..models import District
from ..services import access
from ..services.purge import purge_district, what_purge_removes
from ..settings import roster_state
from .admin import _district, _staff, _viewer, _who
from .blueprint import bp


def _staff_district(slug: str) -> District:
    viewer = _viewer()
    if not access.is_staff(viewer, _staff()):
        raise Refused(403, "Only support staff can delete a district.")
    return _district(slug)


def _preview(district: District) -> dict:
    return {"district": district.slug, "name": district.name,
            "rows": what_purge_removes(district),
            "dropFolder": (district.source_config or {}).get("directory")
            if district.source_kind == "csv_drop" else None}


def _purge(slug: str, confirm: str) -> dict:
    district = _staff_district(slug)
    if (confirm or "").strip() != district.slug:
        raise Refused(400, f"Type the district's slug ({district.slug}) to confirm; nothing "
                            "was deleted.")
    account = _staff().account(current_user._get_current_object())
    if account is not None and account.district_id == district.id:
        raise Refused(409, "Your own account belongs to this district, so the console cannot "
                            "delete it; use `al-roster district purge` instead.")
    state = roster_state()
    try:
        report = purge_district(district, state.sync_options.storage_dir, by=_who(),
                                staff_ids=state.staff.account_ids)
    except RosterError as exc:
        raise Refused(409, exc.message) from exc
    return report.to_dict()


@bp.get("/api/admin/districts/<slug>/purge")
def api_purge_preview(slug):
    return jsonify(_preview(_staff_district(slug)))


@bp.post("/api/admin/districts/<slug>/purge")
def api_purge(slug):
    data = request.get_json(silent=True) or {}
    return jsonify(_purge(slug, str(data.get("confirm") or "")))


@bp.get("/admin/districts/<slug>/purge")
def admin_purge_page(slug):
    data = _preview(_staff_district(slug))
    return render_template("al_roster/admin_purge.html", title=f"Delete {data['name']}",
                           data=data)


@bp.post("/admin/districts/<slug>/purge")
def admin_purge(slug):
    report = _purge(slug, request.form.get("confirm", ""))
    rows = sum(report["tables"].values())
    files = sum(report["files"].values())
    return redirect(url_for("al_roster.admin_districts",
                            message=f"District {report['district']} was deleted: {rows:,} rows "
                                    f"and {files:,} files (audit record {report['audit']})."))
