"""Sessions that really end.

Flask's session is a signed cookie: the server keeps no copy, so a cookie copied before
logout would keep working for as long as its signature holds. A sign-in therefore stamps the
session with the account's *session version* and the time; every request's user loader
checks both, and the roster behind the account:

- logout (``flask_login.logout_user``, from the plugin's route or the host's code) bumps the
  account's version, which ends every copy of every session of that account;
- a session older than ``AL_ROSTER_SESSION_HOURS`` (12 by default: classroom Chromebooks are
  shared) ends, however active;
- an account whose roster person was removed or turned off, whose role changed, or whose
  district lost ClassLink rostering is signed out at its next request.

Remember-me cookies do not carry the stamp, so they never sign an account in.
"""
from __future__ import annotations

import logging
import time

from ..models import Account, District, RosterUser
from .standing import roster_standing

log = logging.getLogger(__name__)

#: Where a sign-in's stamp lives in the session.
SESSION_KEY = "al_roster_sign_in"


def stamp(account: Account, now: float | None = None) -> dict:
    """What a sign-in writes into the session beside Flask-Login's user id."""
    return {"v": account.session_version, "at": int(time.time() if now is None else now)}


def stamp_for_host_user(account: Account, now: float | None = None) -> dict:
    """The stamp of a sign-in that logged in the host app's own user for ``account``: the
    same rules then end that user's session (the loader checks the Account it names)."""
    return stamp(account, now) | {"account": account.id}


def end_all_sessions(account: Account) -> None:
    """Every session of ``account``, on every device and in every copied cookie, ends."""
    (Account.update(session_version=Account.session_version + 1)
     .where(Account.id == account.id).execute())


def account_for_session(account_id: int, session_stamp, *, lifetime_hours: float,
                        now: float | None = None) -> Account | None:
    """The signed-in account, or None when its session has ended (and why, in the log)."""
    account = (Account.select(Account, District).join(District)
               .where(Account.id == account_id).first())
    if account is None:
        return None
    reason = _ended(account, session_stamp, lifetime_hours, time.time() if now is None else now)
    if reason:
        log.info("session of account %s ended: %s", account.id, reason)
        return None
    return account


def _ended(account: Account, session_stamp, lifetime_hours: float, now: float) -> str | None:
    if not isinstance(session_stamp, dict) or session_stamp.get("v") != account.session_version:
        return "signed out since (or never signed in here)"
    started = session_stamp.get("at")
    if not isinstance(started, int) or not 0 <= now - started <= lifetime_hours * 3600:
        return f"older than {lifetime_hours:g} hours"
    if not account.district.can_use_rostering:
        return "the district's ClassLink rostering is off"
    person = RosterUser.get_or_none((RosterUser.district_id == account.district_id)
                                    & (RosterUser.sourced_id == account.sourced_id))
    if person is None or not person.present:
        return "removed from the district's roster"
    if person.enabled_user is False:
        return "turned off in the district's roster"
    standing = roster_standing(person, account.district)
    if (standing.role, standing.administers_district) != (account.role, account.roster_admin):
        return "role changed in the district's roster"
    return None
