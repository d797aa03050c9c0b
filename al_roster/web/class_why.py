""""Someone missing or wrong?" on an imported class's page, and its JSON twin.

``GET /classes/<id>/why?student=...`` shows the class's page with the answer;
``GET /api/classes/<id>/why?student=...`` answers ``{"answer": code, "text", "fixBy",
"fixer", "message", "reference", ...}``. Both are for the teachers of the class only (401
when nobody is signed in, 403 for anyone else), like ``GET /api/classes/<id>``; being
GETs they need no CSRF token. Each question is kept for support and counted against the
teacher's AL_ROSTER_TEACHER_QUESTIONS per AL_ROSTER_TEACHER_QUESTIONS_MINUTES (429 past it).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, jsonify, render_template, request, url_for

from ..services.class_rosters import class_roster
from ..services.teacher_questions import (
    RateLimit,
    TooManyQuestions,
    check_rate,
    keep_question,
    unique_reference,
)
from ..services.teacher_why import EmptyQuestion, TeacherAnswer, answer_question, check_may_ask
from ..signals import teacher_message_ready
from .auth import required_account
from .blueprint import bp
from .classes import signed_in


@dataclass
class Asked:
    answer: TeacherAnswer
    reference: str

    @property
    def message(self) -> str:
        return self.answer.message(self.reference)


def _limit() -> RateLimit:
    config = current_app.config
    return RateLimit(int(config["AL_ROSTER_TEACHER_QUESTIONS"]),
                     float(config["AL_ROSTER_TEACHER_QUESTIONS_MINUTES"]))


def ask(class_id: int, query: str) -> Asked:
    """Answers a teacher of the class, keeps the question, and tells the host app."""
    account = required_account()
    klass = check_may_ask(account, class_id)
    check_rate(account, _limit())
    answer = answer_question(account, klass, query)
    reference = unique_reference()
    keep_question(account, klass, answer.query, reference=reference, answer=answer.code,
                  student_sourced_id=answer.student_sourced_id,
                  run_id=answer.run.id if answer.run else None)
    asked = Asked(answer, reference)
    teacher_message_ready.send(current_app._get_current_object(), account=account,
                               class_id=klass.id, reference=reference, answer=answer.code,
                               fix_by=answer.fix_by, message=asked.message)
    return asked


@bp.get("/api/classes/<int:class_id>/why")
@signed_in
def api_class_why(class_id: int):
    # An empty question (400) or one too many (429, Retry-After) is answered by .errors.
    return jsonify(_asked_json(ask(class_id, request.args.get("student", ""))))


@bp.get("/classes/<int:class_id>/why")
@signed_in
def class_why(class_id: int):
    query = request.args.get("student", "")
    asked, refused = None, None
    try:
        asked = ask(class_id, query)
    except (EmptyQuestion, TooManyQuestions) as exc:  # said on the class's page, under the box
        refused = exc
    roster = class_roster(required_account(), class_id)
    page = render_template("al_roster/class_detail.html", title=roster.imported_class.title,
                           roster=roster, asked=asked, why_query=query,
                           why_error=refused.message if refused else None)
    if refused is None:
        return page
    headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else {}
    return page, refused.status, headers


def _asked_json(asked: Asked) -> dict:
    answer = asked.answer
    klass = answer.klass
    return {"class": {"id": klass.id, "sourcedId": klass.sourced_id, "title": klass.title},
            "student": answer.query, "answer": answer.code, "text": answer.answer,
            "fixBy": answer.fix_by, "fixer": answer.fixer, "message": asked.message,
            "reference": asked.reference,
            "run": None if answer.run is None else {
                "id": answer.run.id, "status": answer.run.status,
                "date": answer.run.started_at.date().isoformat()},
            "importClasses": url_for("al_roster.classes_page") if answer.show_import else None,
            "matches": answer.matches}
