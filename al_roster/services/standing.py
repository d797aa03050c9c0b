"""What the roster makes a person: the role the app serves them as, and whether they see
their district's support console.

A person keeps every role the roster gives them. OneRoster 1.1 gives one role on the user
row (with its orgs); 1.2 gives a row per org and role in roles.csv, each with its own dates.
From all of them:

- someone who teaches anywhere signs in as a teacher (a teacher who is also a school's
  principal still imports and teaches their classes); else a student is a student;
- a district administrator (1.2 ``districtAdministrator`` or ``systemAdministrator``; a 1.1
  ``administrator`` whose orgs include the district's org) also sees the district's console,
  and signs in as an administrator when they neither teach nor study;
- a school's administrator (1.2 ``siteAdministrator``, ``principal``; a 1.1 ``administrator``
  of schools only) gets no console: it shows the whole district. Staff may grant it
  (``al-roster district grant-admin``), and then they sign in as an administrator too.

Sign-in and every signed-in request ask this module, so both agree.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..models import Account, District, Org, RosterRole, present
from ..models.current import CURRENT

DISTRICT_ADMIN_ROLES = frozenset({"districtAdministrator", "systemAdministrator"})


@dataclass(frozen=True)
class Standing:
    #: "teacher", "student", "administrator", or None: the app does not serve them.
    role: str | None
    #: The roster names them an administrator of the whole district.
    administers_district: bool


def roster_standing(person, district: District) -> Standing:
    """``person``'s standing in ``district`` (theirs: passed in because sign-in and every
    signed-in request already hold it)."""
    roles = current_roles(person, district.today())
    if roles is None:  # OneRoster 1.1: the role is on the user row
        roles = {person.role} if person.role else set()
        admin = person.role in DISTRICT_ADMIN_ROLES or (
            person.role == "administrator" and _works_for_the_district(person))
    else:
        admin = bool(roles & DISTRICT_ADMIN_ROLES)
    if "teacher" in roles:
        return Standing("teacher", admin)
    if "student" in roles:
        return Standing("student", admin)
    if admin or _granted_console(person):
        return Standing("administrator", admin)
    return Standing(None, False)


def current_roles(person, today: dt.date) -> set[str] | None:
    """The person's roles from roles.csv that are present and current today, or None when the
    roster has no roles rows for them at all (OneRoster 1.1)."""
    rows = list(RosterRole.select(RosterRole.role, RosterRole.begin_date, RosterRole.end_date,
                                  RosterRole.removed_run_id)
                .where((RosterRole.district_id == person.district_id)
                       & (RosterRole.user_sourced_id == person.sourced_id)))
    if not rows:
        return None
    return {r.role for r in rows if CURRENT.holds(r, today)}


def _works_for_the_district(person) -> bool:
    orgs = [o for o in (person.org_sourced_ids or "").split(",") if o]
    return bool(orgs) and present(Org, person.district_id).where(
        Org.sourced_id.in_(orgs) & (Org.type == "district")).exists()


def _granted_console(person) -> bool:
    return Account.select().where(
        (Account.district == person.district_id) & (Account.sourced_id == person.sourced_id)
        & Account.district_admin).exists()
