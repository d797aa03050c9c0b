"""Answers from the data: find a person, show what the roster holds about them, and say in
plain words why a student is or is not in a class."""
from __future__ import annotations

import datetime as dt

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
    like = f"%{low}%"
    full = fn.LOWER(RosterUser.given_name.concat(" ").concat(RosterUser.family_name))
    found = (RosterUser.select()
             .where(RosterUser.district_id.in_(list(by_id))
                    & ((RosterUser.sourced_id == text) | (fn.LOWER(RosterUser.username) == low)
                       | (fn.LOWER(RosterUser.email) == low) | full.contains(like.strip("%"))
                       | (fn.LOWER(RosterUser.family_name) == low)))
             .order_by(RosterUser.family_name, RosterUser.given_name, RosterUser.sourced_id)
             .limit(LOOKUP_LIMIT))
    return [_user_summary(u, by_id[u.district_id]) for u in found]


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


def _find_user(district: District, ref: str):
    low = ref.strip().lower()
    return (RosterUser.select()
            .where((RosterUser.district_id == district.id)
                   & ((RosterUser.sourced_id == ref.strip()) | (fn.LOWER(RosterUser.username) == low)
                      | (fn.LOWER(RosterUser.email) == low)))
            .order_by(RosterUser.removed_run_id.is_null(False)).first())


def _other_district_of(district: District, ref: str) -> District | None:
    """Another district whose roster has someone with this sourcedId, username or e-mail."""
    low = ref.strip().lower()
    elsewhere = (RosterUser.select(RosterUser.district_id)
                 .where((RosterUser.district_id != district.id)
                        & ((RosterUser.sourced_id == ref.strip())
                           | (fn.LOWER(RosterUser.username) == low)
                           | (fn.LOWER(RosterUser.email) == low)))
                 .first())
    return None if elsewhere is None else District.get_by_id(elsewhere.district_id)


def _find_class(district: District, ref: str):
    ref = ref.strip()
    found = RosterClass.get_or_none((RosterClass.district_id == district.id)
                                    & (RosterClass.sourced_id == ref))
    if found is None:
        found = (RosterClass.select().where((RosterClass.district_id == district.id)
                                            & (fn.LOWER(RosterClass.title) == ref.lower()))
                 .first())
    return found


def why_not_in_class(district: District, student: str, class_ref: str, *,
                     today: dt.date | None = None, may_see_other_districts: bool = False) -> dict:
    """Why ``student`` (sourcedId, username or e-mail) is or is not in ``class_ref``
    (sourcedId or title) in ``district``: ``{"reason": code, "answer": words, ...}``.

    Only a caller who may see every district (support staff, the operator's command line)
    passes ``may_see_other_districts``: then someone found only in another district's roster
    is named as such. Anyone else gets, for them, exactly the answer for a person who exists
    nowhere, and no other district is even looked at."""
    today = today or district.today()

    missing: list[str] = []  # removal grace: the person's record is kept, but missing

    def answer(reason: str, text: str, **facts) -> dict:
        text = " ".join([text, *missing])
        return {"reason": reason, "answer": text, "district": district.slug,
                "student": student, "class": class_ref, "inClass": reason == "in_class"
                or reason == "in_class_not_signed_in", **facts}

    user = _find_user(district, student)
    if user is None:
        other = _other_district_of(district, student) if may_see_other_districts else None
        if other is not None:
            return answer("different_district",
                          f"{student} is in the roster of another district ({other.name}), "
                          f"not {district.name}; a class of {district.name} cannot include them.",
                          otherDistrict=other.slug)
        return answer("not_in_roster",
                      f"{student} is not in {district.name}'s roster: no user with that "
                      "sourcedId, username or e-mail came in any file the district sent. "
                      "Ask the district to check the student's record in their SIS.")
    name = f"{user.given_name or ''} {user.family_name or ''}".strip() or user.sourced_id
    who = f"{name} ({user.sourced_id})"
    if user.removed_run_id is None and user.missing_since_run_id is not None:
        missing.append(f"{who} has been missing from users.csv since run "
                       f"{user.missing_since_run_id} ({user.missing_runs or 1} bulk run(s)); "
                       "the district's removal grace keeps them until they have been missing "
                       f"from {district.removal_grace_runs} in a row.")
    if user.removed_run_id is not None:
        return answer("user_removed",
                      f"{who} was removed from the roster by "
                      f"{_removal(user.removed_run_id, 'users.csv')}: the district's file no "
                      "longer listed them.", run=user.removed_run_id)
    cls = _find_class(district, class_ref)
    imported = None
    if cls is not None:
        imported = ImportedClass.get_or_none((ImportedClass.district == district.id)
                                             & (ImportedClass.sourced_id == cls.sourced_id))
    else:
        imported = (ImportedClass.select()
                    .where((ImportedClass.district == district.id)
                           & ((ImportedClass.sourced_id == class_ref.strip())
                              | (fn.LOWER(ImportedClass.title) == class_ref.strip().lower())))
                    .first())
    if cls is None and imported is None:
        return answer("class_not_in_roster",
                      f"There is no class '{class_ref}' in {district.name}'s roster. Check the "
                      "class's sourcedId or title.")
    title = cls.title if cls is not None else imported.title
    class_id = cls.sourced_id if cls is not None else imported.sourced_id
    what = f"{title} ({class_id})"
    if cls is not None and cls.removed_run_id is not None:
        return answer("class_removed",
                      f"The class {what} was removed from the roster by "
                      f"{_removal(cls.removed_run_id, 'classes.csv')}.", run=cls.removed_run_id)
    enrollments = list(Enrollment.select().where(
        (Enrollment.district_id == district.id) & (Enrollment.user_sourced_id == user.sourced_id)
        & (Enrollment.class_sourced_id == class_id)))
    present = [e for e in enrollments if e.removed_run_id is None]
    if not enrollments:
        return answer("no_enrollment",
                      f"{who} has no enrollment in {what} in the district's files: the SIS does "
                      "not list them in that class. Ask the district to enroll them there.")
    if not present:
        last = max(enrollments, key=lambda e: e.removed_run_id)
        return answer("enrollment_removed",
                      f"{who}'s enrollment in {what} ({last.sourced_id}) was removed by "
                      f"{_removal(last.removed_run_id, 'enrollments.csv')}: the district's "
                      "file no longer listed it.", run=last.removed_run_id)
    current = [e for e in present if "ended" not in CURRENT.failing(e, today)]
    if not current:
        ended = max(as_date(e.end_date) for e in present)
        return answer("enrollment_ended",
                      f"{who}'s enrollment in {what} ended on {ended.isoformat()} "
                      "(its endDate in the district's file).", endDate=ended.isoformat())
    begun = [e for e in current if CURRENT.holds(e, today)]
    if not begun:
        starts = min(as_date(e.begin_date) for e in current)
        return answer("enrollment_not_started",
                      f"{who}'s enrollment in {what} starts on {starts.isoformat()} (its "
                      "beginDate in the district's file); they are added to the class from "
                      "that day.", beginDate=starts.isoformat())
    if imported is None:
        return answer("class_not_imported",
                      f"{who} is enrolled in {what}, but no teacher has imported that class "
                      "yet. The teacher imports it with the \"+\" button; the student is "
                      "added then.")
    if imported.archived:
        return answer("class_archived",
                      f"{who} is enrolled in {what}, but the imported class is archived"
                      + (f" (by run {imported.archived_run_id})" if imported.archived_run_id
                         else "") + "; archived classes take no changes.")
    membership = Membership.get_or_none((Membership.imported_class == imported)
                                        & (Membership.user_sourced_id == user.sourced_id))
    if membership is None:
        return answer("not_yet_added",
                      f"{who} is enrolled in {what} and the class is imported, but they are "
                      "not in it yet; the next sync adds them.")
    if membership.removed_at is not None:
        by = (f" by {_removal(membership.removed_run_id, 'enrollments.csv')}"
              if membership.removed_run_id else f" on {_day(membership.removed_at)}")
        return answer("membership_removed",
                      f"{who} was taken out of the imported class {what}{by}; their work is "
                      "kept and comes back if the enrollment does.",
                      run=membership.removed_run_id)
    account = Account.get_or_none((Account.district == district.id)
                                  & (Account.sourced_id == user.sourced_id))
    if account is None:
        return answer("in_class_not_signed_in",
                      f"{who} is in {what}, but has not signed in yet: they are already on "
                      "the class roster and will see the class on their first sign-in.")
    return answer("in_class", f"{who} is in {what} (last signed in "
                  f"{_day(account.last_login_at) or 'never'}).")

