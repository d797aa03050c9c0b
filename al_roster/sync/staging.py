"""Read -> stage: a package's files streamed into temporary tables, then checked in bulk.

Every entity gets a staging table shaped like its roster table (an empty one when the
manifest says the file is absent, so later SQL need not special-case it). Rows are
checked one by one while they stream in (:mod:`al_roster.oneroster.rows`); what needs the
whole package (duplicate sourcedIds, references to other files or to the roster copy) is
checked afterwards in SQL (:mod:`al_roster.sync.stage_checks`), and the offending rows
are reported and left out.

A bulk file's rows that the copy already holds value for value are narrow (line, sourcedId
and hash; :mod:`al_roster.oneroster.unchanged`): held by their lines, not staged (staged
narrow in a file naming its own records; :mod:`al_roster.sync.narrow_rows`), the lines
last night's did too found by their keys, not read (:mod:`al_roster.sync.known_lines`): a
night's re-export writes only what changed. Whatever reads a staged row's values reads whole rows
alone (:func:`~al_roster.sync.tables.whole_rows`), but for the references checked in SQL,
which read the narrow rows' values in the copy. The present records no row repeated
are kept by id, where the removals are looked for.

Big files are read by a reading process beside this one, the biggest in two parts by two
(:mod:`al_roster.oneroster.split_reading`).
"""
from __future__ import annotations

import logging
import os
from contextlib import closing
from dataclasses import dataclass, field

import peewee

from ..errors import PackageRejected
from ..models import partitions
from ..models.base import is_postgres
from ..models.roster import ROSTER_MODELS
from ..oneroster.entities import ENTITIES, ENTITY_BY_NAME, Entity, all_stored_columns
from ..oneroster.issues import WARNING, IssueLog
from ..oneroster.known_references import KnownReferences
from ..oneroster.package import CsvPackage
from ..oneroster.reading_process import ReadingProcess
from ..oneroster.rows import FileReader
from ..oneroster.split_reading import SplitAbandoned, read_in_two
from ..oneroster.unchanged import UnchangedRows, marking, new_seed
from . import known_lines
from .identical_files import repeats_previous_file
from .narrow_rows import keep_unmatched, stage_after_reading, stage_naming
from .sql import batches, bulk_load, column_type, create_temp_table, drop_temp_tables, load_prepared
from .stage_checks import GONE_TARGETS, GONE_VALUES, BulkChecks
from .tables import analyze, removals_table, roster_table, stage_columns, stage_table, unmatched_table

log = logging.getLogger(__name__)

#: Entities small enough that references to them are always checked while reading, against
#: their sourcedIds in memory (lists of ids are checked only against these).
LIST_TARGETS = ("orgs", "academicSessions")
#: Above this many records, references to an entity are checked in SQL: memory stays flat
#: whatever the district's size (a set of this many sourcedIds is about 20 MB).
KNOWN_IDS_LIMIT = 200_000
#: Files at least this big are read in a second process while this one loads the rows (both
#: cores at work); smaller ones are read here, where starting that process would cost more.
PARALLEL_MIN_BYTES = 1024 * 1024
#: Files at least this big are read in two parts at once, by two reading processes.
SPLIT_MIN_BYTES = 8 * 1024 * 1024
#: Whether a bulk file's unchanged rows are staged narrow (off only to compare the two).
STAGE_UNCHANGED_NARROW = True


def _keys(job: tuple) -> UnchangedRows | None:
    """The keys a reading job splits its rows against (its last part; see Stager._load)."""
    return job[-1]


def _two_cores() -> bool:
    return len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else (
        (os.cpu_count() or 1) > 1)


def _start_reading() -> ReadingProcess | None:
    """The reading process, or None (then every file is read here) if it cannot start."""
    try:
        return ReadingProcess()
    except OSError:
        log.warning("the reading process did not start; files are read in this one",
                    exc_info=True)
        return None


@dataclass
class StagedEntity:
    entity: Entity
    mode: str
    rows: int = 0  # rows kept after every check
    read: int = 0  # rows that passed the per-row checks
    digest: str | None = None  # of the file's bytes, for bulk files
    identical_to: int | None = None  # the run whose file this one repeats byte for byte
    clean: bool | None = None  # read with no row skipped and no reference to nothing
    unique: bool = False  # each sourcedId staged once (no duplicates to drop)
    narrow: int = 0  # rows staged narrow (the copy holds their values), once checked kept
    present: int | None = None  # the copy's present records, where their keys were fetched
    known_lines: bool = False  # its lines looked up among the known lines (sync.known_lines)


@dataclass
class Stage:
    """The staged package: per entity its mode and row counts."""

    district_id: int
    version: str
    entities: dict[str, StagedEntity] = field(default_factory=dict)
    #: The district's removal grace, in runs (see sync.grace); 0 or 1: removed at once.
    removal_grace: int = 0
    #: Entities whose removals the plan found and kept (see sync.tables.removals_table).
    removals: set[str] = field(default_factory=set)
    #: Bulk entities whose present records no narrow row repeats are kept by id (see
    #: sync.tables.unmatched_table): only those can be removals.
    unmatched: set[str] = field(default_factory=set)
    #: The district's own partitions of the roster tables (see models.partitions).
    partitions: dict[str, str] = field(default_factory=dict)
    #: Per entity, the line keys of its file's rows, kept once the run is applied
    #: (see sync.known_lines).
    lines: dict[str, known_lines.Keeping] = field(default_factory=dict)

    def mode(self, name: str) -> str:
        return self.entities[name].mode

    def roster(self, entity: Entity) -> str:
        """The roster table of ``entity`` to name in statements about this district."""
        table = roster_table(entity)
        return self.partitions.get(table, table)


class Stager(BulkChecks):
    """Loads and checks one package inside the caller's transaction."""

    def __init__(self, db: peewee.Database, district_id: int, package: CsvPackage,
                 issues: IssueLog, previous_files: dict[str, tuple[str, int, int]] | None = None):
        self.db, self.district_id, self.package, self.issues = db, district_id, package, issues
        #: entity -> (digest, rows, run id) of the file the copy of that entity provably
        #: still holds as read (:func:`~al_roster.sync.identical_files.files_the_copy_holds`)
        self.previous_files = previous_files or {}
        self.stage = Stage(district_id, package.version,
                           partitions=partitions.of_district(db, district_id))
        self._known: dict[str, set[str]] = {}
        self._all_active: dict[str, bool] = {}  # (see BulkChecks._active)
        self._reading: ReadingProcess | None = None
        self._second: ReadingProcess | None = None  # for the files read in two parts
        self._ending: list[ReadingProcess] = []  # told to end, waited for by drop()
        self._seed = new_seed()  # of this sync's keys of unchanged rows
        self._held: UnchangedRows | None = None  # the keys holding the narrow rows read

    def run(self) -> Stage:
        read = [e for e in ENTITIES if self.package.modes.get(e.name, "absent") != "absent"]
        if any(self._big(e) for e in read):  # (they start while the tables are made and the
            self._reading = _start_reading()  # small files are read here)
            if self._reading is not None and any(self._big(e, SPLIT_MIN_BYTES) for e in read):
                self._second = _start_reading()
        try:
            for entity in ENTITIES:
                self._create(entity)
            for entity in ENTITIES:
                self._stage_entity(entity)
        finally:
            self._end_readers()
        return self.stage

    def _end_readers(self) -> None:
        """Tells the reading processes to end; they exit while the sync plans and applies,
        and :meth:`drop` waits for them."""
        for reader in (self._reading, self._second):
            if reader is not None:
                reader.stop()
                self._ending.append(reader)
        self._reading = self._second = None

    def _stage_entity(self, entity: Entity) -> None:
        mode = self.package.modes.get(entity.name, "absent")
        staged = self.stage.entities[entity.name] = StagedEntity(entity, mode)
        if mode == "bulk" and repeats_previous_file(self.package, self.issues, self.stage,
                                                    self.previous_files.get(entity.name), staged):
            staged.mode = "absent"  # the copy already holds exactly this file
        elif mode != "absent":
            before = self._issues_so_far()
            unchanged, in_memory = self._load(entity, staged)
            self._held = unchanged if unchanged is not None and unchanged.hold else None
            # Every reference is checked before duplicates are weighed, whether in memory
            # while reading or in SQL: a row skipped for naming nothing never wins.
            self._check_references(entity, {column for _, column, _ in in_memory})
            if not staged.unique:
                self._drop_duplicates(entity, mode)
            if mode == "delta":
                self._warn_removals_of_nothing(entity)
            staged.rows = self._count(entity)
            staged.clean = self._read_cleanly(entity, before)
            if unchanged is not None:
                keep_unmatched(self.db, self.stage, entity, unchanged)
            self._held = None

    def _issues_so_far(self) -> tuple[int, int, int]:
        return self.issues.error_count, self.issues.warning_count, len(self.issues.items)

    def _read_cleanly(self, entity: Entity, before: tuple[int, int, int]) -> bool:
        """Whether reading ``entity``'s file skipped no row (no error) and reported no
        reference to nothing (no warning on a row's reference column): only such a read may
        be trusted when the same file comes again. Warnings counted but not kept leave it
        unknown, so not clean."""
        errors, warnings, kept = before
        new = [i for i in self.issues.items[kept:] if i.severity == WARNING]
        references = {c.name for c in all_stored_columns(entity) if c.refers_to}
        return (self.issues.error_count == errors
                and self.issues.warning_count - warnings == sum(i.count for i in new)
                and not any(i.field in references and (i.line or 0) > 1 for i in new))

    def drop(self) -> None:
        try:
            drop_temp_tables(self.db, [GONE_VALUES, GONE_TARGETS] + [t for e in ENTITIES for t in (
                stage_table(e), removals_table(e.name), unmatched_table(e.name))])
        finally:
            while self._ending:  # (the reading processes, told to end)
                self._ending.pop().close()

    # -- loading -------------------------------------------------------------------------
    def _create(self, entity: Entity) -> None:
        model = ROSTER_MODELS[entity.name]
        types = {c.attr: column_type(model._meta.columns[c.attr])
                 for c in all_stored_columns(entity)}
        columns = [("line", "INTEGER"), ("sourced_id", "TEXT"), ("status", "TEXT"),
                   ("date_last_modified", "TEXT"), *types.items(), ("extra", "TEXT"),
                   ("row_hash", "BIGINT"), ("same", "BOOLEAN")]
        create_temp_table(self.db, stage_table(entity), columns)

    def _load(self, entity: Entity, staged: StagedEntity) -> tuple[UnchangedRows | None, list]:
        """Reads and stages the file; returns the keys it was split against, if any, and the
        references checked while reading (_known_targets): looked up by its known lines, only
        those to the small entities (the rest in SQL, as for any narrow row)."""
        in_memory = self._known_targets(entity, LIST_TARGETS)
        unchanged = self._unchanged(entity, staged, in_memory) if staged.mode == "bulk" else None
        if not staged.known_lines:
            in_memory = self._known_targets(entity)
        checks = [(at, known) for at, _, known in in_memory]
        job = (self.package, entity.name, staged.mode, checks,
               "csv" if is_postgres(self.db) else "rows", self.issues, unchanged)
        try:
            staged.read = self._read(entity, job)
        finally:
            if unchanged is not None:  # read: the readers have mapped the keys, or never will
                unchanged.close()
        if unchanged is not None:  # (the records the narrow rows repeat: none exactly when
            staged.narrow = unchanged.narrow_count()  # no row is narrow; counted once checked)
        if unchanged is not None and unchanged.hold:  # (before the index: duplicates show)
            staged.read += staged.narrow
            stage_after_reading(self.db, self.stage, entity, unchanged)
        table = stage_table(entity)
        if staged.mode == "bulk" and not staged.read and not self._has_rows(entity):
            raise PackageRejected(
                f"{entity.file_name} has a header and no rows. A bulk file is the complete set "
                "of its records, and the OneRoster CSV binding does not allow an empty one: "
                "when there is nothing to send, mark the file absent in manifest.csv. The "
                "package was rejected and nothing changed.", file=entity.file_name, line=2,
                reason="empty_bulk_file")
        staged.unique = self._index(table)
        analyze(self.db, table)
        return unchanged, in_memory

    def _stage_held_naming(self, entity: Entity, column: str, values: str) -> None:
        """Stages the held narrow rows whose records' ``column`` holds one of ``values``
        (a table), for the reference checks to see (see :mod:`al_roster.sync.narrow_rows`)."""
        if self._held is not None:
            stage_naming(self.db, self.stage, entity, self._held, column, values)

    def _unchanged(self, entity: Entity, staged: StagedEntity,
                   in_memory: list) -> UnchangedRows | None:
        """The keys of the present records of ``entity`` in the copy (how many they are
        kept as ``staged.present``), or None when it holds none (or narrow staging is off):
        its known lines' where they may be looked at, each line's key kept where they may
        be kept (a file read beside: see sync.known_lines)."""
        if not STAGE_UNCHANGED_NARROW:
            return None
        if not self._read_beside(entity):
            return self._present_keys(entity, staged)
        return known_lines.for_reading(self.db, self.stage, self.package, entity,
                                       self.previous_files.get(entity.name), in_memory,
                                       lambda: self._present_keys(entity, staged))

    def _present_keys(self, entity: Entity, staged: StagedEntity) -> UnchangedRows | None:
        records = batches(self.db, f'SELECT sourced_id, row_hash, id FROM "{self.stage.roster(entity)}"'
                                  f" WHERE district_id = {self.db.param} AND removed_run_id IS NULL",
                          [self.district_id], release=True)  # (before the keys are sorted)
        unchanged = UnchangedRows.of_records(  # (held; see narrow_rows.stage_after_reading)
            records, self._seed, hold=True)
        staged.present = len(unchanged)
        return unchanged if len(unchanged) else None

    def _index(self, table: str) -> bool:
        """Indexes the staged rows by sourcedId; returns whether each sourcedId came once
        (then there are no duplicates to look for)."""
        try:
            with self.db.atomic():  # a savepoint: a refused index spoils nothing
                self.db.execute_sql(f'CREATE UNIQUE INDEX "ix_{table}" ON "{table}" (sourced_id)')
            return True
        except peewee.IntegrityError:
            self.db.execute_sql(f'CREATE INDEX "ix_{table}" ON "{table}" (sourced_id)')
            return False

    def _big(self, entity: Entity, least: int | None = None) -> bool:
        """Whether ``entity``'s file is read by the reading process: a big file (at least
        ``least`` bytes, PARALLEL_MIN_BYTES unless given), on a machine with a second core."""
        least = PARALLEL_MIN_BYTES if least is None else least
        return self.package.size(entity.file_name) >= least and _two_cores()

    def _read(self, entity: Entity, job: tuple) -> int:
        """Reads and stages the file: in two parts at once, beside, or here; returns the
        rows staged."""
        if self._read_beside(entity) and self._second is not None \
                and self._big(entity, SPLIT_MIN_BYTES):
            read = self._load_in_two(entity, job)
            if read is not None:
                return read
        if self._read_beside(entity):
            return load_prepared(self.db, stage_table(entity), stage_columns(entity),
                                 marking(self._reading.chunks(*job), _keys(job)))
        return self._read_here(entity, job)

    def _load_in_two(self, entity: Entity, job: tuple) -> int | None:
        """Loads the file read in two parts by both reading processes; returns the rows
        loaded, or None when the parts would not read as the whole (nothing of the file is
        then left staged or logged, and one reading process reads the rest of the sync)."""
        table, columns = stage_table(entity), stage_columns(entity)
        before = self.issues.snapshot()
        try:
            read = load_prepared(self.db, table, columns, marking(
                read_in_two((self._reading, self._second), *job), _keys(job)))
        except SplitAbandoned:
            log.info("%s did not split into two parts that read as the whole; read as one",
                     entity.file_name)
            self.issues.restore(before)
            self.db.execute_sql(f'DELETE FROM "{table}"')
            if _keys(job) is not None:  # nothing of the abandoned reading was matched
                _keys(job).forget()
            self._end_readers()  # busy: stopped at once
            self._reading = _start_reading()
            return None
        return read

    def _read_beside(self, entity: Entity) -> bool:
        return self._reading is not None and self._big(entity)

    def _read_here(self, entity: Entity, job: tuple) -> int:
        package, _, mode, checks, _, issues, unchanged = job
        reader = FileReader(entity, package.version, mode, issues)
        rows = KnownReferences(entity, checks, issues).filter(
            reader.read(package.text_lines(entity.file_name)))
        return bulk_load(self.db, stage_table(entity), stage_columns(entity), rows, unchanged)

    def _has_rows(self, entity: Entity) -> bool:
        """Whether the file has any line after its header that is not blank."""
        with closing(self.package.text_lines(entity.file_name)) as lines:
            next(lines, None)
            return any(line.strip() for line in lines)

    def _known_targets(self, entity: Entity, only: tuple | None = None) -> list[tuple]:
        """The references of ``entity`` (to the targets ``only`` names, if given) checked
        while reading: (row position, column, ids). Those whose target's sourcedIds are cheap
        to hold: the small entities (orgs, terms) always, any other when it has at most
        KNOWN_IDS_LIMIT records the reference may name: the rows of its bulk file, or (a
        delta, or no file: an identical one) those and its present records in the copy. The
        rest are checked in SQL."""
        checks = []
        for at, column in enumerate(all_stored_columns(entity), start=4):
            target = column.refers_to
            if target is None or target == entity.name or column.kind not in ("id", "ids") \
                    or (only is not None and target not in only):
                continue
            if column.kind == "ids" and target not in LIST_TARGETS:
                continue
            if target in LIST_TARGETS or self._few_targets(ENTITY_BY_NAME[target]):
                checks.append((at, column, self._target_ids(ENTITY_BY_NAME[target])))
        return checks

    def _few_targets(self, target: Entity) -> bool:
        staged = self.stage.entities[target.name]
        if staged.mode == "bulk":
            return staged.rows <= KNOWN_IDS_LIMIT
        present = self.db.execute_sql(
            f'SELECT COUNT(*) FROM "{self.stage.roster(target)}" WHERE district_id = {self.db.param} '
            "AND removed_run_id IS NULL", [self.district_id]).fetchone()[0]
        return present + staged.read <= KNOWN_IDS_LIMIT

    def _target_ids(self, entity: Entity) -> set[str]:
        if entity.name not in self._known:
            sql, params = self._valid_targets(entity)
            self._known[entity.name] = {
                r[0] for r in self.db.execute_sql(f"SELECT sourced_id FROM ({sql}) t", params)}
        return self._known[entity.name]

    def _count(self, entity: Entity) -> int:
        """The rows kept: staged, and held (not yet staged)."""
        held = self._held.narrow_count() if self._held is not None else 0
        return held + self.db.execute_sql(f'SELECT COUNT(*) FROM "{stage_table(entity)}"').fetchone()[0]
