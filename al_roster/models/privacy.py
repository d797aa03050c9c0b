"""What stays of a district that was purged, and of a district's data handed back: who
did it, when, and how many rows and files; never a record's values (services.purge)."""
from __future__ import annotations

import peewee

from .base import BaseModel, JSONText
from .district import utcnow

PURGE, EXPORT = "purge", "export"


class PrivacyAudit(BaseModel):
    action = peewee.CharField(max_length=16)  # purge, export
    #: The district's slug, not its id: the id of a purged district may be given again.
    district_slug = peewee.CharField(max_length=64)
    by = peewee.TextField(null=True)  # "cli (user@host)" or "account 12 (staff)"
    at = peewee.DateTimeField(default=utcnow)
    counts = JSONText(null=True)  # per table and on disk

    class Meta:
        table_name = "privacy_audit"
