"""Checking and normalising the rows of one OneRoster CSV file.

:class:`FileReader` reads a file's header once, then turns each row into a flat tuple ready
for bulk loading::

    (line, sourcedId, status, dateLastModified, *values, extra, row_hash)

``values`` follow :func:`~al_roster.oneroster.entities.all_stored_columns`, so 1.1 and 1.2
files land in the same table shape. ``status`` is ``active`` or ``tobedeleted``. ``extra``
is the ``metadata.*`` columns as JSON (or None). ``row_hash`` is a signed 64-bit digest of
every stored value and the extras: equal hashes mean nothing changed.

A bad row is reported to the :class:`IssueLog` with its line and field and is not
yielded; a header that lacks a required column rejects the package.
"""
from __future__ import annotations

import csv
import difflib
import json
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from xxhash import xxh3_64_intdigest

from ..errors import PackageRejected
from .canonical import Field, LinePattern, line_pattern
from .entities import LEADING_COLUMNS, Column, Entity, all_stored_columns
from .issues import IssueLog, shown
from .text import PushBack, RecordTooLong, record_too_long
from .values import CHECKS, LENIENT, BadValue, id_problem

if TYPE_CHECKING:
    from .line_keys import KeyedLines

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


_HALF_RANGE = 1 << 63
_HASH_ESCAPES = str.maketrans({"\\": "\\\\", "\x1e": "\\x1e", "\x1f": "\\x1f"})


def _hash_text(value) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value).translate(_HASH_ESCAPES)


def text_hash(text: str) -> int:
    """A stable 64-bit digest of a text (XXH3), shifted to fit a signed BIGINT."""
    return xxh3_64_intdigest(text.encode("utf-8")) - _HALF_RANGE


def row_hash(values, extra: str | None = None) -> int:
    """The digest of a row's stored values (in ``all_stored_columns`` order) and extras.

    Values are joined as text (None as '', booleans as true/false, dates as YYYY-MM-DD),
    with a backslash and the two separators escaped, so different values never join to the
    same text. A canonical line hashes its captured fields the same way, without building
    the values first.
    """
    key = "\x1f".join(map(_hash_text, values))
    if extra:
        key += "\x1e" + extra.translate(_HASH_ESCAPES)
    return text_hash(key)


class _CanonicalLine:
    """Turns a line matching a canonical pattern into the row the full checks would make.

    The row is made by a function written for the pattern once, as :mod:`dataclasses`
    writes its methods: one match, its groups taken twice (a blank field is None in the
    row and '' in the hashed text), each cell picked by its group number, the hash over
    the captured values. Its source is built from group numbers and column kinds alone:
    nothing a file holds enters it. Picking through generic getters, tuples joined and a
    list of booleans cost half a microsecond more a line (at 6.9 M lines a night, 3.5 s of
    CPU)."""

    def __init__(self, pattern: LinePattern, targets: tuple[Column, ...]):
        def group(number: int) -> str:
            return f"g[{int(number) - 1}]"
        cells = [group(pattern.sourced_id), "'active'",
                 group(pattern.modified) if pattern.modified else "None"]
        hashed = []
        for column in targets:
            number = pattern.values.get(column.attr)
            cell = "None" if number is None else group(number)
            cells.append(f"BOOLS.get({cell})" if column.kind == "bool" and number else cell)
            hashed.append("''" if number is None else f"h[{int(number) - 1}]")
        cells.append("None")  # extras: only the full checks build them
        self.source = (
            "def row(line, text):\n"
            "    m = match(text)\n"
            "    if m is None:\n"
            "        return None\n"
            "    g, h = m.groups(), m.groups('')\n"
            f"    return (line, {', '.join(cells)},\n"
            f"            digest('\\x1f'.join(({', '.join(hashed)},)).encode()) - HALF)\n")
        namespace = {"match": pattern.regex.fullmatch, "BOOLS": {"true": True, "false": False},
                     "digest": xxh3_64_intdigest, "HALF": _HALF_RANGE}
        exec(compile(self.source, f"<canonical row of {pattern.regex.groups} groups>", "exec"),
             namespace)
        self.row = namespace["row"]


class FileReader:
    """Reads one entity file of a package in the manifest's mode."""

    def __init__(self, entity: Entity, version: str, mode: str, issues: IssueLog):
        self.entity, self.version, self.mode, self.issues = entity, version, mode, issues
        self.file = entity.file_name
        self.columns = entity.columns(version)
        self.targets = all_stored_columns(entity)
        self.width = len(self.targets)

    # -- header --------------------------------------------------------------------------
    def _bind_header(self, header: list[str]) -> None:
        names = [h.strip() for h in header]
        self.header_width = len(names)
        position = {}
        for index, name in enumerate(names):
            if name and name not in position:
                position[name] = index
        lowered = {n.lower(): n for n in names if n}
        for required in ("sourcedId",) + tuple(c.name for c in self.columns if c.required):
            if required not in position:
                self._reject_missing_column(required, lowered)
        if self.mode == "delta" and "status" not in position:
            self._reject_missing_column("status", lowered)
        self.sourced_id_at = position["sourcedId"]
        self.status_at = position.get("status")
        self.modified_at = position.get("dateLastModified")
        if self.modified_at is None:
            self.issues.warning(self.file, 1, "dateLastModified",
                                self._missing_hint("dateLastModified", lowered))
        self.bindings = self._bind_values(position)
        self.extras = [(i, n) for i, n in enumerate(names) if n.startswith("metadata.")]
        self._warn_unknown_columns(names)
        self._compile_fast_path(names)

    def _bind_values(self, position: dict[str, int]) -> list:
        target_index = {c.attr: i for i, c in enumerate(self.targets)}
        bindings = []
        for column in self.columns:
            if column.name in position and column.stored:
                bindings.append((position[column.name], target_index[column.attr], column,
                                 CHECKS.get(column.kind)))
        return bindings

    def _warn_unknown_columns(self, names: list[str]) -> None:
        known = set(LEADING_COLUMNS) | {c.name for c in self.columns}
        expected = {n.lower(): n for n in known}
        for name in names:
            if not name or name in known or name.startswith("metadata."):
                continue
            close = expected.get(name.lower()) or next(
                iter(difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.85)), None)
            hint = f" Did you mean '{close}'? Headers are case-sensitive." if close else ""
            self.issues.warning(self.file, 1, name,
                                f"Column {shown(name)} is not a OneRoster {self.version} column of "
                                f"{self.file}; its values were ignored.{hint}")

    def _missing_hint(self, name: str, lowered: dict[str, str]) -> str:
        if name.lower() in lowered:
            return (f"The header has {shown(lowered[name.lower()])} where OneRoster expects '{name}': "
                    "headers are case-sensitive.")
        return f"The header has no '{name}' column."

    def _reject_missing_column(self, name: str, lowered: dict[str, str]) -> None:
        raise PackageRejected(
            f"{self.file}: {self._missing_hint(name, lowered)} It is required, so the package "
            "was rejected and nothing changed.",
            file=self.file, line=1, field=name,
            reason="header_case" if name.lower() in lowered else "missing_column")

    # -- rows ----------------------------------------------------------------------------
    def read(self, lines: Iterable[str], first_line: int = 2, header_issues: bool = True,
             keyed: KeyedLines | None = None) -> Iterator[tuple]:
        """Yields the file's good rows as flat tuples; reports the bad ones.

        ``lines`` are the file's text lines. A line in canonical form becomes a row with one
        match (:mod:`al_roster.oneroster.canonical`); any other goes to the csv module and
        the per-field checks, and may pull further lines (a quoted value spanning lines).
        Lines are numbered as records, the header being line 1 and the next
        ``first_line`` (a part of a file after its header: the part's own numbers, and
        without ``header_issues``, the header's issues left to whoever read the first
        part). Once read, :attr:`next_line` is the number a following record would take,
        and :attr:`ran_dry` whether the lines ended inside a record.

        ``keyed``, the same lines with their keys (:mod:`al_roster.oneroster.line_keys`), is
        read instead: a record starting on a known line is noted in its ``found``, not read,
        and so is the key of each row read.
        """
        lines = iter(lines if keyed is None else keyed)
        source = PushBack(lines)  # the csv module's view of the same lines
        records = csv.reader(source, strict=False)
        header = self._next_record(records, 1)
        if header is None:
            raise PackageRejected(f"{self.file} is empty: it needs at least its header row.",
                                  file=self.file, line=1)
        issues = self.issues
        if not header_issues:
            self.issues = IssueLog()
        try:
            self._bind_header(header)
        finally:
            self.issues = issues
        self.next_line, self.ran_dry = first_line, False
        yield from self._records(lines, source, records, first_line, keyed)
        self.ran_dry = source.ran_dry

    def _records(self, lines, source: PushBack, records, first_line: int,
                 keyed: KeyedLines | None) -> Iterator[tuple]:
        bare, every, some = self._bare.row, self._every.row, self._some.row  # (_fast_row's)
        found = None if keyed is None else keyed.found
        if found is not None:  # (bound once: these run for every line)
            row_line, row_key = found.row_lines.append, found.row_keys.append
        skipping, line = found is not None and keyed.known is not None, first_line - 1
        while True:
            if skipping:  # known lines: each the record it gave, unchanged, noted at once
                line += keyed.skip_known(line + 1)
            if (text := next(lines, None)) is None:
                break
            line += 1
            key = None if found is None else keyed.key
            row = bare(line, text) if '"' not in text else every(line, text) or some(line, text)
            if row is None:
                source.push(text)
                record = self._next_record(records, line)
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue
                row = self._read_row(line, record)
                if row is None:
                    continue
                if source.size != len(text):  # a record spanning lines: no key of its own
                    key = 0
            if found is not None:
                row_line(line)
                row_key(key)
            yield row
        self.next_line = line + 1

    def _next_record(self, records, line: int) -> list[str] | None:
        try:
            return next(records, None)
        except csv.Error as exc:
            raise PackageRejected(f"{self.file} line {line}: not valid CSV ({exc}).",
                                  file=self.file, line=line) from exc
        except RecordTooLong:
            raise record_too_long(self.file, line) from None

    # -- canonical lines -----------------------------------------------------------------
    def _compile_fast_path(self, names: list[str]) -> None:
        """Builds the pattern of a canonical line and how its groups become a row."""
        bound = {at: column for at, _, column, _ in self.bindings}
        fields = []
        for at, name in enumerate(names):
            if at in bound:
                fields.append(Field("capture", bound[at]))
            elif at == self.status_at:
                fields.append(Field("status"))
            elif name.startswith("metadata."):
                fields.append(Field("empty"))  # extras are built by the full checks
            else:
                fields.append(Field("ignored"))
        status = None if self.mode == "bulk" else "active"
        self._bare, self._every, self._some = (
            _CanonicalLine(line_pattern(fields, self.sourced_id_at, self.modified_at, status,
                                        quoting), self.targets)
            for quoting in ("none", "all", "some"))

    def _fast_row(self, line: int, text: str) -> tuple | None:
        """The row of a canonical line (None for any other): one with no quote, one with
        every field quoted, or one quoted here and there (a pattern slower to match)."""
        if '"' not in text:
            return self._bare.row(line, text)
        return self._every.row(line, text) or self._some.row(line, text)

    def _read_row(self, line: int, row: list[str]) -> tuple | None:
        sourced_id = self._cell(row, self.sourced_id_at)
        problem = id_problem(sourced_id)
        if problem is not None:
            what = (f"{shown(sourced_id)} is not a valid sourcedId: {problem}" if sourced_id
                    else "sourcedId is empty")
            self.issues.error(self.file, line, "sourcedId", f"{what}; the row was skipped.")
            return None
        status = self._status(line, row)
        if status is None:
            return None
        modified = self._cell(row, self.modified_at) if self.modified_at is not None else None
        if modified and "\x00" in modified:
            self.issues.error(self.file, line, "dateLastModified", "dateLastModified holds a "
                              "NUL character (byte 0x00); the row was skipped.")
            return None
        if modified and not DATETIME.match(modified):
            self.issues.folded_warning(self.file, line, "dateLastModified",
                                       "dateLastModified is not a DateTime "
                                       "(YYYY-MM-DDTHH:MM:SS.sssZ); kept as text.")
        values = [None] * self.width
        if status == "active" and not self._fill_values(line, row, values):
            return None
        extra = self._extra(row)
        return (line, sourced_id, status, modified or None, *values, extra,
                row_hash(values, extra))

    def _status(self, line: int, row: list[str]) -> str | None:
        raw = self._cell(row, self.status_at) if self.status_at is not None else ""
        status = "tobedeleted" if raw == "inactive" else raw
        if raw == "inactive":
            self.issues.folded_warning(self.file, line, "status",
                                       "status 'inactive' (removed from OneRoster 1.1) was read "
                                       "as 'tobedeleted'.")
        if self.mode == "bulk":
            if raw:
                self.issues.folded_warning(self.file, line, "status",
                                           "A bulk file should leave status and dateLastModified "
                                           "blank; rows marked tobedeleted were left out.")
            return "active" if status in ("", "active") else self._skip_bulk_deleted(status)
        if status in ("active", "tobedeleted"):
            return status
        if not raw:
            self.issues.folded_warning(self.file, line, "status",
                                       "A delta row has no status; read as 'active'.")
            return "active"
        self.issues.error(self.file, line, "status",
                          f"status {shown(raw)} must be active or tobedeleted; the row was skipped.")
        return None

    def _skip_bulk_deleted(self, status: str) -> None:
        if status != "tobedeleted":
            self.issues.folded_warning(self.file, None, "status",
                                       f"Unknown status {shown(status)} in a bulk file; those rows "
                                       "were left out.")
        return None

    def _fill_values(self, line: int, row: list[str], values: list) -> bool:
        ok = True
        if len(row) < self.header_width:
            row = row + [""] * (self.header_width - len(row))
        for at, target, column, check in self.bindings:
            raw = row[at].strip()
            if not raw:
                if column.required:
                    self.issues.error(self.file, line, column.name,
                                      f"{column.name} is required; the row was skipped.")
                    ok = False
                continue
            if check is None and column.vocab is None and "\x00" not in raw:
                values[target] = raw
                continue
            try:
                values[target] = self._check(line, column, check, raw)
            except BadValue as exc:
                if column.kind == "date" and not column.required and "\x00" not in raw:
                    self.issues.warning(self.file, line, column.name,
                                        f"{column.name}: {exc} It was left out; the row was kept.")
                    continue
                self.issues.error(self.file, line, column.name,
                                  f"{column.name}: {exc} The row was skipped.")
                ok = False
        return ok

    def _check(self, line: int, column: Column, check, raw: str):
        if "\x00" in raw:  # PostgreSQL cannot store it; no roster value holds one
            raise BadValue("The value holds a NUL character (byte 0x00).")
        if column.vocab is None:
            try:
                return check(raw)
            except BadValue:
                lenient = LENIENT.get(column.kind)
                if lenient is None:
                    raise
            value, reading = lenient(raw)  # what districts write instead, or BadValue
            self.issues.folded_warning(self.file, line, column.name,
                                       f"{column.name} {reading.what}", reading.fold)
            return value
        if raw in column.vocab:
            return raw
        for word in column.vocab:
            if word.lower() == raw.lower():
                self.issues.folded_warning(self.file, line, column.name,
                                           f"{column.name} {shown(raw)} read as '{word}' "
                                           "(OneRoster values are case-sensitive).")
                return word
        allowed = ", ".join(sorted(column.vocab))
        raise BadValue(f"{shown(raw)} is not one of: {allowed}.")

    def _extra(self, row: list[str]) -> str | None:
        if not self.extras:
            return None
        extra = {name: row[i].strip() for i, name in self.extras if i < len(row) and row[i].strip()}
        return json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None

    @staticmethod
    def _cell(row: list[str], at: int) -> str:
        return row[at].strip() if at < len(row) else ""
