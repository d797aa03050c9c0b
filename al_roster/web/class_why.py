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
from . import bp
from .auth import required_account
from .classes import _json_error, api_view, page_view


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
@api_view
def api_class_why(class_id: int):
    try:
        asked = ask(class_id, request.args.get("student", ""))
    except EmptyQuestion as exc:
        return _json_error(400, exc.code, exc.message)
    except TooManyQuestions as exc:
        return _too_many(_json_error(429, exc.code, exc.message))
    return jsonify(_asked_json(asked))


@bp.get("/classes/<int:class_id>/why")
@page_view
def class_why(class_id: int):
    query = request.args.get("student", "")
    asked, error, status = None, None, 200
    try:
        asked = ask(class_id, query)
    except EmptyQuestion as exc:
        error, status = exc.message, 400
    except TooManyQuestions as exc:
        error, status = exc.message, 429
    roster = class_roster(required_account(), class_id)
    page = render_template("al_roster/class_detail.html", title=roster.imported_class.title,
                           roster=roster, asked=asked, why_error=error, why_query=query)
    return (page, status) if status != 429 else _too_many((page, status))


def _too_many(response):
    body, status = response
    minutes = float(current_app.config["AL_ROSTER_TEACHER_QUESTIONS_MINUTES"])
    return body, status, {"Retry-After": str(int(minutes * 60))}


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
