"""The roster copy: one table per OneRoster entity, keyed by (district, sourcedId).

The tables are built from :mod:`al_roster.oneroster.entities`, so a column added to the spec
description appears here too. References stay sourcedId strings (files load in any order,
a dangling one is reported, not fatal). Every row records the run that first saw it
(``first_run_id``), the last run that changed it (``last_run_id``) and the run that
removed it (``removed_run_id``; removal is a tombstone, never a delete), plus ``row_hash``,
a digest of its values, so a sync compares rows without comparing columns.
"""
from __future__ import annotations

import peewee

from ..oneroster.entities import ENTITIES, Column, Entity, all_stored_columns
from .base import BaseModel

FIELD_TYPES = {"bool": peewee.BooleanField, "date": peewee.DateField}

#: Extra indexes beyond (district_id, sourced_id), for the lookups launches and imports make,
#: for the nightly reconciliation's (the rows a run changed, the enrollments beginning or
#: ending on a day) and for the per-school guard's count of present enrollments by school and
#: class (read from the index alone).
LOOKUP_INDEXES = {
    "enrollments": (("district_id", "class_sourced_id"), ("district_id", "user_sourced_id"),
                    ("district_id", "last_run_id"), ("district_id", "begin_date"),
                    ("district_id", "end_date"),
                    ("district_id", "school_sourced_id", "class_sourced_id", "removed_run_id")),
    "roles": (("district_id", "user_sourced_id"),),
    "users": (("district_id", "username"), ("district_id", "last_run_id")),
}


class RosterRecord(BaseModel):
    """Columns every roster table has."""

    district_id = peewee.IntegerField()
    sourced_id = peewee.TextField()
    date_last_modified = peewee.TextField(null=True)
    extra = peewee.TextField(null=True)  # metadata.* columns as JSON
    row_hash = peewee.BigIntegerField()
    first_run_id = peewee.IntegerField()
    last_run_id = peewee.IntegerField()
    removed_run_id = peewee.IntegerField(null=True)
    #: Removal grace: the first of the consecutive bulk runs whose file lacked the record,
    #: and how many they are (None while it is in the files).
    missing_since_run_id = peewee.IntegerField(null=True)
    missing_runs = peewee.IntegerField(null=True)

    @property
    def present(self) -> bool:
        return self.removed_run_id is None


def _field(column: Column) -> peewee.Field:
    return FIELD_TYPES.get(column.kind, peewee.TextField)(null=True, column_name=column.attr)


def _model_for(entity: Entity, class_name: str) -> type[RosterRecord]:
    table = "roster_" + "".join("_" + c.lower() if c.isupper() else c for c in entity.name)
    indexes = [(("district_id", "sourced_id"), True)]
    indexes += [(cols, False) for cols in LOOKUP_INDEXES.get(entity.name, ())]
    attrs = {c.attr: _field(c) for c in all_stored_columns(entity)}
    attrs["Meta"] = type("Meta", (), {"table_name": table, "indexes": tuple(indexes)})
    attrs["entity"] = entity
    attrs["__module__"] = __name__
    return type(class_name, (RosterRecord,), attrs)


CLASS_NAMES = {
    "orgs": "Org", "academicSessions": "AcademicSession", "courses": "Course",
    "classes": "RosterClass", "users": "RosterUser", "roles": "RosterRole",
    "enrollments": "Enrollment",
}
ROSTER_MODELS: dict[str, type[RosterRecord]] = {
    e.name: _model_for(e, CLASS_NAMES[e.name]) for e in ENTITIES
}
Org = ROSTER_MODELS["orgs"]
AcademicSession = ROSTER_MODELS["academicSessions"]
Course = ROSTER_MODELS["courses"]
RosterClass = ROSTER_MODELS["classes"]
RosterUser = ROSTER_MODELS["users"]
RosterRole = ROSTER_MODELS["roles"]
Enrollment = ROSTER_MODELS["enrollments"]


def present(model: type[RosterRecord], district_id: int):
    """The query of a district's present (not removed) records of one entity."""
    return model.select().where(
        (model.district_id == district_id) & model.removed_run_id.is_null())
