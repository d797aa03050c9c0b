"""Roster rows re-hashed as the sync now hashes them: values joined as text, XXH3.

A row's hash is what tells a sync that a record did not change. The sync now hashes canonical
lines without building Python values first, so the digest is taken over the values as text;
every stored hash is recomputed here, or the first sync after the upgrade would record every
record as updated. This data migration uses the live hash (it is the definition the next sync
compares against); rows are read in id order, a batch at a time, and written back with one
set-based UPDATE per batch.
"""
from al_roster.oneroster.entities import ENTITIES, all_stored_columns
from al_roster.oneroster.rows import row_hash
from al_roster.sync.sql import bulk_load, create_temp_table, drop_temp_table

BATCH = 50_000
TABLES = {
    "orgs": "roster_orgs", "academicSessions": "roster_academic_sessions",
    "courses": "roster_courses", "classes": "roster_classes", "users": "roster_users",
    "roles": "roster_roles", "enrollments": "roster_enrollments",
}


def _rehash(db, entity):
    table, columns = TABLES[entity.name], all_stored_columns(entity)
    names = ", ".join(f'"{c.attr}"' for c in columns)
    bools = [i for i, c in enumerate(columns) if c.kind == "bool"]
    last = 0
    while True:
        rows = db.execute_sql(
            f'SELECT id, {names}, extra FROM "{table}" WHERE id > {db.param} ORDER BY id '
            f"LIMIT {BATCH}", [last]).fetchall()
        if not rows:
            return
        hashes = []
        for row in rows:
            values = list(row[1:-1])
            for at in bools:
                if values[at] is not None:
                    values[at] = bool(values[at])
            hashes.append((row[0], row_hash(values, row[-1])))
        create_temp_table(db, "rehash", [("id", "INTEGER"), ("row_hash", "BIGINT")])
        bulk_load(db, "rehash", ["id", "row_hash"], hashes)
        db.execute_sql(f'UPDATE "{table}" SET row_hash = (SELECT h.row_hash FROM rehash h '
                       f'WHERE h.id = "{table}".id) WHERE id IN (SELECT id FROM rehash)')
        drop_temp_table(db, "rehash")
        last = rows[-1][0]


def up(migrator, db):
    with db.atomic():
        for entity in ENTITIES:
            _rehash(db, entity)


def down(migrator, db):
    """Nothing to undo: the earlier hash cannot be recomputed here, and a stale hash only
    makes the next sync record unchanged records as updated."""
