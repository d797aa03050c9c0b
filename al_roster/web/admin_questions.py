"""The console's "Asked by teachers this week": what teachers asked on their classes' pages
("Someone missing or wrong?"), grouped by district and answer, so support sees the data
problems teachers meet; and one question found by the reference a teacher's message quotes.

JSON twin: ``GET /api/admin/questions`` (``?reference=Q-...`` for one). Staff see every
district, a district's OneRoster admins their own; anyone else 403, anonymous 401.
"""
from __future__ import annotations

from flask import jsonify, render_template, request

from ..errors import Refused
from ..services import access
from ..services.teacher_questions import asked_this_week, find_question, question_json
from .admin import _staff, _viewer
from .blueprint import bp


def questions_data() -> dict:
    districts = access.permitted_districts(_viewer(), _staff())
    reference = request.args.get("reference", "").strip()
    found = None
    if reference:
        question = find_question(reference, districts)
        if question is None and "/api/admin/" in request.path:
            raise Refused(404, f"No question {reference} in your districts.")
        found = None if question is None else question_json(question, question.district.slug)
    return {"reference": reference, "question": found, "groups": asked_this_week(districts)}


@bp.get("/api/admin/questions")
def api_admin_questions():
    return jsonify(questions_data())


@bp.get("/admin/questions")
def admin_questions():
    return render_template("al_roster/admin_questions.html", title="Asked by teachers this week",
                           data=questions_data())
