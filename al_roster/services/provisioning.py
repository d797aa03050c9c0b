"""Who gets in: a person signing in from ClassLink (SSO, LTI, or the demo's dev sign-in).

Nobody is provisioned ahead of time. The district must be on the Prime plan with ClassLink
rostering enabled; the person must be a present, enabled teacher or student of that
district's roster copy, and the roster (not the launch) decides the role. Administrators,
aides, counselors, guardians and the like are refused: the app's pages are for teachers
and students, and the district fixes a wrong role in its SIS.

A first sign-in creates the account with an insert-or-get on (district, sourcedId), so two
first logins at once make one account. A student is then placed in every imported class
where they have a present, current enrollment, in one statement. A ClassLink user whose
SourcedId changed keeps their account: it is relinked, and the relink is recorded.
"""
from __future__ import annotations

import datetime as dt
import logging

from flask import current_app

from ..errors import RosterError
from ..logsafe import for_log
from ..models import (
    Account,
    AccountEvent,
    District,
    Enrollment,
    ImportedClass,
    Membership,
    RosterUser,
    database,
)
from ..models.classes import ACTIVE
from ..models.current import CURRENT_STUDENT
from ..models.district import utcnow
from ..signals import student_placed
from ..sync.change_events import (
    stage_account_created,
    stage_account_relinked,
    stage_placements,
)
from ..sync.events import publishing
from .standing import Standing, roster_standing

log = logging.getLogger(__name__)

#: Roster roles the app serves, and the account role each becomes. District-level
#: administrators (OneRoster 1.2 "districtAdministrator" and "systemAdministrator", and a 1.1
#: "administrator" whose orgs include the district's org) sign in to the district's support
#: console, not to classes. A 1.1 "administrator" of schools only is a school administrator:
#: the console shows the whole district, so they are refused like a 1.2 "siteAdministrator"
#: unless staff granted them the console (``al-roster district grant-admin``).
SERVED_ROLES = {
    "teacher": "teacher", "student": "student", "administrator": "administrator",
    "districtAdministrator": "administrator", "systemAdministrator": "administrator",
}

FIX_IT = ("Your district's OneRoster administrator can fix this in the district's SIS; "
          "the change reaches this app with the next nightly sync.")


class SignInRefused(RosterError):
    """Nobody is signed in. ``reason`` says why, as a code; ``message`` says it to the person."""

    message = "You cannot sign in here yet."
    code = "sign_in_refused"
    status = 403
    title = "You can't sign in here yet"
    advice = FIX_IT
    signs_out = True

    def __init__(self, reason: str, message: str | None = None, *, advice: str | None = None,
                 **details):
        super().__init__(message, reason=reason, **details)
        self.reason = reason
        if advice is not None:
            self.advice = advice


def refuse(reason: str, message: str, *, advice: str | None = None, **details) -> SignInRefused:
    """A refusal, logged with its reason (every refusal is: support reads these)."""
    log.warning("sign-in refused: %s %s", reason,
                " ".join(f"{k}={for_log(repr(v))}" for k, v in details.items() if v is not None))
    return SignInRefused(reason, message, advice=advice, **details)


def sign_in_roster_user(district: District, sourced_id: str | None, *,
                        classlink_user_id: str | None = None, via: str) -> Account:
    """The account of the roster person ``(district, sourced_id)``, created if need be.

    Raises :class:`SignInRefused` when the district or the person may not sign in.
    """
    check_district(district, via=via)
    classlink_user_id = str(classlink_user_id) if classlink_user_id not in (None, "") else None
    person, standing = _servable_person(district, sourced_id, via=via,
                                        classlink_user_id=classlink_user_id)
    role = standing.role
    # One commit: the account, its classes and their events (account_created among them,
    # sent once committed), or nothing.
    with publishing():
        account, created = _account_for(district, person, role, classlink_user_id)
        account.district = district  # spares a query wherever the district is read
        if created:
            stage_account_created(database.obj, account, via)
        _refresh(account, person, standing, classlink_user_id)
        placed = _place(account, district.today()) if role == "student" else []
    if placed:
        student_placed.send(current_app._get_current_object(), account=account,
                            class_ids=placed)
    log.info("signed in: district=%s sourced_id=%s role=%s via=%s account=%s",
             district.slug, for_log(account.sourced_id), role, via, account.id)
    return account


def check_district(district: District, *, via: str) -> None:
    if district.can_use_rostering:
        return
    raise refuse(
        "district_not_enabled",
        f"Signing in from ClassLink is not turned on for {district.name}.",
        advice="ClassLink sign-in comes with the Prime plan. Your district's OneRoster "
               "administrator can ask us to turn on ClassLink rostering for the district.",
        district=district.slug, via=via)


def _servable_person(district: District, sourced_id: str | None, *, via: str,
                     classlink_user_id: str | None):
    """The roster user to sign in as; the stale-SourcedId fallback is tried before refusing."""
    details = dict(district=district.slug, sourced_id=sourced_id, via=via)
    if not sourced_id:
        raise refuse("no_sourced_id", "ClassLink did not send your OneRoster ID, so we cannot "
                     "tell which student or teacher you are.",
                     advice="Your district's OneRoster administrator can turn on OneRoster "
                            "for this app in ClassLink (the person's SourcedId).", **details)
    person = RosterUser.get_or_none((RosterUser.district_id == district.id)
                                    & (RosterUser.sourced_id == sourced_id))
    if (person is None or not person.present) and classlink_user_id is not None:
        linked = _linked_person(district, classlink_user_id)
        if linked is not None and linked.sourced_id != sourced_id:
            # ClassLink can keep sending a user's old SourcedId for days after the roster
            # changed it; the account it already belongs to is the right one.
            log.info("stale SourcedId %s for ClassLink user %s; using %s",
                     for_log(sourced_id), for_log(classlink_user_id), for_log(linked.sourced_id))
            person = linked
    if person is None:
        raise refuse("not_in_roster", f"You are not in {district.name}'s roster.", **details)
    if not person.present:
        raise refuse("removed_from_roster",
                     f"You were removed from {district.name}'s roster.", **details)
    if person.enabled_user is False:
        raise refuse("disabled", f"Your account is turned off in {district.name}'s roster.",
                     **details)
    standing = roster_standing(person, district)
    if standing.role is None:
        raise refuse("role_not_served",
                     f"The roster lists you as {_role_phrase(person)}; this app is for "
                     "teachers, students and district administrators.", role=person.role, **details)
    return person, standing


def _linked_person(district: District, classlink_user_id: str):
    account = Account.get_or_none((Account.district == district)
                                  & (Account.classlink_user_id == classlink_user_id))
    if account is None:
        return None
    person = RosterUser.get_or_none((RosterUser.district_id == district.id)
                                    & (RosterUser.sourced_id == account.sourced_id))
    return person if person is not None and person.present else None


def _account_for(district: District, person, role: str, classlink_user_id: str | None):
    """(account, created): by sourcedId, else by ClassLink user (a relink), else a new one."""
    by_sourced_id = Account.get_or_none((Account.district == district)
                                        & (Account.sourced_id == person.sourced_id))
    by_classlink = None
    if classlink_user_id is not None:
        by_classlink = Account.get_or_none((Account.district == district)
                                           & (Account.classlink_user_id == classlink_user_id))
    if by_classlink is not None and by_classlink.id != getattr(by_sourced_id, "id", None):
        if by_sourced_id is None:
            return _relink(by_classlink, person.sourced_id), False
        _move_classlink_user(by_classlink, by_sourced_id, classlink_user_id)
    if by_sourced_id is not None:
        return by_sourced_id, False
    inserted = (Account.insert(district=district, sourced_id=person.sourced_id,
                               role=role, created_at=utcnow())
                .on_conflict_ignore().as_rowcount().execute())
    account = Account.get((Account.district == district)
                          & (Account.sourced_id == person.sourced_id))
    return account, inserted == 1


def _relink(account: Account, new_sourced_id: str) -> Account:
    old = account.sourced_id
    (Account.update(sourced_id=new_sourced_id).where(Account.id == account.id).execute())
    AccountEvent.create(account=account, kind="relinked",
                        detail=f"SourcedId changed from {old} to {new_sourced_id}")
    stage_account_relinked(database.obj, account, old, new_sourced_id)
    log.warning("account %s relinked: SourcedId %s -> %s", account.id, for_log(old),
                for_log(new_sourced_id))
    account.sourced_id = new_sourced_id
    return account


def _move_classlink_user(source: Account, target: Account, classlink_user_id: str) -> None:
    """Both SourcedIds have accounts: the ClassLink user now signs in to the roster's one."""
    Account.update(classlink_user_id=None).where(Account.id == source.id).execute()
    detail = (f"ClassLink user {classlink_user_id} moved from account {source.id} "
              f"({source.sourced_id}) to account {target.id} ({target.sourced_id})")
    AccountEvent.insert_many([dict(account=source, kind="classlink_user_moved", detail=detail),
                              dict(account=target, kind="classlink_user_moved", detail=detail)]
                             ).execute()
    log.warning("%s", for_log(detail, 600))


def _refresh(account: Account, person, standing: Standing,
             classlink_user_id: str | None) -> None:
    """Names, e-mail and roles follow the roster; the ClassLink user id follows the login."""
    fields = dict(role=standing.role, roster_admin=standing.administers_district,
                  given_name=person.given_name, family_name=person.family_name,
                  email=person.email, username=person.username, last_login_at=utcnow())
    if classlink_user_id is not None:
        fields["classlink_user_id"] = classlink_user_id
    Account.update(**fields).where(Account.id == account.id).execute()
    for name, value in fields.items():
        setattr(account, name, value)


def place_student_in_classes(account: Account, today: dt.date | None = None) -> list[int]:
    """Puts the student in every imported class they have a present, current enrollment in
    (bringing back a membership removed earlier), in one statement; returns the classes
    they were added to or brought back into."""
    with publishing():
        class_ids = _place(account, today or account.district.today())
    if class_ids:
        student_placed.send(current_app._get_current_object(), account=account,
                            class_ids=class_ids)
    return class_ids


def _place(account: Account, today: dt.date) -> list[int]:
    p = database.param
    m, e, ic = (Membership._meta.table_name, Enrollment._meta.table_name,
                ImportedClass._meta.table_name)
    now = utcnow()
    rows = database.execute_sql(
        f'INSERT INTO "{m}" (imported_class_id, district_id, user_sourced_id, role, added_at) '
        f'SELECT DISTINCT ic.id, e.district_id, e.user_sourced_id, {p}, {p} FROM "{e}" e '
        f'JOIN "{ic}" ic ON ic.district_id = e.district_id AND ic.sourced_id = e.class_sourced_id '
        f"WHERE e.district_id = {p} AND e.user_sourced_id = {p} AND ic.status = {p} "
        f"AND {CURRENT_STUDENT.sql('e', p)} "
        "ON CONFLICT (imported_class_id, user_sourced_id) DO UPDATE SET removed_at = NULL, "
        f'removed_run_id = NULL, role = excluded.role WHERE "{m}".removed_at IS NOT NULL '
        "RETURNING imported_class_id",
        ["student", now, account.district_id, account.sourced_id, ACTIVE,
         *CURRENT_STUDENT.params(today)],
    ).fetchall()
    placed = sorted(r[0] for r in rows)
    stage_placements(database.obj, account, placed, now)  # added now, or brought back
    return placed


def _role_phrase(person) -> str:
    role = person.role
    if not role:
        return "having no role"
    if role == "administrator":
        return "a school administrator"
    return ("an " if role[:1].lower() in "aeiou" else "a ") + role
