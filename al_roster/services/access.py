"""Who sees the support console, and which districts.

Staff (support) see every district: an account marked ``is_staff`` (``al-roster staff grant``)
or listed by id or e-mail in the AL_ROSTER_STAFF setting. A district's OneRoster admins
(the roster's district administrators, or granted with ``al-roster district grant-admin``)
see their own district. Teachers and students see none of it.
"""
from __future__ import annotations

from peewee import fn

from ..errors import AccessDenied, RosterError
from ..models import Account, District

ADMIN_ROLES = frozenset({"administrator", "tenant administrator", "districtadministrator"})


def _listed(setting: str | None) -> set[str]:
    return {part.strip().lower() for part in (setting or "").split(",") if part.strip()}


def is_staff(account: Account | None, staff_setting: str | None = "") -> bool:
    if account is None or not getattr(account, "is_authenticated", False):
        return False
    if getattr(account, "is_staff", False):
        return True
    listed = _listed(staff_setting)
    email = (getattr(account, "email", None) or "").lower()
    return str(account.id) in listed or bool(email and email in listed)


def is_district_admin(account: Account | None) -> bool:
    if getattr(account, "district_admin", False):
        return True
    role = (getattr(account, "role", None) or "").lower()
    return role in ADMIN_ROLES


def can_use_console(account: Account | None, staff_setting: str | None = "") -> bool:
    return is_staff(account, staff_setting) or is_district_admin(account)


def permitted_districts(account: Account | None, staff_setting: str | None = "") -> list[District]:
    """The districts ``account`` may look at, in slug order; empty for teachers and students."""
    if is_staff(account, staff_setting):
        return list(District.select().order_by(District.slug))
    if is_district_admin(account):
        return [District.get_by_id(account.district_id)]
    return []


def require_district(account: Account | None, district: District,
                     staff_setting: str | None = "") -> District:
    if is_staff(account, staff_setting):
        return district
    if is_district_admin(account) and account.district_id == district.id:
        return district
    raise AccessDenied("You can see only your own district's rostering.")


def grant_staff(email_or_id: str) -> list[Account]:
    """Marks the account(s) with this e-mail (in any district) or id as staff."""
    query = Account.select()
    if email_or_id.isdigit():
        query = query.where(Account.id == int(email_or_id))
    else:
        query = query.where(fn.LOWER(Account.email) == email_or_id.strip().lower())
    accounts = list(query)
    if not accounts:
        raise RosterError(f"No account '{email_or_id}'. The person must sign in once first, or "
                          "add their e-mail to the AL_ROSTER_STAFF setting.")
    for account in accounts:
        account.is_staff = True
        account.save()
    return accounts


def grant_district_admin(district: District, who: str) -> Account:
    """Lets the district's account with this e-mail or sourcedId see the district's console."""
    account = Account.get_or_none((Account.district == district) & (
        (fn.LOWER(Account.email) == who.strip().lower()) | (Account.sourced_id == who.strip())))
    if account is None:
        raise RosterError(f"No account '{who}' in {district.slug}. The person must sign in once "
                          "first (from ClassLink), then be granted.")
    account.district_admin = True
    account.save()
    return account
