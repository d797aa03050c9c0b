"""PostgreSQL: the roster tables partitioned by district, one partition per district
(``<table>_d<district id>``), so a district's first load fills a table of its own and
indexes it once, after the load (al_roster.models.partitions). Each table keeps its
columns, its id sequence and the names of its indexes; its primary key becomes
(id, district_id), as a partitioned table's must hold the partition key. Existing rows are
moved district by district. SQLite is left as it is."""
from peewee import PostgresqlDatabase

TABLES = ("roster_orgs", "roster_academic_sessions", "roster_courses", "roster_classes",
          "roster_users", "roster_roles", "roster_enrollments")


def _indexes(db, table):
    """Each index but the primary key, as the statement that makes it again."""
    rows = db.execute_sql("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = "
                          "current_schema() AND tablename = %s AND indexname <> %s ORDER BY 1",
                          (table, table + "_pkey")).fetchall()
    return [(name, definition.replace(" ON ONLY ", " ON ")) for name, definition in rows]


def _rebuild(db, table, partitioned):
    """``table`` made again, partitioned or not, with its rows, sequence and index names."""
    indexes = _indexes(db, table)
    old = table + "_before"
    for name, _ in indexes:
        db.execute_sql(f'DROP INDEX "{name}"')
    db.execute_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{table}_pkey"')
    db.execute_sql(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    by = " PARTITION BY LIST (district_id)" if partitioned else ""
    db.execute_sql(f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS){by}')
    db.execute_sql(f'ALTER SEQUENCE "{table}_id_seq" OWNED BY "{table}".id')
    if partitioned:
        districts = db.execute_sql(f'SELECT DISTINCT district_id FROM "{old}"').fetchall()
        for (district_id,) in districts:
            part = f"{table}_d{int(district_id)}"
            db.execute_sql(f'CREATE TABLE "{part}" (LIKE "{table}" INCLUDING DEFAULTS)')
            db.execute_sql(f'INSERT INTO "{part}" SELECT * FROM "{old}" '
                           f"WHERE district_id = {int(district_id)}")
            db.execute_sql(f'ALTER TABLE "{table}" ATTACH PARTITION "{part}" '
                           f"FOR VALUES IN ({int(district_id)})")
    else:
        db.execute_sql(f'INSERT INTO "{table}" SELECT * FROM "{old}"')
    db.execute_sql(f'DROP TABLE "{old}" CASCADE')
    key = "id, district_id" if partitioned else "id"
    db.execute_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY ({key})')
    for _, definition in indexes:
        db.execute_sql(definition)


def up(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        for table in TABLES:
            _rebuild(db, table, partitioned=True)


def down(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        for table in TABLES:
            _rebuild(db, table, partitioned=False)
