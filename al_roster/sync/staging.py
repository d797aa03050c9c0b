"""Read -> stage: a package's files streamed into temporary tables, then checked in bulk.

Every entity gets a staging table shaped like its roster table (an empty one when the
manifest says the file is absent, so later SQL need not special-case it). Rows are
checked one by one while they stream in (:mod:`al_roster.oneroster.rows`); what needs the
whole package (duplicate sourcedIds, references to other files or to the roster copy) is
checked afterwards in SQL, and the offending rows are reported and left out.
"""
from __future__ import annotations

import logging
import os
from contextlib import closing
from dataclasses import dataclass, field

import peewee

from ..errors import PackageRejected
from ..models.base import is_postgres
from ..models.roster import ROSTER_MODELS
from ..oneroster.entities import ENTITIES, ENTITY_BY_NAME, Entity, all_stored_columns
from ..oneroster.issues import ERROR, WARNING, IssueLog, shown
from ..oneroster.known_references import KnownReferences, dangling_message
from ..oneroster.package import CsvPackage
from ..oneroster.reading_process import ReadingProcess
from ..oneroster.rows import FileReader
from .sql import bulk_load, column_type, create_temp_table, drop_temp_table, load_prepared

log = logging.getLogger(__name__)

ISSUE_SAMPLE = 1000
#: Entities small enough that references to them are always checked while reading, against
#: their sourcedIds in memory (lists of ids are checked only against these).
LIST_TARGETS = ("orgs", "academicSessions")
#: Above this many records, references to an entity are checked in SQL: memory stays flat
#: whatever the district's size (a set of this many sourcedIds is about 20 MB).
KNOWN_IDS_LIMIT = 200_000
#: Files at least this big are read in a second process while this one loads the rows (both
#: cores at work); smaller ones are read here, where starting that process would cost more.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024


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


def analyze(db: peewee.Database, table: str, sqlite_too: bool = False) -> None:
    """Fresh statistics, so PostgreSQL plans joins by real sizes: temporary tables are never
    analyzed on their own, and a freshly loaded roster table looks empty to the planner.

    ``sqlite_too`` (a roster table after a large change): SQLite keeps no statistics until
    asked, and without them takes ``district_id = ?`` for a selective look-up, so it walks
    the whole district to join a delta's few thousand staged rows (about 1.2 s for 6.9 M
    enrollments, once after a first load)."""
    if is_postgres(db) or sqlite_too:
        db.execute_sql(f'ANALYZE "{table}"')


def stage_table(entity: Entity) -> str:
    return "stage_" + entity.name.lower()


def roster_table(entity: Entity) -> str:
    return ROSTER_MODELS[entity.name]._meta.table_name


def stage_columns(entity: Entity) -> list[str]:
    return ["line", "sourced_id", "status", "date_last_modified",
            *(c.attr for c in all_stored_columns(entity)), "extra", "row_hash"]


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


@dataclass
class Stage:
    """The staged package: per entity its mode and row counts."""

    district_id: int
    version: str
    entities: dict[str, StagedEntity] = field(default_factory=dict)
    #: The district's removal grace, in runs (see sync.grace); 0 or 1: removed at once.
    removal_grace: int = 0
    #: Entities whose removals the plan found and kept (see sync.plan.removals_table).
    removals: set[str] = field(default_factory=set)

    def mode(self, name: str) -> str:
        return self.entities[name].mode


class Stager:
    """Loads and checks one package inside the caller's transaction."""

    def __init__(self, db: peewee.Database, district_id: int, package: CsvPackage,
                 issues: IssueLog, previous_files: dict[str, tuple[str, int, int]] | None = None):
        self.db, self.district_id, self.package, self.issues = db, district_id, package, issues
        #: entity -> (digest, rows, run id) of the file the copy of that entity provably
        #: still holds as read (:func:`~al_roster.sync.identical_files.files_the_copy_holds`)
        self.previous_files = previous_files or {}
        self.stage = Stage(district_id, package.version)
        self._known: dict[str, set[str]] = {}
        self._reading: ReadingProcess | None = None

    def run(self) -> Stage:
        for entity in ENTITIES:
            self._create(entity)
        if any(self._big(e) for e in ENTITIES if self.package.modes.get(e.name, "absent")
               != "absent"):
            self._reading = _start_reading()  # starts while the small files are read here
        try:
            for entity in ENTITIES:
                self._stage_entity(entity)
        finally:
            if self._reading is not None:
                self._reading.close()
                self._reading = None
        return self.stage

    def _stage_entity(self, entity: Entity) -> None:
        mode = self.package.modes.get(entity.name, "absent")
        staged = self.stage.entities[entity.name] = StagedEntity(entity, mode)
        if mode == "bulk" and self._repeats_previous_file(entity, staged):
            staged.mode = "absent"  # the copy already holds exactly this file
        elif mode != "absent":
            before = self._issues_so_far()
            in_memory = self._known_targets(entity)
            self._load(entity, staged, in_memory)
            # Every reference is checked before duplicates are weighed, whether in memory
            # while reading or in SQL: a row skipped for naming nothing never wins.
            self._check_references(entity, {column for _, column, _ in in_memory})
            if not staged.unique:
                self._drop_duplicates(entity, mode)
            if mode == "delta":
                self._warn_removals_of_nothing(entity)
            staged.rows = self._count(entity)
            staged.clean = self._read_cleanly(entity, before)

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

    def _repeats_previous_file(self, entity: Entity, staged: StagedEntity) -> bool:
        """A bulk file byte-identical to the one the copy provably still holds as read
        changes nothing, as long as every file it refers to was skipped for the same reason
        (or left absent)."""
        staged.digest = self.package.digest(entity.file_name)
        previous = self.previous_files.get(entity.name)
        if previous is None or previous[0] != staged.digest:
            return False
        targets = {c.refers_to for c in all_stored_columns(entity) if c.refers_to} - {entity.name}
        if any(self.stage.entities[t].mode != "absent" for t in targets):
            return False
        staged.rows, staged.identical_to = previous[1], previous[2]
        self.issues.warning(entity.file_name, None, None,
                            f"Identical to the file run {previous[2]} applied, byte for byte: "
                            "not read again; nothing in it changed.")
        return True

    def drop(self) -> None:
        for entity in ENTITIES:
            drop_temp_table(self.db, stage_table(entity))
            drop_temp_table(self.db, "gone_" + entity.name.lower())

    # -- loading -------------------------------------------------------------------------
    def _create(self, entity: Entity) -> None:
        model = ROSTER_MODELS[entity.name]
        types = {c.attr: column_type(model._meta.columns[c.attr])
                 for c in all_stored_columns(entity)}
        columns = [("line", "INTEGER"), ("sourced_id", "TEXT"), ("status", "TEXT"),
                   ("date_last_modified", "TEXT"), *types.items(), ("extra", "TEXT"),
                   ("row_hash", "BIGINT")]
        create_temp_table(self.db, stage_table(entity), columns)

    def _load(self, entity: Entity, staged: StagedEntity, in_memory: list) -> None:
        checks = [(at, known) for at, _, known in in_memory]
        table, columns = stage_table(entity), stage_columns(entity)
        if self._read_beside(entity):
            prepared = self._reading.chunks(self.package, entity.name, staged.mode, checks,
                                            "csv" if is_postgres(self.db) else "rows",
                                            self.issues)
            staged.read = load_prepared(self.db, table, columns, prepared)
        else:
            reader = FileReader(entity, self.package.version, staged.mode, self.issues)
            rows = reader.read(self.package.text_lines(entity.file_name))
            rows = KnownReferences(entity, checks, self.issues).filter(rows)
            staged.read = bulk_load(self.db, table, columns, rows)
        if staged.mode == "bulk" and not staged.read and not self._has_rows(entity):
            raise PackageRejected(
                f"{entity.file_name} has a header and no rows. A bulk file is the complete set "
                "of its records, and the OneRoster CSV binding does not allow an empty one: "
                "when there is nothing to send, mark the file absent in manifest.csv. The "
                "package was rejected and nothing changed.", file=entity.file_name, line=2,
                reason="empty_bulk_file")
        staged.unique = self._index(table)
        analyze(self.db, table)

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

    def _big(self, entity: Entity) -> bool:
        """Whether ``entity``'s file is read by the reading process: a big file, on a
        machine with a second core."""
        return self.package.size(entity.file_name) >= PARALLEL_MIN_BYTES and _two_cores()

    def _read_beside(self, entity: Entity) -> bool:
        return self._reading is not None and self._big(entity)

    def _has_rows(self, entity: Entity) -> bool:
        """Whether the file has any line after its header that is not blank."""
        with closing(self.package.text_lines(entity.file_name)) as lines:
            next(lines, None)
            return any(line.strip() for line in lines)

    def _known_targets(self, entity: Entity) -> list[tuple[int, object, set[str]]]:
        """The references of ``entity`` checked while reading: (row position, column, ids).

        Those whose target's sourcedIds are cheap to hold: the small entities (orgs, terms)
        always, any other when this package carries its file in bulk (then its staged rows
        are all there is) with at most KNOWN_IDS_LIMIT rows. The rest are checked in SQL."""
        checks = []
        for at, column in enumerate(all_stored_columns(entity), start=4):
            target = column.refers_to
            if target is None or target == entity.name or column.kind not in ("id", "ids"):
                continue
            if column.kind == "ids" and target not in LIST_TARGETS:
                continue
            staged = self.stage.entities[target]
            if target in LIST_TARGETS or (staged.mode == "bulk"
                                          and staged.rows <= KNOWN_IDS_LIMIT):
                checks.append((at, column, self._target_ids(ENTITY_BY_NAME[target])))
        return checks

    def _target_ids(self, entity: Entity) -> set[str]:
        if entity.name not in self._known:
            sql, params = self._valid_targets(entity)
            self._known[entity.name] = {
                r[0] for r in self.db.execute_sql(f"SELECT sourced_id FROM ({sql}) t", params)}
        return self._known[entity.name]

    # -- checks in bulk ------------------------------------------------------------------
    def _drop_duplicates(self, entity: Entity, mode: str) -> None:
        """One row per sourcedId, in bulk. A bulk file keeps the first and reports the others
        as errors (a set lists each record once); a delta is a change log, so it keeps the
        last and warns for each earlier row, naming both lines."""
        table = stage_table(entity)
        keep, other = ("MAX", "<") if mode == "delta" else ("MIN", ">")
        dropped = (f'SELECT s.line, s.sourced_id, d.kept FROM "{table}" s JOIN '
                   f'(SELECT sourced_id, {keep}(line) AS kept FROM "{table}" GROUP BY sourced_id '
                   f'HAVING COUNT(*) > 1) d ON d.sourced_id = s.sourced_id WHERE s.line {other} d.kept')
        found = self.db.execute_sql(f"{dropped} ORDER BY s.line LIMIT {ISSUE_SAMPLE}").fetchall()
        if not found:
            return
        total = self.db.execute_sql(
            f'DELETE FROM "{table}" WHERE line IN (SELECT line FROM ({dropped}) dup)').rowcount
        if mode == "delta":
            samples = [(line, f"sourcedId {shown(sid)} appears again on line {kept}, which was "
                              "applied instead: in a delta the last row of a record wins; "
                              "this row was skipped.") for line, sid, kept in found]
            self.issues.many(WARNING, entity.file_name, "sourcedId", samples, total)
            return
        samples = [(line, f"sourcedId {shown(sid)} already appears on line {first}; this row was "
                          "skipped.") for line, sid, first in found]
        self.issues.many(ERROR, entity.file_name, "sourcedId", samples, total)

    def _warn_removals_of_nothing(self, entity: Entity) -> None:
        """Warns for each tobedeleted row of a delta naming no present record of the copy."""
        stage, p = stage_table(entity), self.db.param
        condition = (f"s.status = 'tobedeleted' AND NOT EXISTS (SELECT 1 FROM "
                     f'"{roster_table(entity)}" r WHERE r.district_id = {p} AND '
                     "r.sourced_id = s.sourced_id AND r.removed_run_id IS NULL)")
        found = self.db.execute_sql(
            f'SELECT s.line, s.sourced_id FROM "{stage}" s WHERE {condition} ORDER BY s.line '
            f"LIMIT {ISSUE_SAMPLE}", [self.district_id]).fetchall()
        if not found:
            return
        total = len(found) if len(found) < ISSUE_SAMPLE else self.db.execute_sql(
            f'SELECT COUNT(*) FROM "{stage}" s WHERE {condition}', [self.district_id]).fetchone()[0]
        samples = [(line, f"sourcedId {shown(sid)} is marked tobedeleted, but the district's "
                          f"roster has no such {entity.name} record (or it was already "
                          "removed); nothing was removed.") for line, sid in found]
        self.issues.many(WARNING, entity.file_name, "sourcedId", samples, total)

    def _valid_targets(self, target: Entity) -> tuple[str, list]:
        """SQL (and params) of the sourcedIds a reference to ``target`` may name."""
        stage = stage_table(target)
        sql = f"SELECT sourced_id FROM \"{stage}\" WHERE status = 'active'"
        mode = self.stage.entities.get(target.name)
        if mode is None or mode.mode != "bulk":
            sql += (f" UNION SELECT r.sourced_id FROM \"{roster_table(target)}\" r "
                    f"WHERE r.district_id = {self.db.param} AND r.removed_run_id IS NULL "
                    f"AND NOT EXISTS (SELECT 1 FROM \"{stage}\" d WHERE d.sourced_id = "
                    "r.sourced_id AND d.status = 'tobedeleted')")
            return sql, [self.district_id]
        return sql, []

    def _dangling(self, entity: Entity, column, target: Entity) -> tuple[str, list]:
        col = column.attr
        condition = (f"s.status = 'active' AND s.\"{col}\" IS NOT NULL AND NOT EXISTS "
                     f"(SELECT 1 FROM \"{stage_table(target)}\" t WHERE t.sourced_id = "
                     f"s.\"{col}\" AND t.status = 'active')")
        params: list = []
        if self.stage.entities[target.name].mode != "bulk":
            condition += (f" AND NOT EXISTS (SELECT 1 FROM \"{roster_table(target)}\" r WHERE "
                          f"r.district_id = {self.db.param} AND r.sourced_id = s.\"{col}\" AND "
                          "r.removed_run_id IS NULL AND NOT EXISTS (SELECT 1 FROM "
                          f"\"{stage_table(target)}\" d WHERE d.sourced_id = r.sourced_id "
                          "AND d.status = 'tobedeleted'))")
            params.append(self.district_id)
        return condition, params

    def _check_references(self, entity: Entity, checked: set) -> None:
        """Reports rows naming a record that exists neither in the package nor the copy
        (but for the ``checked`` columns, whose references were checked while reading)."""
        stage = stage_table(entity)
        for column in all_stored_columns(entity):
            if column.kind != "id" or column.refers_to is None or column in checked:
                continue
            target = ENTITY_BY_NAME[column.refers_to]
            condition, params = self._dangling(entity, column, target)
            found = self.db.execute_sql(
                f'SELECT s.line, s."{column.attr}" FROM "{stage}" s WHERE {condition} '
                f"ORDER BY s.line LIMIT {ISSUE_SAMPLE}", params).fetchall()
            if not found:
                continue
            severity = ERROR if column.required else WARNING
            samples = [(line, dangling_message(column, target, value)) for line, value in found]
            if column.required:
                total = self.db.execute_sql(
                    f'DELETE FROM "{stage}" WHERE line IN (SELECT s.line FROM "{stage}" s '
                    f"WHERE {condition})", params).rowcount
            else:
                total = self.db.execute_sql(
                    f'SELECT COUNT(*) FROM "{stage}" s WHERE {condition}', params).fetchone()[0]
            self.issues.many(severity, entity.file_name, column.name, samples, total)

    def _count(self, entity: Entity) -> int:
        return self.db.execute_sql(f'SELECT COUNT(*) FROM "{stage_table(entity)}"').fetchone()[0]
