"""Districts: the tenants. Each has its own roster copy, plan and source."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import peewee

from .base import BaseModel, JSONText

PLANS = ("prime", "basic")
DEFAULT_DELETION_THRESHOLD = 0.10
DEFAULT_SCOPE_THRESHOLD = 0.25
DEFAULT_UPDATE_THRESHOLD = 0.50
#: Where a district is unless it says otherwise: most districts ClassLink serves are in the
#: Americas, and a server's own zone (often UTC) would start their day hours early.
DEFAULT_TIMEZONE = "America/New_York"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class District(BaseModel):
    slug = peewee.CharField(max_length=64, unique=True)
    name = peewee.TextField()
    classlink_tenant_id = peewee.CharField(max_length=64, null=True, unique=True)
    plan = peewee.CharField(max_length=16, default="basic")
    rostering_enabled = peewee.BooleanField(default=False)
    #: Share of any one entity's present records a bulk run may remove before it is held.
    deletion_threshold = peewee.FloatField(default=DEFAULT_DELETION_THRESHOLD)
    #: Share of one school's or term's enrollments, classes or users a run may remove.
    scope_threshold = peewee.FloatField(default=DEFAULT_SCOPE_THRESHOLD)
    #: Share of an entity's present records a run may rewrite before its updates are held.
    update_threshold = peewee.FloatField(default=DEFAULT_UPDATE_THRESHOLD)
    #: Hold a risky run whole (nothing applied) instead of only its risky part.
    hold_whole_runs = peewee.BooleanField(default=False)
    #: A record missing from a bulk file is removed only once missing from this many
    #: consecutive applied bulk runs (0: at once).
    removal_grace_runs = peewee.IntegerField(default=0)
    #: "none", "csv_drop" or "oneroster_api"; the details (never a secret) in source_config.
    source_kind = peewee.CharField(max_length=32, default="none")
    source_config = JSONText(null=True)
    contacts = peewee.TextField(null=True)  # comma-separated e-mail addresses
    #: An IANA time zone: terms, enrollments and roles begin and end on its calendar.
    timezone = peewee.CharField(max_length=64, default=DEFAULT_TIMEZONE)
    created_at = peewee.DateTimeField(default=utcnow)

    @property
    def can_use_rostering(self) -> bool:
        return self.plan == "prime" and self.rostering_enabled

    def today(self) -> dt.date:
        """The district's today: the date where the district is, asked everywhere a date
        decides something (sign-in, import, the nightly reconciliation, "why")."""
        return self.date_at(utcnow())

    def date_at(self, moment: dt.datetime) -> dt.date:
        """The district's date at ``moment`` (naive UTC, as the app stamps times)."""
        zone = zone_or_none(self.timezone) or zone_or_none(DEFAULT_TIMEZONE)
        return moment.replace(tzinfo=dt.UTC).astimezone(zone).date()

    def __str__(self) -> str:
        return self.slug


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """The IANA time zone ``name``, or None if there is no such zone."""
    try:
        return ZoneInfo(name) if name and name == name.strip() else None
    except (ZoneInfoNotFoundError, ValueError):
        return None
