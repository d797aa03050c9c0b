"""Teachers importing their SIS classes: which classes they may import, and the import.

A teacher may import a class they teach in the roster copy (a present teacher enrollment in
a present class) whose terms have not all ended: the current and upcoming terms. Importing
makes the class once per district (insert-or-get on ``(district, sourcedId)``, so two teachers
importing at once make one class), adds the teacher, and brings the roster along through
:func:`~al_roster.sync.reconcile.reconcile_imported_classes`, the same set-based rule the
nightly sync follows. A co-teacher importing a class a colleague already imported joins it.

Imported classes have no class code and their roster is the SIS's: :func:`join_by_code` and
:func:`change_roster` are the refusals a host app shows when someone tries otherwise.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NoReturn

import peewee

from ..errors import AccessDenied, RosterError
from ..models import (
    AcademicSession,
    Account,
    Course,
    Enrollment,
    ImportedClass,
    Membership,
    Org,
    RosterClass,
    RosterUser,
    database,
)
from ..models.classes import ACTIVE
from ..models.current import CURRENT_STUDENT
from ..models.events import CLASS_IMPORTED
from ..sync.change_events import stage_class_events, stage_joins
from ..sync.events import publishing
from ..sync.reconcile import reconcile_imported_classes

TEACHER, STUDENT = "teacher", "student"
#: More than any teacher teaches; a request naming more is refused rather than queried.
MAX_CLASSES_PER_IMPORT = 200


class ManagedBySis(RosterError):
    """An imported class's membership is the SIS's to change, not the app's."""

    message = "This class is managed by your district's SIS: sign in through ClassLink to join."
    code = "managed_by_sis"
    status = 403


ROSTER_FROM_SIS = ("Students are added to and removed from this class in your district's SIS; "
                   "the change arrives with the next nightly sync.")


@dataclass
class ImportableClass:
    sourced_id: str
    title: str
    course: str | None
    school: str | None
    periods: list[str]
    term_ids: list[str]
    students: int = 0
    imported: bool = False
    #: Imported by a colleague but not (yet) by this teacher: importing joins it.
    imported_by_colleague: bool = False


@dataclass
class TermGroup:
    sourced_id: str
    title: str
    start_date: dt.date
    end_date: dt.date
    begun: bool
    classes: list[ImportableClass] = field(default_factory=list)

    @property
    def not_imported(self) -> list[ImportableClass]:
        return [c for c in self.classes if not c.imported]


@dataclass
class Reminder:
    """A term has begun and the teacher has classes in it not imported yet."""

    term: str
    classes: int

    @property
    def message(self) -> str:
        noun = "class" if self.classes == 1 else "classes"
        return (f"{self.term} has begun. Teachers import their classes every semester: you have "
                f"{self.classes} {noun} in {self.term} not imported yet.")


def check_may_import(account: Account) -> None:
    """Only teachers import, and only where the district has rostering switched on."""
    if account.role == STUDENT:
        raise AccessDenied("Importing classes is for teachers. Your classes appear by "
                           "themselves when you open the app from ClassLink.")
    if account.role != TEACHER:
        raise AccessDenied("Importing classes is for teachers: they import the classes "
                           "they teach.")
    if not account.district.can_use_rostering:
        raise AccessDenied("Class import from the SIS is not enabled for your district; "
                           "your district's administrator can ask for it.")


def importable_classes(account: Account, today: dt.date | None = None) -> list[TermGroup]:
    """The classes the teacher teaches in current and upcoming terms, grouped by term.

    A class spanning several terms (a year-long class) is listed once, under the earliest of
    its terms that has not ended.
    """
    check_may_import(account)
    today = today or account.district.today()
    classes = _taught_classes(account)
    terms = _terms(account.district_id, {t for c in classes for t in c.term_ids})
    groups: dict[str, TermGroup] = {}
    for klass in classes:
        open_terms = [terms[t] for t in klass.term_ids if t in terms and terms[t].end_date >= today]
        if not open_terms:
            continue
        term = min(open_terms, key=lambda s: (s.start_date, s.sourced_id))
        group = groups.get(term.sourced_id)
        if group is None:
            group = groups[term.sourced_id] = TermGroup(
                term.sourced_id, term.title or term.sourced_id, term.start_date, term.end_date,
                term.start_date <= today)
        group.classes.append(klass)
    offered = [c for g in groups.values() for c in g.classes]
    _count_students(account.district_id, offered, today)
    _mark_imported(account, offered)
    for group in groups.values():
        group.classes.sort(key=_class_order)
    return sorted(groups.values(), key=lambda g: (g.start_date, g.title))


def new_term_reminder(groups: Iterable[TermGroup]) -> Reminder | None:
    """The reminder to show, if a term has begun and has classes not imported yet."""
    for group in groups:
        if group.begun and group.not_imported:
            return Reminder(group.title, len(group.not_imported))
    return None


def import_classes(account: Account, sourced_ids: Iterable[str],
                   today: dt.date | None = None) -> list[ImportedClass]:
    """Imports the named classes with their rosters; importing again changes nothing.

    Raises :class:`AccessDenied` unless every class is one the teacher may import.
    """
    wanted = list(dict.fromkeys(sourced_ids))
    if len(wanted) > MAX_CLASSES_PER_IMPORT:
        raise AccessDenied(f"Import at most {MAX_CLASSES_PER_IMPORT} classes at a time.")
    offered = {c.sourced_id: c for g in importable_classes(account, today) for c in g.classes}
    refused = [s for s in wanted if s not in offered]
    if refused:
        raise AccessDenied("You can import only classes you teach in your district, this term "
                           f"or an upcoming one; not: {', '.join(refused[:10])}.",
                           refused=refused)
    if not wanted:
        return []
    db = database.obj
    with publishing(db):  # the classes, their rosters and events, sent once committed
        _insert_classes(account, [offered[s] for s in wanted])
        classes = list(ImportedClass.select().where(
            (ImportedClass.district == account.district_id)
            & ImportedClass.sourced_id.in_(wanted)))
        _join_as_teacher(account, classes)
        reconcile_imported_classes(db, account.district_id, None,
                                   class_ids=[c.id for c in classes],
                                   today=today or account.district.today())
    order = {s: i for i, s in enumerate(wanted)}
    return sorted(classes, key=lambda c: order[c.sourced_id])


def join_by_code(imported_class: ImportedClass | None = None) -> NoReturn:
    """What a host app answers when someone tries to join an imported class by code."""
    raise ManagedBySis()


def change_roster(imported_class: ImportedClass) -> NoReturn:
    """What a host app answers to an attempt to add or remove a student by hand."""
    raise ManagedBySis(ROSTER_FROM_SIS)


# -- queries ---------------------------------------------------------------------------------

def _taught_classes(account: Account) -> list[ImportableClass]:
    """Present classes with a present teacher enrollment of this account, one row each."""
    E, C, Co, Sch = Enrollment, RosterClass, Course, Org
    query = (
        C.select(C.sourced_id, C.title, C.periods, C.term_sourced_ids,
                 Co.title.alias("course_title"), Sch.name.alias("school_name"))
        .join(E, on=(E.district_id == C.district_id) & (E.class_sourced_id == C.sourced_id))
        .switch(C).join(Co, peewee.JOIN.LEFT_OUTER, on=(
            (Co.district_id == C.district_id) & (Co.sourced_id == C.course_sourced_id)
            & Co.removed_run_id.is_null()))
        .switch(C).join(Sch, peewee.JOIN.LEFT_OUTER, on=(
            (Sch.district_id == C.district_id) & (Sch.sourced_id == C.school_sourced_id)
            & Sch.removed_run_id.is_null()))
        .where((C.district_id == account.district_id) & C.removed_run_id.is_null()
               & (E.user_sourced_id == account.sourced_id) & (E.role == TEACHER)
               & E.removed_run_id.is_null())
        .distinct().dicts())
    return [ImportableClass(
        sourced_id=row["sourced_id"], title=row["title"] or row["sourced_id"],
        course=row["course_title"], school=row["school_name"], periods=_split(row["periods"]),
        term_ids=_split(row["term_sourced_ids"])) for row in query]


def _terms(district_id: int, term_ids: set[str]) -> dict:
    if not term_ids:
        return {}
    S = AcademicSession
    rows = S.select().where((S.district_id == district_id) & S.removed_run_id.is_null()
                            & S.sourced_id.in_(sorted(term_ids)))
    return {s.sourced_id: s for s in rows if s.start_date and s.end_date}


def _count_students(district_id: int, classes: list[ImportableClass], today: dt.date) -> None:
    if not classes:
        return
    E, U = Enrollment, RosterUser
    query = (E.select(E.class_sourced_id, peewee.fn.COUNT(E.user_sourced_id.distinct()))
             .join(U, on=(U.district_id == E.district_id) & (U.sourced_id == E.user_sourced_id))
             .where((E.district_id == district_id) & U.removed_run_id.is_null()
                    & E.class_sourced_id.in_([c.sourced_id for c in classes])
                    & CURRENT_STUDENT.condition(E, today))
             .group_by(E.class_sourced_id).tuples())
    counts = dict(query)
    for klass in classes:
        klass.students = counts.get(klass.sourced_id, 0)


def _mark_imported(account: Account, classes: list[ImportableClass]) -> None:
    """Imported: this teacher is in the class. Imported by a colleague: the class exists."""
    if not classes:
        return
    IC, M = ImportedClass, Membership
    rows = (IC.select(IC.sourced_id, M.id.alias("member_id"))
            .join(M, peewee.JOIN.LEFT_OUTER, on=(
                (M.imported_class == IC.id) & (M.user_sourced_id == account.sourced_id)
                & (M.role == TEACHER) & M.removed_at.is_null()))
            .where((IC.district == account.district_id) & (IC.status == ACTIVE)
                   & IC.sourced_id.in_([c.sourced_id for c in classes])).dicts())
    existing = {r["sourced_id"]: r["member_id"] is not None for r in rows}
    for klass in classes:
        klass.imported = existing.get(klass.sourced_id, False)
        klass.imported_by_colleague = klass.sourced_id in existing and not klass.imported


def _insert_classes(account: Account, classes: list[ImportableClass]) -> None:
    db = database.obj
    rows = [dict(district=account.district_id, sourced_id=c.sourced_id, title=c.title,
                 status=ACTIVE, imported_by=account.id) for c in classes]
    # Insert-or-get: whoever commits first makes the class, the other finds it.
    made = [row[0] for row in ImportedClass.insert_many(rows).on_conflict_ignore()
            .returning(ImportedClass.id).tuples().execute()]
    if made:
        stage_class_events(db, CLASS_IMPORTED, None,
                           f'"{ImportedClass._meta.table_name}".id IN '
                           f'({", ".join([db.param] * len(made))})', made)


def _join_as_teacher(account: Account, classes: list[ImportedClass]) -> None:
    M, db = Membership, database.obj
    stage_joins(db, account, TEACHER, ", ".join([db.param] * len(classes)),
                [c.id for c in classes])
    rows = [dict(imported_class=c.id, district_id=account.district_id,
                 user_sourced_id=account.sourced_id, role=TEACHER) for c in classes]
    (M.insert_many(rows)
     .on_conflict(conflict_target=[M.imported_class, M.user_sourced_id],
                  update={M.role: TEACHER, M.removed_at: None, M.removed_run_id: None})
     .execute())


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def _class_order(klass: ImportableClass) -> tuple:
    periods = [int(p) if p.isdigit() else 99 for p in klass.periods] or [99]
    return (min(periods), klass.title.casefold(), klass.sourced_id)
