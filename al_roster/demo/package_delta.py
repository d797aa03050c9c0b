"""The delta between two bulk packages, written as a OneRoster delta package.

For each file of the version: a record the new package adds, or whose values differ from
the old one's, is written ``active``; a record of the old package the new one no longer has is
written ``tobedeleted`` with its old values; every row carries a ``dateLastModified``. The
manifest marks the files with changes ``delta`` and the others ``absent`` (a package with no
changes is a manifest alone, which means "nothing changed"). Applied after the old bulk
package, the delta leaves the roster copy the new bulk package would.

Values are compared column by column under the new file's header (in spec order), so an old
file with its columns in another order, or with ``metadata.*`` columns, compares by name.
The old file's records are held as a digest per sourcedId: about 150 bytes a record.
"""
from __future__ import annotations

import csv
import datetime
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from al_roster.errors import RosterError
from al_roster.oneroster.entities import Entity, entities_for
from al_roster.oneroster.package import CsvPackage

from .deltas import modified_stamps
from .files import write_package_manifest, write_zip

ACTIVE, DELETED = "active", "tobedeleted"


class DeltaRefused(RosterError):
    message = "A delta is made between two bulk packages of the same OneRoster version."
    code = "delta_refused"


def _aligned(package: CsvPackage, entity: Entity, header: tuple[str, ...]) -> Iterator[list]:
    """The file's records as lists under ``header`` (columns it lacks are empty)."""
    if package.modes.get(entity.name, "absent") == "absent":
        return
    rows = package.csv_rows(entity.file_name)
    own = [name.strip() for name in next(rows, [])]
    where = [own.index(name) if name in own else None for name in header]
    for row in rows:
        if not row or not row[0].strip():
            continue
        yield [row[i].strip() if i is not None and i < len(row) else "" for i in where]


def _digest(values: list[str]) -> bytes:
    # Status and dateLastModified (positions 1 and 2) say nothing about the record's values.
    return hashlib.blake2b("\x1f".join([values[0], *values[3:]]).encode(), digest_size=12).digest()


def _entity_delta(old: CsvPackage, new: CsvPackage, entity: Entity,
                  stamps: Iterator[str]) -> Iterator[list]:
    header = entity.header(new.version)
    before = {values[0]: _digest(values) for values in _aligned(old, entity, header)}
    kept: set[str] = set()
    for values in _aligned(new, entity, header):
        kept.add(values[0])
        if before.get(values[0]) != _digest(values):
            yield [values[0], ACTIVE, next(stamps), *values[3:]]
    if len(kept) == len(before) and kept >= before.keys():
        return
    for values in _aligned(old, entity, header):
        if values[0] not in kept:
            kept.add(values[0])  # a record listed twice in the old file is removed once
            yield [values[0], DELETED, next(stamps), *values[3:]]


def _check(old: CsvPackage, new: CsvPackage) -> None:
    if old.version != new.version:
        raise DeltaRefused(f"The old package is OneRoster {old.version} and the new one "
                           f"{new.version}; make both of one version.")
    for package, which in ((old, "old"), (new, "new")):
        if "delta" in package.modes.values():
            raise DeltaRefused(f"The {which} package ({package.path}) is a delta; a delta is "
                               "made between two bulk packages.")


def write_package_delta(old: str | os.PathLike, new: str | os.PathLike,
                        out: str | os.PathLike, *, today: datetime.date | None = None,
                        zip_path: str | os.PathLike | None = None,
                        seed: int = 0) -> dict[str, int]:
    """Writes to ``out`` the delta package that turns bulk package ``old`` into ``new``
    (zips or folders); returns the rows written per file and their ``total``."""
    stamps = modified_stamps(today or datetime.date.today())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with CsvPackage(old) as before, CsvPackage(new) as after:
        _check(before, after)
        for entity in entities_for(after.version):
            count = _write_rows(out / entity.file_name, entity.header(after.version),
                                _entity_delta(before, after, entity, stamps))
            if count:
                counts[entity.name] = count
            else:
                (out / entity.file_name).unlink()
        write_package_manifest(out, after.version, dict.fromkeys(counts, "delta"), seed)
    if zip_path is not None:
        write_zip(str(out), tuple(counts), str(zip_path))
    return {**counts, "total": sum(counts.values())}


def _write_rows(path: Path, header: tuple[str, ...], rows: Iterator[list]) -> int:
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
