"""Stage -> check: what needs a whole staged package, checked in SQL.

Duplicate sourcedIds, references to records in other files or in the roster copy, and a
delta's removals of records the copy lacks: each found with one query, reported with its
lines (a sample, and how many in all) and, where the row cannot stand, left out.
"""
from __future__ import annotations

from ..models.base import is_postgres
from ..oneroster.entities import ENTITY_BY_NAME, Entity, all_stored_columns
from ..oneroster.issues import ERROR, WARNING, shown
from ..oneroster.known_references import dangling_message
from .sql import bulk_load, create_temp_table
from .tables import analyze, lacking, repeated, stage_table

ISSUE_SAMPLE = 1000
#: The temporary table of the values a column of the copy names that name nothing now.
GONE_VALUES = "gone_values"
#: The temporary table of the copy's present records of an entity that name nothing now.
GONE_TARGETS = "gone_targets"


def _present_naming(db, column: str) -> str:
    """SQL condition: ``x`` is a present record of the district naming a ``column`` value."""
    return (f"x.district_id = {db.param} AND x.removed_run_id IS NULL AND "
            f'x."{column}" IS NOT NULL')


class BulkChecks:
    """The checks of :class:`~al_roster.sync.staging.Stager` that read whole staged tables
    (it holds ``db``, ``district_id``, ``stage``, ``issues`` and ``previous_files``)."""

    def _stage_held_naming(self, entity: Entity, column: str, values: str) -> None:
        """Stages the narrow rows held, not staged, whose records' ``column`` holds one of
        ``values`` (a table): the staging's to do (see :mod:`al_roster.sync.narrow_rows`)."""

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
                     f'"{self.stage.roster(entity)}" r WHERE r.district_id = {p} AND '
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
        sql = f"SELECT sourced_id FROM \"{stage_table(target)}\" WHERE status = 'active'"
        also = self._also_in_copy(target)
        if also is None:
            return sql, []
        return (f'{sql} UNION SELECT r.sourced_id FROM "{self.stage.roster(target)}" r WHERE '
                f"r.district_id = {self.db.param} AND r.removed_run_id IS NULL AND {also}",
                [self.district_id])

    def _also_in_copy(self, target: Entity) -> str | None:
        """SQL condition on the copy's present records ``r`` of ``target`` that a reference
        may name besides the staged rows: those the package does not remove, unless it
        carries ``target`` in bulk; then those its held narrow rows repeat
        (:func:`~al_roster.sync.tables.repeated`), if any are held; else None."""
        staged = self.stage.entities.get(target.name)
        if staged is not None and staged.mode == "bulk":
            return repeated(self.stage, target.name)
        return (f'NOT EXISTS (SELECT 1 FROM "{stage_table(target)}" d WHERE d.sourced_id = '
                "r.sourced_id AND d.status = 'tobedeleted')")

    def _dangling(self, entity: Entity, column, target: Entity) -> tuple[str, list]:
        """SQL (and params) of the lines and values of the staged rows whose ``column``
        names nothing: whole rows by their own values; narrow rows by the values of the
        records they repeat, looked up only for the few values the copy's records name
        that are no longer valid (none, on most nights: then not at all)."""
        col, p = column.attr, self.db.param
        stage, roster = stage_table(entity), self.stage.roster(entity)
        names_nothing, params = self._names_nothing(f's."{col}"', target)
        sql = (f'SELECT s.line, s."{col}" AS value FROM "{stage}" s WHERE s.status = \'active\' '
               f'AND s."{col}" IS NOT NULL AND {names_nothing}')
        if not self.stage.entities[entity.name].narrow or not self._gone_values(entity, column,
                                                                                target):
            return sql, params
        self._stage_held_naming(entity, col, GONE_VALUES)
        sql += (f' UNION ALL SELECT s.line, r."{col}" FROM "{stage}" s JOIN "{roster}" r '
                f"ON r.district_id = {p} AND r.sourced_id = s.sourced_id "
                f'WHERE s.same AND r.removed_run_id IS NULL AND r."{col}" IN (SELECT g.value '
                f'FROM "{GONE_VALUES}" g)')
        return sql, [*params, self.district_id]

    def _gone_values(self, entity: Entity, column, target: Entity) -> int:
        """Keeps (in GONE_VALUES) the values of ``column`` the copy's present records name
        that name nothing now; returns how many."""
        if self.previous_files.get(entity.name) is not None:
            values = self._gone_targets_named(entity, column, target)
        else:
            values = self._values_naming_nothing(entity, column, target)
        create_temp_table(self.db, GONE_VALUES, [("value", "TEXT PRIMARY KEY")])
        bulk_load(self.db, GONE_VALUES, ["value"], values)
        analyze(self.db, GONE_VALUES)
        return len(values)

    def _values_naming_nothing(self, entity: Entity, column, target: Entity) -> list[tuple]:
        """Every value of ``column`` the copy's present records name, looked up. SQLite walks
        the copy's index on the column, value by value; PostgreSQL looks every record's value
        up in one hash of the valid ones first (the distinct values of 6.9 M enrollments,
        hashed, spilled to disk in 223,206 batches and took 169 s)."""
        col, roster = column.attr, self.stage.roster(entity)
        present = _present_naming(self.db, col)
        if is_postgres(self.db):
            gone, params = self._names_nothing(f'x."{col}"', target)
            sql = f'SELECT DISTINCT x."{col}" FROM "{roster}" x WHERE {present} AND {gone}'
        else:
            gone, params = self._names_nothing("v.value", target)
            sql = (f'SELECT v.value FROM (SELECT DISTINCT x."{col}" AS value FROM "{roster}" x '
                   f"WHERE {present}) v WHERE {gone}")
        return self.db.execute_sql(sql, [self.district_id, *params]).fetchall()

    def _gone_targets_named(self, entity: Entity, column, target: Entity) -> list[tuple]:
        """The same, where the copy of ``entity`` provably still holds what a clean reading
        gave it (see sync.identical_files): each value then names a present record of
        ``target`` in the copy, so only those of them that name nothing now are looked for
        among the values, by the column's index; on most nights there are none, and the
        values are not looked at. At 1,000,000 students: the users' 1 M records against
        every one of 6.9 M enrollments' values. A bulk file's present records gone tonight
        are those it lacks, looked for among the few no narrow row repeated where they are
        kept (on a quiet night at 1,000,000 students: a million users against the staged
        million, 1.4 s; against the unmatched ids, none)."""
        if self.stage.mode(target.name) == "bulk":
            gone, params = lacking(self.stage, target.name, "tgt"), []
        else:
            gone, params = self._names_nothing("tgt.sourced_id", target)
        targets = self.db.execute_sql(
            f'SELECT tgt.sourced_id FROM "{self.stage.roster(target)}" tgt WHERE '
            f"tgt.district_id = {self.db.param} AND tgt.removed_run_id IS NULL AND {gone}",
            [self.district_id, *params]).fetchall()
        if not targets:
            return []
        create_temp_table(self.db, GONE_TARGETS, [("value", "TEXT PRIMARY KEY")])
        bulk_load(self.db, GONE_TARGETS, ["value"], targets)
        analyze(self.db, GONE_TARGETS)
        col = column.attr
        return self.db.execute_sql(
            f'SELECT DISTINCT x."{col}" FROM "{self.stage.roster(entity)}" x WHERE '
            f'{_present_naming(self.db, col)} AND x."{col}" IN (SELECT g.value FROM '
            f'"{GONE_TARGETS}" g)', [self.district_id]).fetchall()

    def _names_nothing(self, value: str, target: Entity) -> tuple[str, list]:
        """SQL condition (and params): ``value`` is the sourcedId of no record of
        ``target`` in the package nor in the copy where a reference may name it there
        (:meth:`_also_in_copy`)."""
        condition = (f'NOT EXISTS (SELECT 1 FROM "{stage_table(target)}" t WHERE '
                     f"t.sourced_id = {value}{self._active(target, 't')})")
        also = self._also_in_copy(target)
        if also is None:
            return condition, []
        return (f'{condition} AND NOT EXISTS (SELECT 1 FROM "{self.stage.roster(target)}" r '
                f"WHERE r.district_id = {self.db.param} AND r.sourced_id = {value} AND "
                f"r.removed_run_id IS NULL AND {also})", [self.district_id])

    def _active(self, target: Entity, alias: str) -> str:
        """SQL condition on a staged row ``alias`` of ``target``: it is active; nothing
        where every staged row of it is (a bulk file's always are: its rows marked
        tobedeleted are left out), so a look-up by sourcedId reads the index alone (the
        first load's 6.9 M enrollments looked their 1,000,000 users up in 3.8 s, not 7.3,
        on SQLite). Once read, rows are only taken away from a staged file, or staged
        narrow (active), so a file all active stays so."""
        if target.name not in self._all_active:
            self._all_active[target.name] = self.db.execute_sql(
                f'SELECT 1 FROM "{stage_table(target)}" WHERE status <> \'active\' LIMIT 1'
            ).fetchone() is None
        return "" if self._all_active[target.name] else f" AND {alias}.status = 'active'"

    def _check_references(self, entity: Entity, checked: set) -> None:
        """Reports rows naming a record that exists neither in the package nor the copy
        (but for the ``checked`` columns, whose references were checked while reading)."""
        stage = stage_table(entity)
        for column in all_stored_columns(entity):
            if column.kind != "id" or column.refers_to is None or column in checked:
                continue
            target = ENTITY_BY_NAME[column.refers_to]
            dangling, params = self._dangling(entity, column, target)
            found = self.db.execute_sql(
                f"SELECT f.line, f.value FROM ({dangling}) f ORDER BY f.line "
                f"LIMIT {ISSUE_SAMPLE}", params).fetchall()
            if not found:
                continue
            severity = ERROR if column.required else WARNING
            samples = [(line, dangling_message(column, target, value)) for line, value in found]
            if column.required:
                total = self.db.execute_sql(
                    f'DELETE FROM "{stage}" WHERE line IN (SELECT f.line FROM ({dangling}) f)',
                    params).rowcount
            else:
                total = self.db.execute_sql(
                    f"SELECT COUNT(*) FROM ({dangling}) f", params).fetchone()[0]
            self.issues.many(severity, entity.file_name, column.name, samples, total)
