""""Someone missing or wrong?" on a class's page: the console's "why" (services.diagnostics),
answered to a teacher of the class in plain words, with a message ready to send to
whoever can fix it.

The diagnosis is not repeated here: this module finds whom the teacher means, asks
:func:`~al_roster.services.diagnostics.why_not_in_class`, and turns its answer code into the
teacher's words. It also filters: about someone with no tie to the class (no enrollment in
it, ever, nor a place in it) the teacher hears only whether the district's file lists them
as a student and that they are not in this class; never their other classes, school,
e-mail or another district. The two things the console's "why" does not weigh are added
here because they are about the teacher: a newer class of theirs not imported yet, and a
district file held for review.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..errors import AccessDenied, RosterError
from ..models import AcademicSession, Enrollment, ImportedClass, Membership, RosterClass, SyncRun
from ..models.accounts import Account
from ..models.runs import APPLIED, HELD
from . import diagnostics
from .class_import import STUDENT, check_may_import, importable_classes
from .class_rosters import class_roster
from .teacher_questions import QUERY_MAX

DISTRICT, SUPPORT, TEACHER_SELF, NOBODY = "district", "support", "teacher", "nobody"
FIXERS = {
    DISTRICT: "Your district's OneRoster administrator: they change the student's record in "
              "the SIS, and the change arrives with the next nightly sync.",
    SUPPORT: "The app's support team.",
    TEACHER_SELF: "You: import your most recent classes.",
    NOBODY: "Nobody needs to do anything.",
}
#: The diagnosis's codes, as the teacher's answer codes.
FROM_DIAGNOSIS = {
    "user_removed": "removed_from_roster", "class_removed": "class_archived",
    "class_archived": "class_archived", "enrollment_removed": "enrollment_removed",
    "membership_removed": "enrollment_removed", "enrollment_ended": "enrollment_ended",
    "enrollment_not_started": "enrollment_starts", "not_yet_added": "not_yet_added",
    "in_class_not_signed_in": "not_signed_in", "in_class": "in_class",
}
IN_CLASS = ("in_class", "not_signed_in")
#: A run waiting for a reviewer: held whole, or applied with its removals held ("partial").
AWAITING_REVIEW = (HELD, "partial")


class EmptyQuestion(RosterError):
    message = "Type a student's name, username, e-mail or ID."
    code = "student_missing"


@dataclass
class Facts:
    """What the answer rests on, before it is put in words."""

    code: str
    name: str  # the student's name if the teacher may know it, else the query as typed
    sourced_id: str | None = None
    run: SyncRun | None = None
    day: str | None = None
    matches: list[str] = field(default_factory=list)
    underlying: Facts | None = None


@dataclass
class TeacherAnswer:
    code: str
    answer: str
    fix_by: str
    klass: ImportedClass
    query: str
    student_sourced_id: str | None
    run: SyncRun | None
    show_import: bool
    matches: list[str]

    @property
    def fixer(self) -> str:
        return FIXERS[self.fix_by]

    def message(self, reference: str) -> str:
        """The short text for the district's admin or support (or the host's chat)."""
        lines = [f"Roster question {reference}",
                 f"Class: {self.klass.title} ({self.klass.sourced_id})",
                 f"Student (as typed): {self.query}",
                 f"What the roster says: {self.answer}"]
        if self.run is not None:
            lines.append(f"Sync run: {self.run.id} of {_day(self.run.started_at)}"
                         f" ({self.run.status})")
        lines.append(f"Reference for support: {reference}")
        return "\n".join(lines)


def check_may_ask(account: Account | None, class_id: int) -> ImportedClass:
    """The class, if ``account`` is one of its teachers (else AccessDenied or ClassNotFound)."""
    if account is None or account.role != "teacher":
        raise AccessDenied("Only the teachers of this class can ask about its roster.")
    return class_roster(account, class_id).imported_class


def answer_question(account: Account, klass: ImportedClass, query: str,
                    today: dt.date | None = None) -> TeacherAnswer:
    """The teacher's answer to "why is ``query`` not (or so) in ``klass``?"."""
    query = (query or "").strip()[:QUERY_MAX]
    if not query:
        raise EmptyQuestion()
    district = account.district
    today = today or district.today()
    facts = _held(district, _diagnose(account, klass, query, today))
    return TeacherAnswer(
        code=facts.code, answer=_words(facts, klass), fix_by=_fixer(facts), klass=klass,
        query=query, student_sourced_id=facts.sourced_id, run=facts.run,
        show_import=_root(facts).code in ("class_archived", "newer_class_not_imported"),
        matches=facts.matches)


# -- whom the teacher means, and what the diagnosis says ------------------------------------

def _diagnose(account: Account, klass: ImportedClass, query: str, today: dt.date) -> Facts:
    students = [p for p in diagnostics.lookup(query, [account.district])
                if p["role"] == STUDENT]
    if not students:
        return Facts("not_in_roster", query)
    ids = [p["sourcedId"] for p in students]
    tied = _tied_to_class(klass, ids)
    if len(tied) > 1:
        tied = [s for s in tied if _exact(students, s, query)] or tied
    if len(tied) > 1:
        names = sorted(_name(p) for p in students if p["sourcedId"] in tied)
        return Facts("several_match", query, matches=names)
    if not tied:
        return _outside_the_class(account, klass, query, students, today)
    newer = _in_newer_class(account, klass, tied, today)
    person = next(p for p in students if p["sourcedId"] == tied[0])
    found = diagnostics.why_not_in_class(account.district, person["sourcedId"],
                                         klass.sourced_id, today=today)
    facts = _from_diagnosis(found, person)
    if facts.code not in IN_CLASS and newer:
        return Facts("newer_class_not_imported", facts.name, facts.sourced_id,
                     underlying=facts)
    return facts


def _outside_the_class(account: Account, klass: ImportedClass, query: str,
                       students: list[dict], today: dt.date) -> Facts:
    """No tie to the class: whether the district's file lists them, and nothing more."""
    listed = [p["sourcedId"] for p in students if p["present"]]
    if not listed:  # removed from the roster: the file no longer lists them
        return Facts("not_in_roster", query)
    if _in_newer_class(account, klass, listed, today):
        return Facts("newer_class_not_imported", query)
    if len(students) >= diagnostics.LOOKUP_LIMIT:  # the class's student may be past the cut
        return Facts("several_match", query)
    return Facts("not_in_class", query)


def _from_diagnosis(found: dict, person: dict) -> Facts:
    code = FROM_DIAGNOSIS.get(found["reason"], "not_in_class")
    run = None
    if found.get("run") is not None:
        run = SyncRun.get_or_none(SyncRun.id == found["run"])
    day = found.get("endDate") or found.get("beginDate")
    if day is None and run is not None:
        day = _day(run.started_at)
    return Facts(code, _name(person), person["sourcedId"], run=run, day=day)


def _tied_to_class(klass: ImportedClass, sourced_ids: list[str]) -> list[str]:
    """Those of ``sourced_ids`` with an enrollment in the class (even removed) or a place in
    the imported class (even removed): the people a teacher of the class may hear about."""
    E, M = Enrollment, Membership
    enrolled = (E.select(E.user_sourced_id)
                .where((E.district_id == klass.district_id)
                       & (E.class_sourced_id == klass.sourced_id) & (E.role == STUDENT)
                       & E.user_sourced_id.in_(sourced_ids)))
    placed = (M.select(M.user_sourced_id)
              .where((M.imported_class == klass.id) & (M.role == STUDENT)
                     & M.user_sourced_id.in_(sourced_ids)))
    found = {r.user_sourced_id for r in enrolled} | {r.user_sourced_id for r in placed}
    return [s for s in sourced_ids if s in found]


def _in_newer_class(account: Account, klass: ImportedClass, sourced_ids: list[str],
                    today: dt.date) -> bool:
    """Whether one of them is enrolled in a class this teacher teaches, in a term that has
    begun and began after this class's, that the teacher has not imported: last semester's
    class page, this semester's class still to import."""
    started = _term_start(klass)
    try:
        check_may_import(account)
    except AccessDenied:
        return False
    if started is None:
        return False
    waiting = [c.sourced_id for g in importable_classes(account, today) for c in g.classes
               if g.begun and g.start_date > started and not c.imported]
    if not waiting:
        return False
    E = Enrollment
    return (E.select().where((E.district_id == account.district_id)
                             & E.class_sourced_id.in_(waiting) & (E.role == STUDENT)
                             & E.user_sourced_id.in_(sourced_ids) & E.removed_run_id.is_null()
                             & (E.end_date.is_null() | (E.end_date >= today)))
            .exists())


def _term_start(klass: ImportedClass) -> dt.date | None:
    """When the latest of the class's terms began (None when the roster does not say)."""
    cls = RosterClass.get_or_none((RosterClass.district_id == klass.district_id)
                                  & (RosterClass.sourced_id == klass.sourced_id))
    terms = [t for t in ((cls.term_sourced_ids or "").split(",") if cls else []) if t]
    if not terms:
        return None
    S = AcademicSession
    starts = [s.start_date for s in S.select(S.start_date).where(
        (S.district_id == klass.district_id) & S.sourced_id.in_(terms)) if s.start_date]
    return max(starts) if starts else None


def _held(district, facts: Facts) -> Facts:
    """A newer file waiting for review may change the answer: say so first."""
    if facts.code in IN_CLASS + ("several_match",):
        return facts
    latest = (SyncRun.select().where((SyncRun.district == district.id)
                                     & SyncRun.status.in_([APPLIED, *AWAITING_REVIEW]))
              .order_by(SyncRun.id.desc()).first())
    if latest is None or latest.status not in AWAITING_REVIEW:
        return facts
    return Facts("held_for_review", facts.name, facts.sourced_id, run=latest,
                 day=_day(latest.started_at), underlying=facts)


def _exact(students: list[dict], sourced_id: str, query: str) -> bool:
    low = query.lower()
    person = next(p for p in students if p["sourcedId"] == sourced_id)
    return low in {(person["sourcedId"] or "").lower(), (person["username"] or "").lower(),
                   (person["email"] or "").lower(), _name(person).lower()}


def _name(person: dict) -> str:
    name = " ".join(p for p in (person["givenName"], person["familyName"]) if p)
    return name or person["sourcedId"]


def _root(facts: Facts) -> Facts:
    return facts if facts.underlying is None else _root(facts.underlying)


def _day(value) -> str | None:
    return value.date().isoformat() if value else None


# -- the teacher's words ------------------------------------------------------------------

#: Who can fix each answer; any other answer is the district's SIS data.
FIX_BY = {"held_for_review": SUPPORT, "not_signed_in": SUPPORT, "in_class": SUPPORT,
          "several_match": NOBODY, "not_yet_added": NOBODY,
          "newer_class_not_imported": TEACHER_SELF}


def _fixer(facts: Facts) -> str:
    return FIX_BY.get(facts.code, DISTRICT)


def _words(facts: Facts, klass: ImportedClass) -> str:
    if facts.underlying is not None and facts.code == "held_for_review":
        return (f"Your district's latest file (of {facts.day}) is held for review: a change "
                "is waiting for the district and support to approve it, and this class's "
                "roster stays as it was until then. As the roster stands: "
                + _words(facts.underlying, klass))
    return _SENTENCES[facts.code](facts, klass.title)


def _called(query: str) -> str:
    if "@" in query or any(c.isdigit() for c in query):
        return f"anyone with the name, username, e-mail or ID \u201c{query}\u201d"
    return f"anyone called {query}"


_SENTENCES = {
    "not_in_roster": lambda f, t: (
        f"Your district's SIS did not send {_called(f.name)} in last night's file. Check "
        "the spelling, or ask your district's OneRoster administrator to check the "
        "student's record in the SIS."),
    "not_in_class": lambda f, t: (
        f"Your district's file lists \u201c{f.name}\u201d as a student, but not in {t}. "
        "To add them, your district enrolls them in this class in the SIS."),
    "several_match": lambda f, t: (
        (f"Several students of {t} match \u201c{f.name}\u201d: {', '.join(f.matches)}. "
         if f.matches else f"Many students match \u201c{f.name}\u201d. ")
        + "Type the full name, username or e-mail."),
    "removed_from_roster": lambda f, t: (
        f"{f.name} is no longer in your district's roster: the district's file of {f.day} "
        "did not list them."),
    "enrollment_removed": lambda f, t: (
        f"{f.name}'s enrollment in {t} was removed by your district's file of {f.day}: "
        "the SIS no longer lists them in this class. Their work is kept and comes back if "
        "the enrollment does."),
    "enrollment_ended": lambda f, t: (
        f"{f.name}'s enrollment in {t} ended on {f.day}, as the district's SIS says."),
    "enrollment_starts": lambda f, t: (
        f"{f.name}'s enrollment in {t} starts on {f.day}, as the district's SIS says; they "
        "are added to the class on that day."),
    "not_yet_added": lambda f, t: (
        f"{f.name} is enrolled in {t} in the SIS and is added to the class with the next "
        "sync."),
    "not_signed_in": lambda f, t: (
        f"{f.name} is on this class's roster but has not signed in yet: they join by "
        "opening the app from ClassLink, and see the class straight away."),
    "in_class": lambda f, t: (
        f"{f.name} is in {t} and has signed in. If they still cannot see the class, "
        "support can look into their sign-in."),
    "class_archived": lambda f, t: (
        f"{t} is archived: your district's SIS no longer lists this class, so its roster "
        "no longer changes. Make sure your most recent classes have been imported."),
    "newer_class_not_imported": lambda f, t: (
        f"\u201c{f.name}\u201d is in one of your newer classes that you have not imported "
        "yet. Make sure your most recent classes have been imported."),
}
