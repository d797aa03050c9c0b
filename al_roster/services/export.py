"""Handing a district its data back: the present roster copy as a OneRoster bulk package.

:func:`export_district` writes a zip this plugin (or any OneRoster 1.1 or 1.2 consumer) reads
as a bulk package: ``manifest.csv`` and one CSV per entity the version has, holding every
present (not removed) record with the values the copy keeps, ``metadata.*`` columns
included, in spec column order. Values are written as stored, never rewritten for a
spreadsheet, so syncing the package back changes nothing. Columns the copy never stores
(``password``) are empty. A 1.2 copy written as 1.1 loses what 1.1 has no place for
(roles.csv, the 1.2 user fields), and the other way round: export in the copy's version.

Beside the OneRoster files, in the ``al_roster/`` folder of the zip (which a OneRoster
reader does not look into): ``imported_classes.csv``, ``memberships.csv`` and
``accounts.csv``, the app's own records of the district, cells that start like a formula
written as text. Rows are read a batch at a time, so memory does not grow with the district.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from peewee import JOIN

from ..errors import RosterError
from ..models import (
    ROSTER_MODELS,
    Account,
    District,
    ImportedClass,
    Membership,
    PrivacyAudit,
    database,
    present,
)
from ..models.privacy import EXPORT
from ..oneroster.entities import VERSIONS, Entity, entities_for
from ..oneroster.issues import spreadsheet_cell
from ..oneroster.manifest import manifest_rows

BATCH = 20_000
APP_FOLDER = "al_roster"
README = """\
{name} ({slug}): the roster data held for the district on {when} UTC.

manifest.csv and the OneRoster {version} files beside it are every present record of the
district's roster copy, as a bulk package (a file with no present record is marked
absent). Removed records (tombstones) are not included.
Passwords are never stored, so the password column is empty.

al_roster/imported_classes.csv  classes teachers imported from the SIS into the app
al_roster/memberships.csv       who is in each imported class (removedAt: taken out)
al_roster/accounts.csv          people who signed in to the app, by sourcedId
"""


def export_district(district: District, out: str | os.PathLike, *, version: str = "1.1",
                    by: str | None = None) -> dict:
    """Writes the district's present roster copy and app records to the zip ``out``
    (replaced whole, or not at all); returns the rows written per file."""
    if version not in VERSIONS:
        raise RosterError(f"OneRoster version {version!r} is not one of {', '.join(VERSIONS)}.")
    out = Path(out)
    partial = out.with_name(f".{out.name}.partial")
    counts: dict[str, int] = {}
    try:
        # An empty bulk file is not allowed: an entity with no present record is absent.
        kept = [e for e in entities_for(version)
                if present(ROSTER_MODELS[e.name], district.id).exists()]
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            _write(archive, "manifest.csv", _manifest(version, {e.name for e in kept}))
            for entity in kept:
                counts[entity.file_name] = _write(
                    archive, entity.file_name, _entity_rows(district, entity, version))
            for name, rows in (("imported_classes.csv", _imported_classes(district)),
                               ("memberships.csv", _memberships(district)),
                               ("accounts.csv", _accounts(district))):
                counts[f"{APP_FOLDER}/{name}"] = _write(archive, f"{APP_FOLDER}/{name}", rows)
            archive.writestr(f"{APP_FOLDER}/README.txt", README.format(
                name=district.name, slug=district.slug, version=version,
                when=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")))
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    PrivacyAudit.create(action=EXPORT, district_slug=district.slug, by=by,
                        counts={"version": version, "rows": counts})
    return {"district": district.slug, "version": version, "file": str(out), "rows": counts}


def _write(archive: zipfile.ZipFile, name: str, rows: Iterator[list]) -> int:
    """Writes ``rows`` (the header first) as the CSV member ``name``; returns data rows."""
    written = -1
    with archive.open(name, "w", force_zip64=True) as raw, \
            io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        writer = csv.writer(text)
        for row in rows:
            writer.writerow(row)
            written += 1
    return max(written, 0)


def _manifest(version: str, kept: set[str]) -> Iterator[tuple]:
    yield from manifest_rows(version, dict.fromkeys(kept, "bulk"), system_name="al_roster export")


def _entity_rows(district: District, entity: Entity, version: str) -> Iterator[list]:
    columns = entity.columns(version)
    stored = [c for c in columns if c.stored]
    extras = sorted(_extra_keys(district, entity))
    yield [*entity.header(version), *extras]
    picks = ", ".join(f'"{c.attr}"' for c in stored)
    sql = (f'SELECT id, sourced_id, date_last_modified, extra{", " + picks if picks else ""} '
           f'FROM "{_table(entity)}" WHERE district_id = {{p}} AND removed_run_id IS NULL '
           "AND id > {p} ORDER BY id LIMIT " + str(BATCH))
    position = {c.attr: 4 + i for i, c in enumerate(stored)}
    for row in _batches(sql, district.id):
        values = [_text(row[position[c.attr]], c.kind) if c.stored else "" for c in columns]
        extra = json.loads(row[3]) if row[3] else {}
        yield [row[1], "", row[2] or "", *values, *(extra.get(k, "") for k in extras)]


def _extra_keys(district: District, entity: Entity) -> set[str]:
    sql = (f'SELECT id, extra FROM "{_table(entity)}" WHERE district_id = {{p}} '
           "AND removed_run_id IS NULL AND extra IS NOT NULL AND id > {p} ORDER BY id LIMIT "
           + str(BATCH))
    keys: set[str] = set()
    for row in _batches(sql, district.id):
        keys.update(json.loads(row[1]))
    return keys


def _batches(sql: str, district_id: int) -> Iterator[tuple]:
    """The rows of ``sql`` (a keyset query on id, ``{p}`` for parameters) a batch at a time."""
    db = database.obj
    statement = sql.replace("{p}", db.param)
    last = 0
    while True:
        rows = db.execute_sql(statement, [district_id, last]).fetchall()
        yield from rows
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def _table(entity: Entity) -> str:
    return ROSTER_MODELS[entity.name]._meta.table_name


def _text(value, kind: str) -> str:
    """A stored value as the CSV binding writes it."""
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value in (True, 1, "1", "true") else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _when(value) -> str:
    if value is None:
        return ""
    return value.replace(microsecond=0).isoformat() + "Z" if isinstance(value, dt.datetime) \
        else str(value)


def _safe(row: list) -> list:
    return [spreadsheet_cell(cell) for cell in row]


def _imported_classes(district: District) -> Iterator[list]:
    yield ["sourcedId", "title", "status", "createdAt", "archivedAt", "importedBy"]
    importer = Account.alias()
    query = (ImportedClass.select(ImportedClass.sourced_id, ImportedClass.title,
                                  ImportedClass.status, ImportedClass.created_at,
                                  ImportedClass.archived_at, importer.sourced_id)
             .join(importer, JOIN.LEFT_OUTER, on=(ImportedClass.imported_by == importer.id))
             .where(ImportedClass.district == district.id).order_by(ImportedClass.sourced_id)
             .tuples())
    for sourced_id, title, status, created, archived, by in query.iterator():
        yield _safe([sourced_id, title, status, _when(created), _when(archived), by or ""])


def _memberships(district: District) -> Iterator[list]:
    yield ["classSourcedId", "userSourcedId", "role", "addedAt", "removedAt"]
    query = (Membership.select(Membership.user_sourced_id, Membership.role, Membership.added_at,
                               Membership.removed_at, ImportedClass.sourced_id)
             .join(ImportedClass).where(ImportedClass.district == district.id)
             .order_by(ImportedClass.sourced_id, Membership.user_sourced_id).tuples())
    for user, role, added, removed, cls in query.iterator():
        yield _safe([cls, user, role, _when(added), _when(removed)])


def _accounts(district: District) -> Iterator[list]:
    yield ["sourcedId", "role", "classLinkUserId", "createdAt", "lastSignInAt"]
    query = (Account.select().where(Account.district == district.id)
             .order_by(Account.sourced_id))
    for a in query.iterator():
        yield _safe([a.sourced_id, a.role, a.classlink_user_id or "", _when(a.created_at),
                     _when(a.last_login_at)])
