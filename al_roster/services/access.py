"""Who sees the support console, and which districts.

Staff (support) see every district. Who is staff is the operator's decision alone, never
something a district's data can set: an al_roster account marked ``is_staff``
(``al-roster staff grant ACCOUNT_ID``), an account id listed in ``AL_ROSTER_STAFF``, or the
host app's own hook (``ALRoster(app, is_staff=callable)``, called with the signed-in user).
E-mail addresses are never matched: a district writes its users' e-mails in its own files.

A district's OneRoster admins (the roster's district administrators, or accounts granted
with ``al-roster district grant-admin``) see their own district. Teachers, students and a
host app's own users (unless its hook names them staff) see none of it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from peewee import fn

from ..errors import AccessDenied, ConfigurationError, RosterError
from ..models import Account, District, RosterUser, database, present
from ..models.district import utcnow
from ..sync.change_events import stage_account_created
from ..sync.events import publishing

ADMIN_ROLES = frozenset({"administrator"})

#: A host app's staff rule: called with the signed-in user (its own or an al_roster Account).
StaffHook = Callable[[object], bool]


@dataclass(frozen=True)
class StaffPolicy:
    """The operator's list of staff: account ids and, optionally, the host app's hook."""

    account_ids: frozenset[int] = frozenset()
    hook: StaffHook | None = None
    #: The Account linked to a host app's own user (see :mod:`.host_users`).
    account_of: Callable[[object], Account | None] | None = None

    @classmethod
    def from_setting(cls, setting: str | None, hook: StaffHook | None = None,
                     account_of: Callable[[object], Account | None] | None = None
                     ) -> StaffPolicy:
        return cls(parse_staff_setting(setting), hook, account_of)

    def account(self, user) -> Account | None:
        """The roster Account a decision about ``user`` is made for, if any."""
        if isinstance(user, Account):
            return user if user.is_authenticated else None
        if self.account_of is None or user is None:
            return None
        return self.account_of(user)

    def is_staff(self, user) -> bool:
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        if self.hook is not None and self.hook(user):
            return True
        account = self.account(user)
        return account is not None and (account.is_staff or account.id in self.account_ids)


def parse_staff_setting(setting: str | None) -> frozenset[int]:
    """The account ids of ``AL_ROSTER_STAFF`` ("12, 40"); anything else is refused."""
    ids = set()
    for part in (setting or "").split(","):
        part = part.strip()
        if not part:
            continue
        number = part.removeprefix("alr:")
        if not number.isdigit():
            raise ConfigurationError(
                f"AL_ROSTER_STAFF lists {part!r}, which is not an account id. Staff are named "
                "by al_roster account id (AL_ROSTER_STAFF=12,40 or `al-roster staff grant "
                "ACCOUNT_ID`), or decided by your app through ALRoster(app, is_staff=...). "
                "E-mail addresses are not accepted: a district's roster files set them.")
        ids.add(int(number))
    return frozenset(ids)


def is_staff(user, staff: StaffPolicy) -> bool:
    return staff.is_staff(user)


def is_district_admin(user) -> bool:
    """Only an al_roster account can be a district's admin: a host app's own users are not
    roster people, whatever attributes they carry (their linked Account is asked instead)."""
    if not isinstance(user, Account) or not user.is_authenticated:
        return False
    return bool(user.district_admin or user.roster_admin) or (user.role or "") in ADMIN_ROLES


def administered_district_id(user, staff: StaffPolicy) -> int | None:
    """The district whose console ``user`` (or the Account linked to them) administers."""
    account = staff.account(user)
    return account.district_id if is_district_admin(account) else None


def can_use_console(user, staff: StaffPolicy) -> bool:
    return staff.is_staff(user) or administered_district_id(user, staff) is not None


def permitted_districts(user, staff: StaffPolicy) -> list[District]:
    """The districts ``user`` may look at, in slug order; empty for teachers and students."""
    if staff.is_staff(user):
        return list(District.select().order_by(District.slug))
    district_id = administered_district_id(user, staff)
    return [District.get_by_id(district_id)] if district_id is not None else []


def require_district(user, district: District, staff: StaffPolicy) -> District:
    if staff.is_staff(user):
        return district
    if administered_district_id(user, staff) == district.id:
        return district
    raise AccessDenied("You can see only your own district's rostering.")


def _account_by_id(account_id: str) -> Account:
    number = account_id.strip().removeprefix("alr:")
    if not number.isdigit():
        raise RosterError(f"'{account_id}' is not an account id. Staff are named by account "
                          "id, never by e-mail: the person signs in once, and their "
                          "/roster/api/me shows it as `account`.")
    account = Account.get_or_none(Account.id == int(number))
    if account is None:
        raise RosterError(f"No account {number}. The person must sign in once first.")
    return account


def grant_staff(account_id: str) -> Account:
    """Marks the account with this id as staff (never by e-mail: see the module's docstring)."""
    account = _account_by_id(account_id)
    Account.update(is_staff=True).where(Account.id == account.id).execute()
    account.is_staff = True
    return account


def revoke_staff(account_id: str) -> Account:
    account = _account_by_id(account_id)
    Account.update(is_staff=False).where(Account.id == account.id).execute()
    account.is_staff = False
    return account


def staff_accounts() -> list[Account]:
    return list(Account.select().where(Account.is_staff).order_by(Account.id))


def grant_district_admin(district: District, who: str) -> Account:
    """Lets the district's account with this sourcedId (or e-mail, when only one account of
    the district has it) see the district's console."""
    who = who.strip()
    account = Account.get_or_none((Account.district == district) & (Account.sourced_id == who))
    if account is None:
        matches = list(Account.select().where((Account.district == district)
                                              & (fn.LOWER(Account.email) == who.lower())))
        if len(matches) > 1:
            raise RosterError(f"{len(matches)} accounts of {district.slug} have the e-mail "
                              f"'{who}'. Name the person by sourcedId instead.")
        account = matches[0] if matches else None
    with publishing():  # a new account is announced (account_created) once committed
        if account is None:
            account = _account_of_roster_person(district, who)
        Account.update(district_admin=True).where(Account.id == account.id).execute()
    account.district_admin = True
    return account


def _account_of_roster_person(district: District, sourced_id: str) -> Account:
    """The account of a present roster person who never signed in (a school administrator,
    say, whom sign-in refuses until granted), made now."""
    person = present(RosterUser, district.id).where(RosterUser.sourced_id == sourced_id).first()
    if person is None:
        raise RosterError(f"No account or roster person '{sourced_id}' in {district.slug}. Name "
                          "them by their OneRoster sourcedId.")
    inserted = (Account.insert(district=district, sourced_id=person.sourced_id,
                               role="administrator", given_name=person.given_name,
                               family_name=person.family_name, email=person.email,
                               username=person.username, created_at=utcnow())
                .on_conflict_ignore().as_rowcount().execute())
    account = Account.get((Account.district == district) & (Account.sourced_id == sourced_id))
    if inserted == 1:
        stage_account_created(database.obj, account, "grant-admin")
    return account
