"""Creating, changing, finding and describing districts.

The rules for what a district's settings may hold, and who may change which, live here, so
the console, its JSON twin and the command line apply the same ones: they parse what they
were given into :class:`DistrictChanges` and call :func:`create_district` or
:func:`update_district`, which check, save the settings, the source and the LTI
registration in one transaction, all or nothing. The ClassLink tenant id decides which
district a ClassLink sign-in belongs to, so, like the plan, the source (a server path or
address the sync reads) and the LTI registration, only staff set it. Names and contacts end
up in mail headers: control characters are refused where they are entered, and contacts
must be plain e-mail addresses.
"""
from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, fields

import peewee

from ..errors import AccessDenied, Conflict, DistrictNotFound, RosterError
from ..logsafe import for_log
from ..models import ROSTER_MODELS, District, SyncRun, database, present
from ..models.base import write_transaction
from ..models.district import PLANS, zone_or_none
from ..sync.runner import SyncOptions, check_abandoned_runs
from . import lti, sources

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
#: A plain address, as the mail we send can use it: no display name, no quoting.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
#: Fields only staff may change, with how a refusal names them.
STAFF_ONLY = {"plan": "plan", "classlink_tenant_id": "ClassLink tenant id",
              "source": "source", "lti": "LTI registration"}


@dataclass(frozen=True)
class Editor:
    """Who changes a district: support staff may change everything, a district's own
    OneRoster administrator all but the staff-only settings. ``name`` goes in the log."""

    staff: bool
    name: str


#: The operator's command line.
OPERATOR = Editor(staff=True, name="command line")


@dataclass(frozen=True)
class SourceChange:
    """Where the district's packages come from: ``kind`` none, csv_drop (``directory``) or
    oneroster_api (``url``, ``version``, ``client_id``, ``client_secret_env``)."""

    kind: str
    directory: str = ""
    settle_seconds: int = sources.DEFAULT_SETTLE_SECONDS
    url: str = ""
    version: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    token_url: str | None = None


@dataclass(frozen=True)
class LtiChange:
    """The district's LTI 1.3 platform registration (added, or updated by issuer and client)."""

    issuer: str
    client_id: str
    deployment_ids: tuple[str, ...]
    auth_login_url: str
    auth_token_url: str
    key_set_url: str


@dataclass(frozen=True)
class DistrictChanges:
    """What to change; None leaves a field as it is ("" clears a tenant id or contacts)."""

    name: str | None = None
    classlink_tenant_id: str | None = None
    plan: str | None = None
    rostering: bool | None = None
    deletion_threshold: float | None = None
    contacts: str | None = None
    scope_threshold: float | None = None
    update_threshold: float | None = None
    hold_whole_runs: bool | None = None
    removal_grace_runs: int | None = None
    timezone: str | None = None
    source: SourceChange | None = None
    lti: LtiChange | None = None


def get_district(slug: str) -> District:
    district = District.get_or_none(District.slug == slug)
    if district is None:
        raise DistrictNotFound(f"No district '{slug}'. `al-roster district add {slug} --name ...` "
                               "creates it.")
    return district


def add_district(slug: str, name: str, *, classlink_tenant_id: str | None = None,
                 plan: str = "basic", rostering: bool = False,
                 deletion_threshold: float | None = None,
                 contacts: str | None = None) -> District:
    """A new district, made by the operator (``al-roster district add``)."""
    return create_district(slug, DistrictChanges(
        name=name, classlink_tenant_id=classlink_tenant_id, plan=plan, rostering=rostering,
        deletion_threshold=deletion_threshold, contacts=contacts), by=OPERATOR)


def create_district(slug: str, changes: DistrictChanges, *, by: Editor) -> District:
    """Makes the district ``slug`` with ``changes`` (a name defaults to the slug), its source
    and LTI registration included, all or nothing. Only staff create districts."""
    if not by.staff:
        raise AccessDenied("Only support staff can create districts.")
    check_slug(slug)
    with write_transaction():
        if District.select().where(District.slug == slug).exists():
            raise RosterError(f"District '{slug}' already exists.")
        district = District(slug=slug, name=slug)
        district = _apply(district, changes, by)
    log.info("district %s created by %s", slug, for_log(by.name))
    return district


def update_district(district: District, changes: DistrictChanges, *, by: Editor) -> District:
    """Applies ``changes`` (all or, on any refusal, none of them) and saves the district,
    its source and its LTI registration.

    Raises :class:`AccessDenied` when someone not staff changes a staff-only setting,
    :class:`Conflict` when the tenant id belongs to another district.
    """
    with write_transaction():
        district = _apply(district, changes, by)
    log.info("district %s changed by %s: %s", district.slug, for_log(by.name),
             ", ".join(f.name for f in fields(changes) if getattr(changes, f.name) is not None))
    return district


def _apply(district: District, changes: DistrictChanges, by: Editor) -> District:
    if not by.staff:
        _refuse_staff_only(district, changes)
    plan = changes.plan or district.plan
    rostering = district.rostering_enabled if changes.rostering is None else changes.rostering
    check_plan(plan, rostering)
    district.plan, district.rostering_enabled = plan, rostering
    if changes.name is not None:
        district.name = check_name(changes.name or district.slug)
    if changes.classlink_tenant_id is not None:
        district.classlink_tenant_id = check_tenant_id(changes.classlink_tenant_id, district.id)
    if changes.deletion_threshold is not None:
        district.deletion_threshold = check_threshold(changes.deletion_threshold)
    if changes.contacts is not None:
        district.contacts = check_contacts(changes.contacts)
    if changes.timezone is not None:
        district.timezone = check_timezone(changes.timezone)
    _apply_guard_settings(district, changes)
    with _tenant_taken_is_a_conflict(district.classlink_tenant_id):
        district.save()
    if changes.source is not None:
        _set_source(district, changes.source)
    if changes.lti is not None:
        lti.register_platform(district, issuer=changes.lti.issuer,
                              client_id=changes.lti.client_id,
                              deployment_ids=list(changes.lti.deployment_ids),
                              auth_login_url=changes.lti.auth_login_url,
                              auth_token_url=changes.lti.auth_token_url,
                              key_set_url=changes.lti.key_set_url)
    return district


def _set_source(district: District, source: SourceChange) -> None:
    if source.kind == sources.NONE:
        sources.clear_source(district)
    elif source.kind == sources.CSV_DROP:
        if not source.directory:
            raise RosterError("A CSV drop needs the folder the district's files arrive in.")
        sources.set_csv_drop(district, source.directory, settle_seconds=source.settle_seconds)
    elif source.kind == sources.ONEROSTER_API:
        sources.set_oneroster_api(district, source.url, source.version, source.client_id,
                                  source.client_secret_env, token_url=source.token_url)
    else:
        raise RosterError("The source is none, csv_drop or oneroster_api.")


def _apply_guard_settings(district: District, changes: DistrictChanges) -> None:
    """The guards' shares, whole-run holds and removal grace (see sync.guards)."""
    if changes.scope_threshold is not None:
        district.scope_threshold = check_threshold(changes.scope_threshold)
    if changes.update_threshold is not None:
        district.update_threshold = check_threshold(changes.update_threshold)
    if changes.hold_whole_runs is not None:
        district.hold_whole_runs = bool(changes.hold_whole_runs)
    if changes.removal_grace_runs is not None:
        district.removal_grace_runs = check_grace(changes.removal_grace_runs)


@contextmanager
def _tenant_taken_is_a_conflict(tenant_id: str | None):
    """Two districts given one tenant at once: the database's unique key decides."""
    try:
        with database.atomic():
            yield
    except peewee.IntegrityError as exc:
        if tenant_id is not None and District.select().where(
                District.classlink_tenant_id == tenant_id).exists():
            raise Conflict(f"ClassLink tenant {tenant_id} already belongs to another "
                           "district.") from exc
        raise


def _refuse_staff_only(district: District, changes: DistrictChanges) -> None:
    for field in fields(changes):
        if field.name not in STAFF_ONLY:
            continue
        wanted = getattr(changes, field.name)
        if wanted is None:
            continue
        if isinstance(wanted, str) and (wanted.strip() or None) == getattr(district, field.name):
            continue  # the form sent the value it showed
        raise AccessDenied(f"Only support staff can change a district's "
                           f"{STAFF_ONLY[field.name]}.")


def check_plan(plan: str, rostering: bool) -> None:
    if plan not in PLANS:
        raise RosterError(f"Plan must be one of {', '.join(PLANS)}.")
    if rostering and plan != "prime":
        raise RosterError("ClassLink rostering can be enabled only on the Prime plan.")


def check_threshold(value: float) -> float:
    if not 0 <= value <= 1:
        raise RosterError("The deletion threshold is a share between 0 and 1 (0.1 is 10%).")
    return value


def check_grace(runs: int) -> int:
    if not isinstance(runs, int) or not 0 <= runs <= 30:
        raise RosterError("Removal grace is a number of runs from 0 (off: remove at once) to 30.")
    return runs


def check_timezone(name: str) -> str:
    """An IANA time zone name (America/Chicago, Pacific/Honolulu): the district's calendar."""
    name = (name or "").strip()
    if len(name) > 64 or zone_or_none(name) is None:
        raise RosterError(f"{name[:40]!r} is not a time zone; give an IANA name such as "
                          "America/Chicago or Pacific/Honolulu.")
    return name


def check_slug(slug: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", slug or ""):
        raise RosterError(f"A district's slug is lower-case letters, digits, '-' and '_' "
                          f"(at most 64), e.g. springfield; not {slug!r}.")
    return slug


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200 or _CONTROL.search(name):
        raise RosterError("A district's name is one line of at most 200 characters, with no "
                          "control characters.")
    return name


def check_contacts(contacts: str | None) -> str | None:
    """Comma-separated plain e-mail addresses, normalised to "a@x.org, b@y.org"; "" clears."""
    if contacts is None or not contacts.strip():
        return None
    if _CONTROL.search(contacts):
        raise RosterError("Contacts are e-mail addresses separated by commas, on one line.")
    addresses = [part.strip() for part in contacts.split(",") if part.strip()]
    for address in addresses:
        if len(address) > 254 or not _ADDRESS.fullmatch(address):
            raise RosterError(f"Contact {address!r} is not an e-mail address (name@example.org).")
    return ", ".join(addresses)


def check_tenant_id(tenant_id: str | None, district_id: int | None) -> str | None:
    """A ClassLink tenant id free for this district; "" or None: no tenant."""
    tenant_id = (tenant_id or "").strip() or None
    if tenant_id is None:
        return None
    if len(tenant_id) > 64 or _CONTROL.search(tenant_id):
        raise RosterError("A ClassLink tenant id is at most 64 characters, on one line.")
    other = District.get_or_none(District.classlink_tenant_id == tenant_id)
    if other is not None and other.id != district_id:
        raise Conflict(f"ClassLink tenant {tenant_id} already belongs to another district. "
                       "A tenant signs in to one district only.")
    return tenant_id


def roster_counts(district: District) -> dict[str, int]:
    """Present (not removed) records per entity in the district's roster copy."""
    return {name: present(model, district.id).count() for name, model in ROSTER_MODELS.items()}


def last_run(district: District) -> SyncRun | None:
    return district.runs.order_by(SyncRun.id.desc()).first()


def describe_district(district: District, options: SyncOptions | None = None) -> dict:
    if options is not None:
        check_abandoned_runs(district, options)
    run = last_run(district)
    return {
        "slug": district.slug,
        "name": district.name,
        "classlinkTenantId": district.classlink_tenant_id,
        "plan": district.plan,
        "rosteringEnabled": district.rostering_enabled,
        "deletionThreshold": district.deletion_threshold,
        "scopeThreshold": district.scope_threshold,
        "updateThreshold": district.update_threshold,
        "holdWholeRuns": district.hold_whole_runs,
        "removalGraceRuns": district.removal_grace_runs,
        "timezone": district.timezone,
        "source": {"kind": district.source_kind, **(district.source_config or {})},
        "counts": roster_counts(district),
        "lastRun": None if run is None else {
            "run": run.id, "status": run.status, "startedAt": run.started_at.isoformat() + "Z",
            "message": run.message},
    }
