"""Classes teachers imported from their district's SIS, and who is in them.

A membership is keyed by the roster user's sourcedId, so a student who has not signed in
yet is already in the class; signing in links nothing, it only makes the account. Removal
is soft (``removed_run_id``/``removed_at``): the student's work stays and comes back with
the enrollment.
"""
from __future__ import annotations

import peewee

from .accounts import Account
from .base import BaseModel
from .district import District, utcnow

ACTIVE, ARCHIVED = "active", "archived"


class ImportedClass(BaseModel):
    district = peewee.ForeignKeyField(District, backref="imported_classes", on_delete="CASCADE")
    sourced_id = peewee.TextField()
    title = peewee.TextField()
    status = peewee.CharField(max_length=16, default=ACTIVE)
    imported_by = peewee.ForeignKeyField(Account, null=True, on_delete="SET NULL")
    created_at = peewee.DateTimeField(default=utcnow)
    archived_at = peewee.DateTimeField(null=True)
    archived_run_id = peewee.IntegerField(null=True)

    class Meta:
        indexes = ((("district", "sourced_id"), True),)

    @property
    def archived(self) -> bool:
        return self.status == ARCHIVED


class Membership(BaseModel):
    imported_class = peewee.ForeignKeyField(ImportedClass, backref="memberships",
                                            on_delete="CASCADE")
    district_id = peewee.IntegerField()
    user_sourced_id = peewee.TextField()
    role = peewee.CharField(max_length=16)  # teacher, student
    added_at = peewee.DateTimeField(default=utcnow)
    added_run_id = peewee.IntegerField(null=True)
    removed_at = peewee.DateTimeField(null=True)
    removed_run_id = peewee.IntegerField(null=True)

    class Meta:
        indexes = (
            (("imported_class", "user_sourced_id"), True),
            (("district_id", "user_sourced_id"), False),
        )

    @property
    def active(self) -> bool:
        return self.removed_at is None
