"""Districts: the tenants. Each has its own roster copy, plan and source."""
from __future__ import annotations

import datetime as dt

import peewee

from .base import BaseModel, JSONText

PLANS = ("prime", "basic")
DEFAULT_DELETION_THRESHOLD = 0.10
DEFAULT_SCOPE_THRESHOLD = 0.25
DEFAULT_UPDATE_THRESHOLD = 0.50


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
    timezone = peewee.CharField(max_length=64, default="America/New_York")
    created_at = peewee.DateTimeField(default=utcnow)

    @property
    def can_use_rostering(self) -> bool:
        return self.plan == "prime" and self.rostering_enabled

    def __str__(self) -> str:
        return self.slug
