"""Roster events: what changed in imported classes, their members and accounts, in order.

Written in the same transaction as the change (see :mod:`al_roster.sync.events`), so a run
that is rejected, held, fails or is killed leaves none; read in id order through the cursor
(:func:`al_roster.api.events`), and sent as signals after commit (:mod:`al_roster.signals`).
"""
from __future__ import annotations

import peewee

from .base import BaseModel, JSONText
from .district import District, utcnow

CLASS_IMPORTED, CLASS_ARCHIVED, CLASS_RESTORED, CLASS_RENAMED = (
    "class_imported", "class_archived", "class_restored", "class_renamed")
MEMBER_ADDED, MEMBER_REMOVED, MEMBER_RESTORED = "member_added", "member_removed", "member_restored"
ACCOUNT_CREATED, ACCOUNT_RELINKED = "account_created", "account_relinked"
RUN_APPLIED, RUN_UNDONE = "run_applied", "run_undone"
KINDS = (CLASS_IMPORTED, CLASS_ARCHIVED, CLASS_RESTORED, CLASS_RENAMED, MEMBER_ADDED,
         MEMBER_REMOVED, MEMBER_RESTORED, ACCOUNT_CREATED, ACCOUNT_RELINKED, RUN_APPLIED,
         RUN_UNDONE)


class RosterEvent(BaseModel):
    id = peewee.BigAutoField()
    district = peewee.ForeignKeyField(District, backref="events", on_delete="CASCADE")
    kind = peewee.CharField(max_length=32)
    imported_class_id = peewee.IntegerField(null=True)
    class_sourced_id = peewee.TextField(null=True)
    user_sourced_id = peewee.TextField(null=True)
    account_id = peewee.IntegerField(null=True)
    #: The sync run that caused it, if a run did.
    run_id = peewee.IntegerField(null=True)
    #: The same for every event one transaction wrote (a sign-in, an import, a run).
    request_id = peewee.CharField(max_length=32, null=True)
    at = peewee.DateTimeField(default=utcnow)
    payload = JSONText(null=True)

    class Meta:
        table_name = "roster_event"
        indexes = ((("district", "id"), False), (("at",), False))

    def to_dict(self) -> dict:
        """The event as the JSON feed and ``al-roster events --json`` give it."""
        return {"id": self.id, "kind": self.kind, "district": self.district_id,
                "class": self.imported_class_id, "classSourcedId": self.class_sourced_id,
                "sourcedId": self.user_sourced_id, "account": self.account_id,
                "run": self.run_id, "request": self.request_id,
                "at": self.at.isoformat() + "Z" if self.at else None,
                "payload": self.payload or {}}
