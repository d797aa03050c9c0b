"""A district's known lines: the line keys of the file its copy of an entity was last read
from, with the records they gave (see :mod:`al_roster.sync.known_lines`).

Derived from the district's own files and copy, kept for one night's reading to the next,
and deleted with the district. The keys are XXH3 under the seed kept beside them, which no
one outside the database sees; the ids are the roster records' own.
"""
from __future__ import annotations

import peewee

from .base import BaseModel
from .district import District, utcnow


class KnownLines(BaseModel):
    district = peewee.ForeignKeyField(District, on_delete="CASCADE")
    entity = peewee.CharField(max_length=32)
    #: The run whose reading of the file they come from: they are looked at only while the
    #: copy provably still holds what that run read (see sync.identical_files).
    run_id = peewee.IntegerField()
    #: Of the entity, OneRoster version and header they were read under (line_keys.header_key).
    header = peewee.BigIntegerField()
    seed = peewee.BigIntegerField()
    count = peewee.IntegerField()
    #: Bytes of each record id in ``ids``: 4 (int32) or 8 (int64).
    id_size = peewee.SmallIntegerField()
    keys = peewee.BlobField()  # sorted uint64
    ids = peewee.BlobField()  # the record each key's line gave, in the keys' order
    written_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "roster_known_lines"
        indexes = ((("district", "entity"), True),)
