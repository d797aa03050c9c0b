"""Sync records: each run, the issues it found, and the changes it made.

Creates and removals are read off the roster rows themselves (``first_run_id`` and
``removed_run_id``); a :class:`RunChange` is kept for every update, restore and removal,
with what undo needs to put the row back, so a first load of a million students writes
no change records at all.
"""
from __future__ import annotations

import peewee

from .base import BaseModel, JSONText
from .district import District, utcnow

RUNNING, APPLIED, HELD, REJECTED, FAILED, UNDONE, DISCARDED = (
    "running", "applied", "held", "rejected", "failed", "undone", "discarded")
#: Applied, removals held: what was safe is in the copy; the removals (or mass updates) of
#: the scope that tripped a guard wait, as change records of the held kinds, for a reviewer.
PARTIAL = "partial"
FINISHED = (APPLIED, HELD, PARTIAL, REJECTED, FAILED, UNDONE, DISCARDED)
#: Run statuses a reviewer decides: approve or reject what is held.
AWAITING_REVIEW = (HELD, PARTIAL)
STATUS_LABELS = {PARTIAL: "applied, removals held"}


class SyncRun(BaseModel):
    district = peewee.ForeignKeyField(District, backref="runs", on_delete="CASCADE")
    source = peewee.CharField(max_length=32, default="cli")  # cli, csv_drop, oneroster_api
    source_name = peewee.TextField(null=True)  # the file or URL the package came from
    status = peewee.CharField(max_length=16, default=RUNNING, index=True)
    oneroster_version = peewee.CharField(max_length=8, null=True)
    modes = JSONText(null=True)
    counts = JSONText(null=True)
    message = peewee.TextField(null=True)
    error_count = peewee.IntegerField(default=0)
    warning_count = peewee.IntegerField(default=0)
    package_path = peewee.TextField(null=True)  # kept copy of the package (held runs)
    worker = peewee.TextField(null=True)  # host:pid that ran it
    started_at = peewee.DateTimeField(default=utcnow)
    finished_at = peewee.DateTimeField(null=True)
    decided_by = peewee.TextField(null=True)  # who approved, rejected or undid it
    decided_at = peewee.DateTimeField(null=True)
    #: When the clean-up removed the run's changes and issues (it can no longer be undone),
    #: and blanked the personal fields of the records it removed (services.retention).
    details_removed_at = peewee.DateTimeField(null=True)
    tombstones_blanked_at = peewee.DateTimeField(null=True)

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class RunIssue(BaseModel):
    run = peewee.ForeignKeyField(SyncRun, backref="issues", on_delete="CASCADE")
    file = peewee.TextField(null=True)
    line = peewee.IntegerField(null=True)
    field = peewee.TextField(null=True)
    severity = peewee.CharField(max_length=8)
    message = peewee.TextField()
    count = peewee.IntegerField(default=1)


class RunChange(BaseModel):
    """One roster row a run updated, restored or removed, and how to put it back."""

    run_id = peewee.IntegerField()
    entity = peewee.CharField(max_length=32)
    row_id = peewee.IntegerField()
    sourced_id = peewee.TextField()
    #: updated, restored, removed; held_removal, held_update: not done, waiting for review
    kind = peewee.CharField(max_length=16)
    prev_last_run_id = peewee.IntegerField(null=True)
    before = peewee.TextField(null=True)  # JSON of the row's values before the run
    after = peewee.TextField(null=True)

    class Meta:
        indexes = ((("run_id", "entity", "kind"), False),)
