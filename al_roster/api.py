"""What a host app may call: the public Python API of al_roster.

Everything a host needs is here (with :class:`al_roster.ALRoster` and the signals of
:mod:`al_roster.signals`); every other module is internal and may change in any release.
Call these inside the host app's application context (a request, a CLI command, a job):

    from al_roster import api

    api.classes_of(current_user)          # the signed-in person's imported classes
    api.class_roster(class_id)            # who is in one, from the roster copy
    api.is_managed_by_sis(class_id)       # True: refuse joins by code and hand edits
    api.find_account("springfield", "t-1")
    api.events(after=cursor, limit=500)   # the change feed (ordered, kept 30 days)

    class Assignment(peewee.Model):       # your own tables, beside the roster's
        class Meta:
            database = api.database

Versioning: the names in ``__all__`` (and the fields of the types they return) keep working
within a major version. A change that breaks them is made only in a new major version,
announced in the README's "For host apps" section and in the release notes one minor
version ahead, with the old name deprecated (a DeprecationWarning) in between.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from . import signals  # noqa: F401  (public: one blinker signal per event kind)
from .models import Account, District, ImportedClass, RosterEvent, SyncRun
from .models import database as _database
from .models.classes import ACTIVE
from .models.runs import AWAITING_REVIEW
from .services import class_rosters
from .services.class_import import ROSTER_FROM_SIS, ManagedBySis
from .settings import from_environment, roster_state

__all__ = [
    "Account", "DistrictSummary", "ManagedBySis", "Member", "Roster", "RosterClass", "RosterEvent",
    "RunSummary",
    "account_of", "class_roster", "classes_of", "csrf_token", "csrf_valid", "database",
    "districts", "events", "find_account", "is_managed_by_sis", "refuse_join_by_code",
    "refuse_roster_change", "settings_from_environment", "signals",
]

#: ``Account`` (what the sign-in hook receives and these functions return) is public in
#: these fields only: ``id``, ``sourced_id``, ``role``, ``name``, ``given_name``,
#: ``family_name``, ``email``, ``username``, ``district.slug``, ``created_at``.

#: The peewee database of the app in context (each app its own): bind your own peewee
#: models to it (``class Meta: database = api.database``) to keep your tables in the same
#: database; create them yourself (``api.database.create_tables([...], safe=True)``).
database = _database


@dataclass(frozen=True)
class RosterClass:
    """An imported class: ``id`` is stable (keep it in your tables); ``status`` is "active"
    or "archived" (removed in the SIS); ``role`` is the person's in it, when asked by person."""

    id: int
    sourced_id: str
    title: str
    status: str
    district: str
    role: str | None = None


@dataclass(frozen=True)
class Member:
    """A person in a class: ``account_id`` is None until they first sign in."""

    sourced_id: str
    name: str
    role: str
    account_id: int | None


@dataclass(frozen=True)
class Roster:
    """A class and its current members (removed ones are not listed), sorted by name."""

    klass: RosterClass
    teachers: tuple[Member, ...]
    students: tuple[Member, ...]

    @property
    def title(self) -> str:
        return self.klass.title


@dataclass(frozen=True)
class RunSummary:
    """A sync run: ``status`` as in ``al-roster runs`` (applied, partial, held, rejected, ...)."""

    id: int
    status: str
    started_at: dt.datetime
    message: str


@dataclass(frozen=True)
class DistrictSummary:
    """A district: its roster copy's present records per entity, its last run, and the
    newest run waiting for review (held, or applied with removals held), if any."""

    slug: str
    name: str
    plan: str
    rostering_enabled: bool
    counts: dict
    last_run: RunSummary | None
    review_run: RunSummary | None


def account_of(user) -> Account | None:
    """The roster Account behind ``user``: an Account itself, or the host user linked to one
    (``ALRoster(app, account_for_user=...)`` or its ``roster_account_id``); else None."""
    return roster_state().host_users.account_of(user)


def find_account(district: str, sourced_id: str) -> Account | None:
    """The Account of the person a district's roster names ``sourced_id`` (by slug), if they
    have signed in once."""
    return (Account.select(Account, District).join(District)
            .where((District.slug == district) & (Account.sourced_id == sourced_id)).first())


def classes_of(who) -> list[RosterClass]:
    """The imported classes of an Account or host user, active first, then by title; a
    teacher also gets their archived classes, a student only active ones."""
    account = account_of(who)
    if account is None:
        return []
    slug = account.district.slug
    return [_class(s.imported_class, slug, s.role)
            for s in class_rosters.classes_of(account)]


def class_roster(class_id: int) -> Roster:
    """The class's current teachers and students. Raises LookupError for an unknown id.
    No access check: decide in your app who may see it (or use the plugin's pages)."""
    klass = (ImportedClass.select(ImportedClass, District).join(District)
             .where(ImportedClass.id == class_id).first())
    if klass is None:
        raise LookupError(f"No imported class {class_id}.")
    (found,) = class_rosters.rosters_of([klass])
    summary = _class(klass, klass.district.slug)
    return Roster(summary, tuple(_member(p, "teacher") for p in found.teachers),
                  tuple(_member(p, "student") for p in found.students))


def is_managed_by_sis(class_id: int) -> bool:
    """True for an imported class: its members come from the SIS. Your app should then offer
    no join code and no hand edits; call :func:`refuse_roster_change` to say why."""
    return ImportedClass.select().where(ImportedClass.id == class_id).exists()


def refuse_join_by_code(class_id: int) -> None:
    """Raises :class:`ManagedBySis` (``code`` "managed_by_sis", ``message`` for the person:
    sign in through ClassLink to join) when ``class_id`` is an imported class."""
    if is_managed_by_sis(class_id):
        raise ManagedBySis()


def refuse_roster_change(class_id: int) -> None:
    """Raises :class:`ManagedBySis` (its ``message``: students are added and removed in the
    SIS) when ``class_id`` is an imported class; returns otherwise."""
    if is_managed_by_sis(class_id):
        raise ManagedBySis(ROSTER_FROM_SIS)


def districts() -> list[DistrictSummary]:
    """Every district, by name (for an operator's dashboard, not for every visitor)."""
    from .services.districts import roster_counts
    summaries = []
    for district in District.select().order_by(District.name):
        runs = SyncRun.select().where(SyncRun.district == district).order_by(SyncRun.id.desc())
        held = runs.where(SyncRun.status.in_(AWAITING_REVIEW))
        summaries.append(DistrictSummary(
            district.slug, district.name, district.plan, bool(district.rostering_enabled),
            roster_counts(district), _run(runs.first()), _run(held.first())))
    return summaries


def csrf_token() -> str:
    """The session's CSRF token (templates also have ``csrf_token()``): put it in your
    forms as ``csrf_token``, or send it as ``X-CSRF-Token``."""
    from .services.csrf_tokens import csrf_token as token
    return token()


def csrf_valid() -> bool:
    """True when the current request carries the session's CSRF token. The plugin checks
    its own routes; call this in yours if they use the same token."""
    from .services.csrf_tokens import token_sent
    return token_sent()


def events(after: int = 0, limit: int = 500, district: str | None = None) -> list[RosterEvent]:
    """The roster's change feed: the events with an id above the cursor ``after`` (0 for the
    oldest kept), oldest first, at most ``limit`` (1 to 1,000); only ``district``'s (a slug)
    when given. Keep the id of the last event you handled and pass it next time: every event
    comes exactly once, in the order it was committed, even while syncs write new ones.

    An event (:class:`~al_roster.models.RosterEvent`, ``to_dict()`` for JSON) has ``id``,
    ``kind`` (see :mod:`al_roster.signals` for the kinds and their payloads), ``district_id``,
    ``imported_class_id``, ``class_sourced_id``, ``user_sourced_id``, ``account_id``,
    ``run_id``, ``request_id``, ``at`` (UTC) and ``payload``. Events are kept
    ``AL_ROSTER_EVENT_DAYS`` (30) days.
    """
    from .services import districts
    from .services.roster_events import events as feed
    district_id = districts.get_district(district).id if district else None
    return feed(after=after, limit=limit, district_id=district_id)


def settings_from_environment() -> dict:
    """The AL_ROSTER_* settings named in the environment, typed as the app wants them."""
    return from_environment()


def _class(klass: ImportedClass, district: str, role: str | None = None) -> RosterClass:
    return RosterClass(klass.id, klass.sourced_id, klass.title,
                       klass.status or ACTIVE, district, role)


def _run(run: SyncRun | None) -> RunSummary | None:
    if run is None:
        return None
    return RunSummary(run.id, run.status, run.started_at, run.message or "")


def _member(person: class_rosters.Person, role: str) -> Member:
    return Member(person.sourced_id, person.name, role, person.account_id)
