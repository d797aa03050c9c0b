"""References checked while a file is read, against sourcedIds held in memory.

The sync knows the sourcedIds of the records a file may name when they are few (orgs,
terms) or when the package carries their whole file (see ``sync.staging``); those
references are checked row by row as the rows stream past, here, instead of by SQL
afterwards. Pure: it sees rows and sets of ids, never a database, so it runs wherever the
file is read (in the sync's process or in the reading process beside it).
"""
from __future__ import annotations

from collections.abc import Iterator

from .entities import ENTITY_BY_NAME, Column, Entity, all_stored_columns
from .issues import shown

#: Where a stored column's value sits in a staged row: after line, sourcedId, status and
#: dateLastModified.
FIRST_VALUE = 4


def dangling_message(column: Column, target: Entity, value: str) -> str:
    outcome = "the row was skipped" if column.required else "the row was kept"
    return (f"{column.name} {shown(value)} matches nothing in {target.file_name} or the "
            f"district's roster; {outcome}.")


def quoted_ids(ids: list[str], most: int = 5) -> str:
    """'a', 'b' and 'c', at most ``most`` of them, then how many more."""
    named = [shown(v) for v in ids[:most]]
    if len(ids) > most:
        named.append(f"{len(ids) - most:,} more")
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def list_message(column: Column, target: Entity, missing: list[str], kept: list[str]) -> str:
    """A list reference naming records that exist nowhere: the row keeps the ids that
    resolve (``kept``), if any; without them it is skipped (kept, for an optional list)."""
    verb = "is" if len(missing) == 1 else "are"
    found = (f"{column.name} names {quoted_ids(missing)}, which {verb} not in "
             f"{target.file_name} nor in the district's roster")
    if kept:
        return f"{found}; the row was kept with {quoted_ids(kept)}."
    return f"{found}; the row was {'skipped' if column.required else 'kept'}."


class KnownReferences:
    """Drops rows that name a required record which exists nowhere; warns for optional
    ones. A list keeps the row when one of its ids resolves: the others are warned about
    and stay in the list as written, so the row hashes as read and is right as soon as
    the record they name arrives.

    ``checks`` are (row position, known sourcedIds) of the entity's reference columns."""

    def __init__(self, entity: Entity, checks: list[tuple[int, set[str]]], issues):
        self.entity, self.issues = entity, issues
        columns = all_stored_columns(entity)
        self.checks = [(at, columns[at - FIRST_VALUE], known,
                        columns[at - FIRST_VALUE].kind == "ids") for at, known in checks]

    def filter(self, rows: Iterator[tuple]) -> Iterator[tuple]:
        if not self.checks:
            yield from rows
            return
        checks = self.checks
        for row in rows:
            if row[2] != "active":
                yield row
                continue
            for at, column, known, is_list in checks:
                value = row[at]
                if value is None or (not is_list and value in known):
                    continue
                if is_list:
                    ids = value.split(",")
                    missing = [v for v in ids if v not in known]
                    if not missing:
                        continue
                    if self._report_list(row[0], column, ids, missing):
                        break
                elif self._report_dangling(row[0], column, value):
                    break
            else:
                yield row

    def _report_list(self, line: int, column: Column, ids: list[str],
                     missing: list[str]) -> bool:
        """Reports the ids of a list naming nothing; returns whether the row is skipped."""
        lost = set(missing)
        kept = [v for v in ids if v not in lost]
        message = list_message(column, ENTITY_BY_NAME[column.refers_to], missing, kept)
        skipped = not kept and column.required
        (self.issues.error if skipped else self.issues.warning)(
            self.entity.file_name, line, column.name, message)
        return skipped

    def _report_dangling(self, line: int, column: Column, value: str) -> bool:
        """Reports a reference to nothing; returns whether the row is skipped."""
        message = dangling_message(column, ENTITY_BY_NAME[column.refers_to], value)
        report = self.issues.error if column.required else self.issues.warning
        report(self.entity.file_name, line, column.name, message)
        return column.required
