"""Known lines, kept from one night's reading to the next (see
:mod:`al_roster.oneroster.line_keys`).

An entity no other names (enrollments) has its unchanged rows held by their lines, not
staged (:mod:`al_roster.sync.narrow_rows`). When a run applies such a bulk file, read by a
reading process, cleanly, the key of each line that gave a present record is kept with the
record's id (:func:`keep`), replacing the district's previous ones. The next night the file
is looked up line by line against them instead of the copy's keys being fetched and every
line read (:func:`known_lines`): a known line is held as the record it gave; every other
line is read and staged whole, and the plan compares it as any whole row.

They are looked at only when all of these hold, and the copy's keys are fetched otherwise:

- the copy provably still holds what the run that kept them read (the same proof as for a
  file skipped as identical: :func:`~al_roster.sync.identical_files.files_the_copy_holds`),
  so each known line's record is present, with the values that line gave;
- the file has the header they were read under (the same entity, version and columns);
- no record the reading checks references against in memory (orgs, terms, a small file)
  is missing from tonight's package: a known line is not read, so its references are not
  checked there. References checked in SQL look at the records the held rows repeat, as for
  any narrow row.

They are kept only when complete: one key for every present record (a record spanning
lines has no key; a record kept under removal grace has no line), no key twice, every row
read keyed. At 1,000,000 students that is 6.9 M keys and ids (83 MB), written in about a
second with PostgreSQL's binary COPY.
"""
from __future__ import annotations

import datetime as dt
import io
import struct
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING

import peewee

from ..models import KnownLines
from ..models.base import is_postgres
from ..models.district import utcnow
from ..oneroster.entities import ENTITY_BY_NAME, Entity
from ..oneroster.line_keys import KeptLines, header_key
from ..oneroster.package import CsvPackage
from ..oneroster.unchanged import UnchangedRows, new_seed, np
from .sql import batches
from .tables import stage_table, whole_rows

if TYPE_CHECKING:
    from .identical_files import HeldFile
    from .staging import Stage

#: Whether files' lines are keyed, kept and looked up (off only to compare the two).
KNOWN_LINES = True
#: Rows read whole (not known, not repeating a record) kept by their lines at most: as many
#: as a quarter of the present records, and never fewer than this. Past it, the night
#: changed too much for its lines to be worth keeping; the next reads the copy's keys.
MIN_WHOLE_KEPT = 10_000


@dataclass
class Keeping:
    """The keys of a file's rows being kept for the next night, and its header's key."""

    unchanged: UnchangedRows
    header: int


def header_of(package: CsvPackage, entity: Entity) -> int:
    """The key of the file's header (see line_keys.header_key)."""
    with closing(package.text_lines(entity.file_name)) as lines:
        return header_key(entity.name, package.version, next(lines, ""))


def known_lines(db: peewee.Database, stage: Stage, entity: Entity, header: int,
                held_file: HeldFile | None, in_memory: list) -> UnchangedRows | None:
    """The district's known lines of ``entity`` as keys to look the file's lines up in,
    when they may be (see the module); ``in_memory``: the (row position, column, ids) of the
    references the reading checks in memory."""
    if held_file is None or not header:
        return None
    found = KnownLines.get_or_none((KnownLines.district == stage.district_id)
                                   & (KnownLines.entity == entity.name)
                                   & (KnownLines.run_id == held_file.run_id)
                                   & (KnownLines.header == header))
    if found is None or not _targets_all_here(db, stage, in_memory):
        return None
    return UnchangedRows.of_lines(found.keys, found.ids, found.id_size, found.seed)


def _targets_all_here(db: peewee.Database, stage: Stage, in_memory: list) -> bool:
    """Whether every present record a reference checked in memory may name is among the
    ids it is checked against tonight."""
    for _, column, ids in in_memory:  # (few: orgs, terms, up to KNOWN_IDS_LIMIT others)
        target = ENTITY_BY_NAME[column.refers_to]
        present = db.execute_sql(f'SELECT sourced_id FROM "{stage.roster(target)}" WHERE '
                                 f"district_id = {db.param} AND removed_run_id IS NULL",
                                 [stage.district_id])
        if any(row[0] not in ids for row in present):
            return False
    return True


def for_reading(db: peewee.Database, stage: Stage, package: CsvPackage, entity: Entity,
                held_file: HeldFile | None, in_memory: list,
                present_keys: Callable[[], UnchangedRows | None]) -> UnchangedRows | None:
    """The keys a file whose line keys are kept is read against: its known lines, where
    they may be looked at (the present records counted by them), else the copy's keys
    (``present_keys()``, None where it holds none); each line keyed and kept (:func:`keyed`)."""
    if not KNOWN_LINES:
        return present_keys()
    header = header_of(package, entity)
    unchanged = known_lines(db, stage, entity, header, held_file, in_memory)
    if unchanged is not None:
        stage.entities[entity.name].present = len(unchanged)
    else:
        unchanged = present_keys()
    if unchanged is not None:
        stage.lines[entity.name] = Keeping(keyed(unchanged), header)
    return unchanged


def keyed(unchanged: UnchangedRows) -> UnchangedRows:
    """``unchanged``, its reading to key every line (with the known lines' seed, or a new
    one) and the keys kept."""
    if unchanged.line_seed is None:
        unchanged.line_seed = new_seed() >> 1  # (kept as a signed 64-bit number)
    limit = max(MIN_WHOLE_KEPT, len(unchanged) // 4)
    unchanged.kept = KeptLines(unchanged.line_seed, len(unchanged), unchanged.by_lines, limit)
    return unchanged


def keep(db: peewee.Database, stage: Stage, run_id: int) -> None:
    """After the run applied every change: the lines of each file read keyed become the
    district's known lines of its entity, where complete; else it has none."""
    for name, keeping in stage.lines.items():
        KnownLines.delete().where((KnownLines.district == stage.district_id)
                                  & (KnownLines.entity == name)).execute()
        found = _complete(db, stage, ENTITY_BY_NAME[name], keeping.unchanged)
        if found is not None:
            _write(db, stage.district_id, name, run_id, keeping, *found)


def _complete(db: peewee.Database, stage: Stage, entity: Entity,
              unchanged: UnchangedRows) -> tuple[np.ndarray, np.ndarray] | None:
    """(sorted keys, their record ids) of every present record of ``entity``, each with
    the line that gave it tonight; None unless every one has exactly one (see the module)."""
    staged, kept = stage.entities[entity.name], unchanged.kept
    if staged.mode != "bulk" or not staged.clean or kept.overflowed or unchanged.repeats:
        return None
    held = unchanged.held_positions()
    keys = [unchanged.keys[held] if unchanged.by_lines else kept.by_place[held]]
    ids = [unchanged.ids[held].astype(np.int64)]
    p = db.param
    for batch in batches(db, f'SELECT s.line, r.id FROM "{stage_table(entity)}" s JOIN '
                             f'"{stage.roster(entity)}" r ON r.district_id = {p} AND '
                             f"r.sourced_id = s.sourced_id WHERE r.removed_run_id IS NULL "
                             f"AND {whole_rows('s')}", [stage.district_id]):
        lines = np.fromiter((row[0] for row in batch), dtype=np.int32, count=len(batch))
        keys.append(kept.keys_of_lines(lines))
        ids.append(np.fromiter((row[1] for row in batch), dtype=np.int64, count=len(batch)))
    keys_a, ids_a = np.concatenate(keys), np.concatenate(ids)
    present = db.execute_sql(f'SELECT COUNT(*) FROM "{stage.roster(entity)}" WHERE '
                             f"district_id = {p} AND removed_run_id IS NULL",
                             [stage.district_id]).fetchone()[0]
    if len(keys_a) != present or not np.all(keys_a):
        return None
    order = np.argsort(keys_a)
    keys_a, ids_a = keys_a[order], ids_a[order]
    if len(keys_a) > 1 and not np.all(keys_a[1:] != keys_a[:-1]):
        return None  # two lines of one key: neither can tell its record
    return keys_a, ids_a


def _write(db: peewee.Database, district_id: int, name: str, run_id: int, keeping: Keeping,
           keys: np.ndarray, ids: np.ndarray) -> None:
    small = not len(ids) or int(ids.max()) < 2**31
    ids_bytes = (ids.astype(np.int32) if small else ids).tobytes()
    values = [district_id, name.encode(), run_id, keeping.header, keeping.unchanged.line_seed,
              len(keys), 4 if small else 8, keys.tobytes(), ids_bytes, utcnow()]
    if not is_postgres(db):
        fields = [getattr(KnownLines, field) for field in _FIELDS]
        KnownLines.insert(dict(zip(fields, [*values[:1], name, *values[2:]], strict=True))).execute()
        return
    stream = io.BytesIO()
    stream.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">iih", 0, 0, len(values)))
    for value, kind in zip(values, _KINDS, strict=True):
        if kind == "t":  # microseconds since 2000-01-01
            value, kind = (value - _EPOCH) // dt.timedelta(microseconds=1), "q"
        data = value if kind == "b" else struct.pack(">" + kind, value)
        stream.write(struct.pack(">i", len(data)) + data)
    stream.write(struct.pack(">h", -1))
    stream.seek(0)
    columns = ", ".join(f'"{getattr(KnownLines, f).column_name}"' for f in _FIELDS)
    db.cursor().copy_expert(f'COPY "{KnownLines._meta.table_name}" ({columns}) FROM STDIN '
                            "(FORMAT binary)", stream)


_FIELDS = ("district", "entity", "run_id", "header", "seed", "count", "id_size", "keys", "ids",
           "written_at")
#: How each column goes in binary COPY: struct formats; "b", bytes as they are; "t", a time.
_KINDS = ("i", "b", "i", "q", "q", "i", "h", "b", "b", "t")
_EPOCH = dt.datetime(2000, 1, 1)
