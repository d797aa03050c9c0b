"""Who is in an imported class, and which classes a person is in.

Names come from the roster copy (they follow the SIS); "signed in" means an account exists
for the person, so a student who has not launched the app yet is listed as not signed in.
Every roster is read with one query, however many students a class has.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import peewee

from ..errors import AccessDenied, RosterError
from ..models import Account, ImportedClass, Membership, RosterUser
from ..models.classes import ACTIVE
from .class_import import STUDENT, TEACHER


@dataclass
class Person:
    sourced_id: str
    name: str
    signed_in: bool
    sort_key: tuple = field(repr=False, default=())
    account_id: int | None = None


@dataclass
class ClassRoster:
    imported_class: ImportedClass
    teachers: list[Person]
    students: list[Person]

    @property
    def not_signed_in(self) -> int:
        return sum(not s.signed_in for s in self.students)


@dataclass
class ClassSummary:
    imported_class: ImportedClass
    role: str
    students: int


class ClassNotFound(RosterError):
    message = "There is no such class."
    code = "class_not_found"
    status = 404
    title = "Class not found"


def class_roster(account: Account, class_id: int) -> ClassRoster:
    """The class with its teachers and students, for one of its teachers only: another
    teacher's class of the same district is refused (403), and a class the person's district
    does not hold is not found (404), whoever holds it."""
    klass = ImportedClass.get_or_none(ImportedClass.id == class_id)
    if klass is None or klass.district_id != account.district_id:
        raise ClassNotFound()
    if not _teaches(account, klass):
        raise AccessDenied("Only the teachers of this class can see its roster.")
    return rosters_of([klass])[0]


def rosters_of(classes: list[ImportedClass]) -> list[ClassRoster]:
    """The rosters of several classes, read in one query."""
    people: dict[int, dict[str, list[Person]]] = {c.id: {TEACHER: [], STUDENT: []} for c in classes}
    if classes:
        for class_id, role, person in _members([c.id for c in classes]):
            people[class_id].setdefault(role, []).append(person)
    rosters = []
    for klass in classes:
        found = people[klass.id]
        rosters.append(ClassRoster(klass, _sorted(found[TEACHER]), _sorted(found[STUDENT])))
    return rosters


def classes_of(account: Account) -> list[ClassSummary]:
    """The person's imported classes: teachers also see the archived ones, students do not."""
    IC, M = ImportedClass, Membership
    mine = (M.select(M.imported_class, M.role)
            .where((M.district_id == account.district_id)
                   & (M.user_sourced_id == account.sourced_id) & M.removed_at.is_null()))
    roles = {m.imported_class_id: m.role for m in mine}
    if not roles:
        return []
    query = IC.select().where(IC.id.in_(list(roles)))
    classes = [c for c in query if c.status == ACTIVE or roles[c.id] == TEACHER]
    counts = dict(M.select(M.imported_class, peewee.fn.COUNT(M.id))
                  .where(M.imported_class.in_([c.id for c in classes]) & (M.role == STUDENT)
                         & M.removed_at.is_null())
                  .group_by(M.imported_class).tuples()) if classes else {}
    summaries = [ClassSummary(c, roles[c.id], counts.get(c.id, 0)) for c in classes]
    return sorted(summaries, key=lambda s: (s.imported_class.status != ACTIVE,
                                           s.imported_class.title.casefold()))


def _teaches(account: Account, klass: ImportedClass) -> bool:
    M = Membership
    return M.select().where((M.imported_class == klass.id)
                            & (M.user_sourced_id == account.sourced_id)
                            & (M.role == TEACHER) & M.removed_at.is_null()).exists()


def _members(class_ids: list[int]):
    M, U, A = Membership, RosterUser, Account
    query = (M.select(M.imported_class, M.role, M.user_sourced_id, U.given_name, U.family_name,
                      A.id.alias("account_id"), A.given_name.alias("account_given"),
                      A.family_name.alias("account_family"))
             .join(U, peewee.JOIN.LEFT_OUTER, on=(
                 (U.district_id == M.district_id) & (U.sourced_id == M.user_sourced_id)))
             .switch(M).join(A, peewee.JOIN.LEFT_OUTER, on=(
                 (A.district == M.district_id) & (A.sourced_id == M.user_sourced_id)))
             .where(M.imported_class.in_(class_ids) & M.removed_at.is_null())
             .dicts())
    for row in query:
        given = row["given_name"] or row["account_given"] or ""
        family = row["family_name"] or row["account_family"] or ""
        name = " ".join(p for p in (given, family) if p) or row["user_sourced_id"]
        person = Person(row["user_sourced_id"], name, row["account_id"] is not None,
                        (family.casefold(), given.casefold(), row["user_sourced_id"]),
                        row["account_id"])
        yield row["imported_class"], row["role"], person


def _sorted(people: list[Person]) -> list[Person]:
    return sorted(people, key=lambda p: p.sort_key)
