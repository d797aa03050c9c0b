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
from .binary_copy import as_bytes, copy_row_in, copy_two_out
from .sql import few_joined_to_many
from .tables import stage_table, whole_rows

if TYPE_CHECKING:
    from .identical_files import HeldFile
    from .plan import EntityPlan
    from .staging import Stage

#: Whether files' lines are keyed, kept and looked up (off only to compare the two).
KNOWN_LINES = True
#: Rows read whole (not known, not repeating a record) kept by their lines at most: as many
#: as one in twenty of the present records, and never fewer than this. Past it, the night
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
    found = (KnownLines.select(KnownLines.id, KnownLines.count, KnownLines.id_size,
                               KnownLines.seed)
             .where((KnownLines.district == stage.district_id)
                    & (KnownLines.entity == entity.name) & (KnownLines.run_id == held_file.run_id)
                    & (KnownLines.header == header)).first())
    if found is None or not _targets_all_here(db, stage, in_memory):
        return None
    return UnchangedRows.of_lines(found.count, found.id_size, found.seed,
                                  lambda keys, ids: _read_into(db, found.id, keys, ids))


def _read_into(db: peewee.Database, row_id: int, keys: np.ndarray, ids: np.ndarray) -> bool:
    """Reads a row's keys and ids into the arrays given; whether they were of their sizes.
    PostgreSQL sends them in binary COPY, written straight into the arrays (in text, as a
    query returns bytea, they would be 166 MB of hex at 6.9 M records, then 83 MB again);
    SQLite's blobs are read a piece at a time."""
    table = KnownLines._meta.table_name
    if not is_postgres(db):
        for column, target in (("keys", keys), ("ids", ids)):
            with db.connection().blobopen(table, column, row_id, readonly=True) as blob:
                if len(blob) != target.nbytes:
                    return False
                view = as_bytes(target)
                for start in range(0, len(blob), 1 << 20):
                    view[start:start + (1 << 20)] = blob.read(1 << 20)
        return True
    return copy_two_out(db, f'SELECT keys, ids FROM "{table}" WHERE id = {int(row_id)}',
                        as_bytes(keys), as_bytes(ids))


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
        staged = stage.entities[entity.name]
        staged.present, staged.known_lines = len(unchanged), True
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
    limit = max(MIN_WHOLE_KEPT, len(unchanged) // 20)
    unchanged.kept = KeptLines(len(unchanged), unchanged.by_lines, limit)
    return unchanged


def keep(db: peewee.Database, stage: Stage, run_id: int, plans: dict[str, EntityPlan]) -> None:
    """After the run applied every change its ``plans`` name: the lines of each file read
    keyed become the district's known lines of its entity, where complete; else it has
    none."""
    while stage.lines:  # (each file's let go before the next: enrollments, the largest, last)
        name = next(iter(stage.lines))
        keeping = stage.lines.pop(name)
        KnownLines.delete().where((KnownLines.district == stage.district_id)
                                  & (KnownLines.entity == name)).execute()
        found = _complete(db, stage, ENTITY_BY_NAME[name], keeping.unchanged, plans[name])
        if found is not None:
            _write(db, stage.district_id, name, run_id, keeping, *found)
        del found, keeping  # (what they held is let go at once)


def _complete(db: peewee.Database, stage: Stage, entity: Entity, unchanged: UnchangedRows,
              plan: EntityPlan) -> tuple[np.ndarray, np.ndarray] | None:
    """(sorted keys, their record ids) of every present record of ``entity``, each with
    the line that gave it tonight; None unless every one has exactly one (see the module).
    The present records are those before and those the applied ``plan`` made present, less
    those it removed (a count of 6.9 M enrollments took 1.1 s on SQLite)."""
    staged, kept = stage.entities[entity.name], unchanged.kept
    if staged.mode != "bulk" or not staged.clean or kept.overflowed or unchanged.repeats:
        return None
    present = plan.present_before + plan.created + plan.restored - plan.deleted
    whole = [] if not kept.whole else _staged_whole(db, stage, entity, kept.whole * 20 < present)
    held = unchanged.lines != 0
    if int(np.count_nonzero(held)) + len(whole) != present or len(whole) > kept.limit:
        return None
    keys, ids = _held(unchanged, held)
    del held
    unchanged.let_go()  # (keys and ids taken: the rest is not needed)
    if whole:
        keys, ids = _with_whole(keys, ids, kept, whole)
    if not np.all(keys) or (len(keys) > 1 and np.any(keys[1:] == keys[:-1])):
        return None  # a row with no key, or two lines of one key: neither tells its record
    return keys, ids


def _staged_whole(db: peewee.Database, stage: Stage, entity: Entity,
                  few: bool) -> list[tuple[int, int]]:
    """(line, record id) of the rows staged whole (none read whole, none staged: on a
    quiet night SQLite would otherwise walk the district's records to find so)."""
    p = db.param
    with few_joined_to_many(db, few):
        return db.execute_sql(f'SELECT s.line, r.id FROM "{stage_table(entity)}" s JOIN '
                              f'"{stage.roster(entity)}" r ON r.district_id = {p} AND '
                              f"r.sourced_id = s.sourced_id WHERE r.removed_run_id IS NULL "
                              f"AND {whole_rows('s')}", [stage.district_id]).fetchall()


def _held(unchanged: UnchangedRows, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, ids) of the records rows repeated (``held``, a mask of places), by key: with
    known lines looked up, each place's own key (in order already, and on a quiet night
    every one, as they are); else each row's line key, noted by place, sorted."""
    if unchanged.by_lines:
        if held.all():
            return unchanged.keys, unchanged.ids
        return unchanged.keys[held], unchanged.ids[held]
    unchanged.drop_keys()  # (the copy's keys, 55 MB at 6.9 M records: looked up no more)
    keys = unchanged.kept.by_place[held]
    unchanged.kept.by_place = None  # (55 MB at 6.9 M records, no longer needed)
    order = np.argsort(keys)
    keys = keys[order]
    return keys, unchanged.ids[held][order]


def _with_whole(keys: np.ndarray, ids: np.ndarray, kept: KeptLines,
                whole: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """``keys`` and ``ids`` (sorted by key) with the rows staged whole merged in: each
    row's line key, and the id of the record it is now."""
    lines = np.fromiter((row[0] for row in whole), dtype=np.int32, count=len(whole))
    whole_ids = np.fromiter((row[1] for row in whole), dtype=np.int64, count=len(whole))
    whole_keys = kept.keys_of_lines(lines)
    order = np.argsort(whole_keys)
    whole_keys, whole_ids = whole_keys[order], whole_ids[order]
    if ids.dtype != np.int64 and int(whole_ids.max()) >= 2**31:
        ids = ids.astype(np.int64)
    at = np.searchsorted(keys, whole_keys)
    return np.insert(keys, at, whole_keys), np.insert(ids, at, whole_ids.astype(ids.dtype))


def _write(db: peewee.Database, district_id: int, name: str, run_id: int, keeping: Keeping,
           keys: np.ndarray, ids: np.ndarray) -> None:
    """Writes the known lines, their arrays' bytes streamed as they are (no copy of 83 MB
    made at 6.9 M records): in binary COPY on PostgreSQL."""
    if ids.dtype == np.int64 and (not len(ids) or int(ids.max()) < 2**31):
        ids = ids.astype(np.int32)
    values = [district_id, name, run_id, keeping.header, keeping.unchanged.line_seed,
              len(keys), ids.dtype.itemsize, as_bytes(keys), as_bytes(ids), utcnow()]
    table = KnownLines._meta.table_name
    columns = [getattr(KnownLines, f).column_name for f in _FIELDS]
    if not is_postgres(db):
        names = ", ".join(f'"{c}"' for c in columns)
        db.execute_sql(f'INSERT INTO "{table}" ({names}) VALUES '
                       f"({', '.join('?' * len(values))})", values)
        return
    copy_row_in(db, table, columns, values, _KINDS)


_FIELDS = ("district", "entity", "run_id", "header", "seed", "count", "id_size", "keys", "ids",
           "written_at")
#: How each column goes in binary COPY (see binary_copy.copy_row_in).
_KINDS = ("i", "s", "i", "q", "q", "i", "h", "b", "b", "t")
