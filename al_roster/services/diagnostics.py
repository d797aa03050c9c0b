"""Answers from the data: find a person, show what the roster holds about them, and say in
plain words why a student is or is not in a class.

"Why" is an ordered list of small checks (:data:`WHY_CHECKS`), each looking at one fact
and returning its answer, or None to let the next one look: the first answer is the one
given. Every check reads the facts of one :class:`_Case`, each fetched once, when a check
first asks for it; the person is found by the same lookup the console's search uses.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from peewee import fn

from ..models import (
    Account,
    District,
    Enrollment,
    ImportedClass,
    Membership,
    RosterClass,
    RosterUser,
    SyncRun,
)
from ..models.current import CURRENT, as_date

LOOKUP_LIMIT = 50


def _run_info(run_id: int | None) -> dict | None:
    if run_id is None:
        return None
    run = SyncRun.get_or_none(SyncRun.id == run_id)
    if run is None:
        return {"run": run_id}
    return {"run": run.id, "status": run.status, "source": run.source_name,
            "date": _day(run.started_at)}


def _day(value) -> str | None:
    return value.date().isoformat() if value else None


def _user_summary(user, district: District) -> dict:
    return {"district": district.slug, "sourcedId": user.sourced_id, "username": user.username,
            "givenName": user.given_name, "familyName": user.family_name, "email": user.email,
            "role": user.role, "present": user.removed_run_id is None}


def lookup(query: str, districts: list[District]) -> list[dict]:
    """People whose name, sourcedId, username or e-mail match ``query``, in these districts."""
    text = (query or "").strip()
    if not text or not districts:
        return []
    by_id = {d.id: d for d in districts}
    low = text.lower()
    full = fn.LOWER(RosterUser.given_name.concat(" ").concat(RosterUser.family_name))
    found = (RosterUser.select()
             .where(RosterUser.district_id.in_(list(by_id))
                    & (identifies(text) | full.contains(low)
                       | (fn.LOWER(RosterUser.family_name) == low)))
             .order_by(RosterUser.family_name, RosterUser.given_name, RosterUser.sourced_id)
             .limit(LOOKUP_LIMIT))
    return [_user_summary(u, by_id[u.district_id]) for u in found]


def identifies(ref: str):
    """The roster users ``ref`` names exactly: by sourcedId, username or e-mail (any case)."""
    text = (ref or "").strip()
    low = text.lower()
    return ((RosterUser.sourced_id == text) | (fn.LOWER(RosterUser.username) == low)
            | (fn.LOWER(RosterUser.email) == low))


def person_detail(district: District, sourced_id: str) -> dict | None:
    """A roster user's record, enrollments, imported classes and account, with the runs
    that last changed each."""
    user = RosterUser.get_or_none((RosterUser.district_id == district.id)
                                  & (RosterUser.sourced_id == sourced_id))
    if user is None:
        return None
    enrollments = []
    for e in (Enrollment.select().where((Enrollment.district_id == district.id)
                                        & (Enrollment.user_sourced_id == sourced_id))
              .order_by(Enrollment.class_sourced_id)):
        cls = RosterClass.get_or_none((RosterClass.district_id == district.id)
                                      & (RosterClass.sourced_id == e.class_sourced_id))
        enrollments.append({
            "sourcedId": e.sourced_id, "class": e.class_sourced_id,
            "classTitle": cls.title if cls else None, "role": e.role,
            "beginDate": _iso(e.begin_date), "endDate": _iso(e.end_date),
            "present": e.removed_run_id is None, "lastChangedBy": _run_info(e.last_run_id),
            "removedBy": _run_info(e.removed_run_id),
            "missingSince": _run_info(e.missing_since_run_id)})
    classes = []
    for m in (Membership.select(Membership, ImportedClass).join(ImportedClass)
              .where((Membership.district_id == district.id)
                     & (Membership.user_sourced_id == sourced_id))
              .order_by(ImportedClass.title)):
        classes.append({
            "class": m.imported_class.sourced_id, "title": m.imported_class.title,
            "classStatus": m.imported_class.status, "role": m.role,
            "inClass": m.removed_at is None, "addedAt": _iso(m.added_at),
            "addedBy": _run_info(m.added_run_id), "removedAt": _iso(m.removed_at),
            "removedBy": _run_info(m.removed_run_id)})
    account = Account.get_or_none((Account.district == district.id)
                                  & (Account.sourced_id == sourced_id))
    return {
        "person": _user_summary(user, district),
        "record": {"firstSeenBy": _run_info(user.first_run_id),
                   "lastChangedBy": _run_info(user.last_run_id),
                   "removedBy": _run_info(user.removed_run_id),
                   "missingSince": _run_info(user.missing_since_run_id),
                   "enabled": user.enabled_user},
        "enrollments": enrollments,
        "importedClasses": classes,
        "account": None if account is None else {
            "id": account.id, "role": account.role, "signedIn": True,
            "createdAt": _iso(account.created_at), "lastSignIn": _iso(account.last_login_at)},
        "signedIn": account is not None,
    }


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat() + "Z"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _removal(run_id: int, entity_file: str) -> str:
    run = SyncRun.get_or_none(SyncRun.id == run_id)
    if run is None:
        return f"run {run_id}"
    where = f" from {entity_file}"
    if run.source_name:
        where += f" in {run.source_name.rsplit('/', 1)[-1]}"
    return f"run {run.id} on {_day(run.started_at)}{where}"


# -- "why is this student (not) in this class?" ---------------------------------------------

@dataclass
class _Case:
    """One question, and the facts the checks read, each fetched once when first asked."""

    district: District
    student: str
    class_ref: str
    today: dt.date
    may_see_other_districts: bool
    notes: list[str] = field(default_factory=list)

    def answer(self, reason: str, text: str, **facts) -> dict:
        return {"reason": reason, "answer": " ".join([text, *self.notes]),
                "district": self.district.slug, "student": self.student,
                "class": self.class_ref,
                "inClass": reason in ("in_class", "in_class_not_signed_in"), **facts}

    @cached_property
    def user(self):
        """The person (present records first), found as the console's search finds them."""
        return (RosterUser.select().where((RosterUser.district_id == self.district.id)
                                          & identifies(self.student))
                .order_by(RosterUser.removed_run_id.is_null(False)).first())

    @cached_property
    def who(self) -> str:
        user = self.user
        name = f"{user.given_name or ''} {user.family_name or ''}".strip() or user.sourced_id
        return f"{name} ({user.sourced_id})"

    @cached_property
    def roster_class(self):
        ref = self.class_ref.strip()
        found = RosterClass.get_or_none((RosterClass.district_id == self.district.id)
                                        & (RosterClass.sourced_id == ref))
        return found or (RosterClass.select().where(
            (RosterClass.district_id == self.district.id)
            & (fn.LOWER(RosterClass.title) == ref.lower())).first())

    @cached_property
    def imported(self):
        IC, ref = ImportedClass, self.class_ref.strip()
        if self.roster_class is not None:
            return IC.get_or_none((IC.district == self.district.id)
                                  & (IC.sourced_id == self.roster_class.sourced_id))
        return (IC.select().where((IC.district == self.district.id) & (
            (IC.sourced_id == ref) | (fn.LOWER(IC.title) == ref.lower()))).first())

    @cached_property
    def what(self) -> str:
        known = self.roster_class or self.imported
        return f"{known.title} ({known.sourced_id})"

    @cached_property
    def enrollments(self) -> list:
        known = self.roster_class or self.imported
        return list(Enrollment.select().where(
            (Enrollment.district_id == self.district.id)
            & (Enrollment.user_sourced_id == self.user.sourced_id)
            & (Enrollment.class_sourced_id == known.sourced_id)))

    def passing(self, clause: str, among: list) -> list:
        """Those of ``among`` that pass ``clause`` of the current-enrollment rule."""
        return [e for e in among if clause not in CURRENT.failing(e, self.today)]

    @cached_property
    def membership(self):
        return Membership.get_or_none((Membership.imported_class == self.imported)
                                      & (Membership.user_sourced_id == self.user.sourced_id))


Check = Callable[[_Case], "dict | None"]


def _unknown_person(case: _Case) -> dict | None:
    if case.user is not None:
        return None
    other = _other_district_of(case) if case.may_see_other_districts else None
    if other is not None:
        return case.answer(
            "different_district", f"{case.student} is in the roster of another district "
            f"({other.name}), not {case.district.name}; a class of {case.district.name} "
            "cannot include them.", otherDistrict=other.slug)
    return case.answer("not_in_roster", f"{case.student} is not in {case.district.name}'s "
                       "roster: no user with that sourcedId, username or e-mail came in any "
                       "file the district sent. Ask the district to check the student's record "
                       "in their SIS.")


def _other_district_of(case: _Case) -> District | None:
    """Another district whose roster names the person (only staff hear of it)."""
    elsewhere = (RosterUser.select(RosterUser.district_id)
                 .where((RosterUser.district_id != case.district.id)
                        & identifies(case.student)).first())
    return None if elsewhere is None else District.get_by_id(elsewhere.district_id)


def _removed_person(case: _Case) -> dict | None:
    user = case.user
    if user.removed_run_id is None:
        if user.missing_since_run_id is not None:  # removal grace: kept, but missing
            case.notes.append(
                f"{case.who} has been missing from users.csv since run "
                f"{user.missing_since_run_id} ({user.missing_runs or 1} bulk run(s)); the "
                "district's removal grace keeps them until they have been missing from "
                f"{case.district.removal_grace_runs} in a row.")
        return None
    return case.answer("user_removed", f"{case.who} was removed from the roster by "
                       f"{_removal(user.removed_run_id, 'users.csv')}: the district's file "
                       "no longer listed them.", run=user.removed_run_id)


def _unknown_class(case: _Case) -> dict | None:
    if case.roster_class is not None or case.imported is not None:
        return None
    return case.answer("class_not_in_roster", f"There is no class '{case.class_ref}' in "
                       f"{case.district.name}'s roster. Check the class's sourcedId or title.")


def _removed_class(case: _Case) -> dict | None:
    cls = case.roster_class
    if cls is None or cls.removed_run_id is None:
        return None
    return case.answer("class_removed", f"The class {case.what} was removed from the roster "
                       f"by {_removal(cls.removed_run_id, 'classes.csv')}.",
                       run=cls.removed_run_id)


def _no_enrollment(case: _Case) -> dict | None:
    if case.enrollments:
        return None
    return case.answer("no_enrollment", f"{case.who} has no enrollment in {case.what} in the "
                       "district's files: the SIS does not list them in that class. Ask the "
                       "district to enroll them there.")


def _enrollment_removed(case: _Case) -> dict | None:
    if case.passing("removed", case.enrollments):
        return None
    last = max(case.enrollments, key=lambda e: e.removed_run_id)
    return case.answer("enrollment_removed", f"{case.who}'s enrollment in {case.what} "
                       f"({last.sourced_id}) was removed by "
                       f"{_removal(last.removed_run_id, 'enrollments.csv')}: the district's "
                       "file no longer listed it.", run=last.removed_run_id)


def _enrollment_ended(case: _Case) -> dict | None:
    present = case.passing("removed", case.enrollments)
    if case.passing("ended", present):
        return None
    ended = max(as_date(e.end_date) for e in present).isoformat()
    return case.answer("enrollment_ended", f"{case.who}'s enrollment in {case.what} ended on "
                       f"{ended} (its endDate in the district's file).", endDate=ended)


def _enrollment_not_started(case: _Case) -> dict | None:
    current = case.passing("ended", case.passing("removed", case.enrollments))
    if case.passing("not_begun", current):
        return None
    starts = min(as_date(e.begin_date) for e in current).isoformat()
    return case.answer("enrollment_not_started", f"{case.who}'s enrollment in {case.what} "
                       f"starts on {starts} (its beginDate in the district's file); they are "
                       "added to the class from that day.", beginDate=starts)


def _not_imported(case: _Case) -> dict | None:
    if case.imported is not None:
        return None
    return case.answer("class_not_imported", f"{case.who} is enrolled in {case.what}, but no "
                       "teacher has imported that class yet. The teacher imports it with the "
                       "\"+\" button; the student is added then.")


def _archived(case: _Case) -> dict | None:
    imported = case.imported
    if not imported.archived:
        return None
    by = f" (by run {imported.archived_run_id})" if imported.archived_run_id else ""
    return case.answer("class_archived", f"{case.who} is enrolled in {case.what}, but the "
                       f"imported class is archived{by}; archived classes take no changes.")


def _not_added(case: _Case) -> dict | None:
    if case.membership is not None:
        return None
    return case.answer("not_yet_added", f"{case.who} is enrolled in {case.what} and the class "
                       "is imported, but they are not in it yet; the next sync adds them.")


def _membership_removed(case: _Case) -> dict | None:
    membership = case.membership
    if membership.removed_at is None:
        return None
    by = (f" by {_removal(membership.removed_run_id, 'enrollments.csv')}"
          if membership.removed_run_id else f" on {_day(membership.removed_at)}")
    return case.answer("membership_removed", f"{case.who} was taken out of the imported class "
                       f"{case.what}{by}; their work is kept and comes back if the enrollment "
                       "does.", run=membership.removed_run_id)


def _in_class(case: _Case) -> dict:
    account = Account.get_or_none((Account.district == case.district.id)
                                  & (Account.sourced_id == case.user.sourced_id))
    if account is None:
        return case.answer("in_class_not_signed_in", f"{case.who} is in {case.what}, but has "
                           "not signed in yet: they are already on the class roster and will "
                           "see the class on their first sign-in.")
    return case.answer("in_class", f"{case.who} is in {case.what} (last signed in "
                       f"{_day(account.last_login_at) or 'never'}).")


#: In order: the first check with an answer gives it; the last always answers.
WHY_CHECKS: tuple[Check, ...] = (
    _unknown_person, _removed_person, _unknown_class, _removed_class, _no_enrollment,
    _enrollment_removed, _enrollment_ended, _enrollment_not_started, _not_imported, _archived,
    _not_added, _membership_removed, _in_class,
)


def why_not_in_class(district: District, student: str, class_ref: str, *,
                     today: dt.date | None = None, may_see_other_districts: bool = False) -> dict:
    """Why ``student`` (sourcedId, username or e-mail) is or is not in ``class_ref``
    (sourcedId or title) in ``district``: ``{"reason": code, "answer": words, ...}``, read
    on the district's day unless ``today`` says otherwise.

    Only a caller who may see every district (support staff, the operator's command line)
    passes ``may_see_other_districts``: then someone found only in another district's roster
    is named as such. Anyone else gets, for them, exactly the answer for a person who exists
    nowhere, and no other district is even looked at."""
    case = _Case(district, student, class_ref, today or district.today(),
                 may_see_other_districts)
    for check in WHY_CHECKS:
        found = check(case)
        if found is not None:
            return found
    raise AssertionError("the last check always answers")  # pragma: no cover
