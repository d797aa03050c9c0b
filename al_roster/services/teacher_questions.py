"""What teachers asked on their classes' pages, kept for support: each question's district,
class, teacher, answer code, time and reference, and the query as typed (nothing else
typed). The same records make the per-teacher rate limit, so it holds across processes
with or without Redis."""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from ..errors import RosterError
from ..models import Account, District, ImportedClass, TeacherQuestion
from ..models.district import utcnow

#: Longest query kept (and answered); a name, username, e-mail or sourcedId fits.
QUERY_MAX = 200
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone


class TooManyQuestions(RosterError):
    message = ("You have asked many questions in a short time; wait a few minutes and ask "
               "again.")
    code = "too_many_questions"
    status = 429

    @property
    def retry_after(self) -> int | None:
        minutes = self.details.get("retry_minutes")
        return None if minutes is None else int(minutes * 60)


@dataclass(frozen=True)
class RateLimit:
    questions: int
    minutes: float


def new_reference() -> str:
    """A short id a teacher's message quotes and support types into the console."""
    return "Q-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))


def check_rate(teacher: Account, limit: RateLimit, now: dt.datetime | None = None) -> None:
    """Raises :class:`TooManyQuestions` when the teacher has used up the window's questions."""
    since = (now or utcnow()) - dt.timedelta(minutes=limit.minutes)
    asked = (TeacherQuestion.select()
             .where((TeacherQuestion.teacher == teacher.id) & (TeacherQuestion.asked_at >= since))
             .count())
    if asked >= limit.questions:
        raise TooManyQuestions(retry_minutes=limit.minutes)


def keep_question(teacher: Account, klass: ImportedClass, query: str, *, reference: str,
                  answer: str, student_sourced_id: str | None,
                  run_id: int | None) -> TeacherQuestion:
    return TeacherQuestion.create(
        reference=reference, district=teacher.district_id, imported_class=klass.id,
        teacher=teacher.id, query=query[:QUERY_MAX], answer=answer,
        student_sourced_id=student_sourced_id, run_id=run_id)


def find_question(reference: str, districts: list[District]) -> TeacherQuestion | None:
    """The question with this reference, if it belongs to one of ``districts``."""
    if not districts:
        return None
    return (TeacherQuestion.select()
            .where((TeacherQuestion.reference == reference.strip().upper())
                   & TeacherQuestion.district.in_([d.id for d in districts]))
            .first())


def asked_this_week(districts: list[District], now: dt.datetime | None = None,
                    days: int = 7) -> list[dict]:
    """Questions of the last ``days`` days in these districts, grouped by district and
    answer, most asked first; each group with its latest questions."""
    if not districts:
        return []
    since = (now or utcnow()) - dt.timedelta(days=days)
    Q = TeacherQuestion
    rows = (Q.select(Q, ImportedClass, Account)
            .join(ImportedClass, on=(Q.imported_class == ImportedClass.id))
            .switch(Q).join(Account, on=(Q.teacher == Account.id))
            .where(Q.district.in_([d.id for d in districts]) & (Q.asked_at >= since))
            .order_by(Q.asked_at.desc(), Q.id.desc()))
    slugs = {d.id: d.slug for d in districts}
    groups: dict[tuple[str, str], dict] = {}
    for q in rows:
        key = (slugs[q.district_id], q.answer)
        group = groups.setdefault(key, {"district": key[0], "answer": key[1], "count": 0,
                                        "questions": []})
        group["count"] += 1
        if len(group["questions"]) < 20:
            group["questions"].append(question_json(q, key[0]))
    return sorted(groups.values(), key=lambda g: (-g["count"], g["district"], g["answer"]))


def question_json(q: TeacherQuestion, district_slug: str) -> dict:
    klass, teacher = q.imported_class, q.teacher
    return {"reference": q.reference, "district": district_slug, "classId": klass.id,
            "class": klass.title, "classSourcedId": klass.sourced_id, "teacher": teacher.id,
            "teacherName": " ".join(p for p in (teacher.given_name, teacher.family_name) if p),
            "query": q.query, "student": q.student_sourced_id, "answer": q.answer,
            "run": q.run_id, "askedAt": q.asked_at.replace(microsecond=0).isoformat() + "Z"}


def unique_reference() -> str:
    """A reference not given yet (a clash is a one in a trillion event; checked anyway)."""
    while True:
        reference = new_reference()
        if not TeacherQuestion.select().where(TeacherQuestion.reference == reference).exists():
            return reference

