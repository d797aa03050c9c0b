"""PostgreSQL keeps each district's roster rows in partitions of their own
(al_roster.models.partitions): a first load fills a plain table, which is indexed once and
attached, while every other district reads and writes on; the migration moves the rows of a
copy made before it into partitions and back."""
from __future__ import annotations

import threading

import peewee
import psycopg2
import pytest
from conftest import PG_ADMIN_URL, _pg_params, partition_tables
from packages import small_district, write_package
from psycopg2 import sql

from al_roster import schema
from al_roster.models import partitions
from al_roster.models.roster import ROSTER_MODELS
from al_roster.services.districts import add_district
from al_roster.sync.runner import sync_package

TABLES = [model._meta.table_name for model in ROSTER_MODELS.values()]
#: The tables a OneRoster 1.1 package fills (it has no roles file).
FILLED = [table for table in TABLES if table != "roster_roles"]


def _index_count(cur, table: str) -> int:
    cur.execute("SELECT COUNT(*) FROM pg_index WHERE indrelid = to_regclass(%s)", (table,))
    return cur.fetchone()[0]


def _load(app, tmp_path, slug: str, students: int):
    district = add_district(slug, slug.title(), plan="prime", rostering=True)
    folder = write_package(tmp_path / slug, small_district(students, school=f"sch-{slug}"))
    run = sync_package(district, folder, app.extensions["al_roster"].sync_options)
    assert run.status == "applied"
    return district


def test_each_districts_first_load_fills_its_own_indexed_partition(pg_app, pg_url, tmp_path):
    north = _load(pg_app, tmp_path, "north", 4)
    south = _load(pg_app, tmp_path, "south", 7)
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        assert partition_tables(cur, "roster_roles") == []  # no role yet, no partition
        for table in FILLED:
            parts = [partitions.partition_name(table, d.id) for d in (north, south)]
            assert partition_tables(cur, table) == sorted(parts), table
            for part in parts:  # every index of the shared table, built on each partition
                assert _index_count(cur, part) == _index_count(cur, table) > 0, part
        cur.execute(f'SELECT district_id, COUNT(*) FROM "roster_users_d{south.id}" GROUP BY 1')
        assert cur.fetchall() == [(south.id, 7 + 1)]  # seven students and their teacher
        cur.execute('SELECT district_id, COUNT(*) FROM "roster_users" GROUP BY 1 ORDER BY 1')
        assert cur.fetchall() == [(north.id, 4 + 1), (south.id, 7 + 1)]


def test_other_districts_read_and_write_while_a_first_load_attaches(pg_app, pg_url, tmp_path,
                                                                      monkeypatch):
    north = _load(pg_app, tmp_path, "north", 4)
    attached, finish = threading.Event(), threading.Event()
    real_attach = partitions.attach

    def attach_then_wait(db, table, part, district_id):
        real_attach(db, table, part, district_id)
        if table == "roster_enrollments":  # the last table: the others are attached too
            attached.set()
            assert finish.wait(30)

    monkeypatch.setattr(partitions, "attach", attach_then_wait)
    result = {}

    def load_south():
        with pg_app.app_context():
            result["district"] = _load(pg_app, tmp_path, "south", 30)

    loader = threading.Thread(target=load_south)
    loader.start()
    try:
        assert attached.wait(60), "south's first load did not reach its attachment"
        conn = psycopg2.connect(pg_url)
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '2s'")
            for table in FILLED:  # a sign-in's reads, an import's and a sync's writes
                cur.execute(f'SELECT COUNT(*) FROM "{table}" WHERE district_id = %s', (north.id,))
                cur.execute(f'UPDATE "{table}" SET last_run_id = last_run_id '
                            "WHERE district_id = %s", (north.id,))
            cur.execute("SELECT COUNT(*) FROM roster_enrollments WHERE district_id = %s",
                        (north.id,))
            assert cur.fetchone()[0] > 0
        conn.rollback()
        conn.close()
    finally:
        finish.set()
        loader.join(60)
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM roster_users WHERE district_id = %s",
                    (result["district"].id,))
        assert cur.fetchone()[0] == 30 + 1


@pytest.fixture
def bare_db():
    """A database of this test's own, with no migration applied."""
    name = "al_roster_partitions_migration"
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db = peewee.PostgresqlDatabase(name, **_pg_params(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name))
    yield db
    db.close()
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


def _users(db) -> list[tuple]:
    return db.execute_sql("SELECT id, district_id, sourced_id, username FROM roster_users "
                          "ORDER BY id").fetchall()


def test_the_migration_moves_each_districts_rows_into_its_partition_and_back(bare_db):
    db = bare_db
    schema.runner(db).up("0014_delta_indexes")
    for district_id, who in ((3, "ana"), (5, "ben"), (3, "cy")):
        db.execute_sql("INSERT INTO roster_users (district_id, sourced_id, username, row_hash, "
                       "first_run_id, last_run_id) VALUES (%s, %s, %s, 0, 1, 1)",
                       (district_id, f"u-{who}", who))
    before = _users(db)
    indexes = sorted(db.execute_sql("SELECT indexname FROM pg_indexes WHERE tablename = "
                                    "'roster_users'").fetchall())

    assert schema.runner(db).up("0015_district_partitions") == ["0015_district_partitions"]
    assert _users(db) == before
    assert partition_tables(db.cursor(), "roster_users") == ["roster_users_d3", "roster_users_d5"]
    assert sorted(db.execute_sql("SELECT indexname FROM pg_indexes WHERE tablename = "
                                 "'roster_users'").fetchall()) == indexes
    db.execute_sql("INSERT INTO roster_users (district_id, sourced_id, row_hash, first_run_id, "
                   "last_run_id) VALUES (5, 'u-dee', 0, 1, 1)")
    assert _users(db)[-1][0] == before[-1][0] + 1  # the id sequence goes on
    with pytest.raises(peewee.IntegrityError):  # (district, sourcedId) is still unique
        with db.atomic():
            db.execute_sql("INSERT INTO roster_users (district_id, sourced_id, row_hash, "
                           "first_run_id, last_run_id) VALUES (3, 'u-ana', 0, 1, 1)")

    after = _users(db)
    assert schema.downgrade(db) == ["0015_district_partitions"]  # (the last one applied)
    assert _users(db) == after
    assert db.execute_sql("SELECT COUNT(*) FROM pg_inherits").fetchone()[0] == 0
    assert sorted(db.execute_sql("SELECT indexname FROM pg_indexes WHERE tablename = "
                                 "'roster_users'").fetchall()) == indexes


def test_a_few_staged_rows_are_joined_by_index_and_the_setting_put_back(pg_app):
    """A few staged rows joined to a district's many are planned as index look-ups, and the
    planner's page cost is the server's again after (and after a statement that failed)."""
    from al_roster.models import database
    from al_roster.sync.sql import CACHED_PAGE_COST, few_joined_to_many
    db = database.obj
    with db.atomic():
        before = db.execute_sql("SHOW random_page_cost").fetchone()[0]
        db.execute_sql("CREATE TEMP TABLE many (id int PRIMARY KEY, v int)")
        db.execute_sql("INSERT INTO many SELECT g, g FROM generate_series(1, 200000) g")
        db.execute_sql("CREATE TEMP TABLE few AS SELECT g * 37 AS id FROM "
                       "generate_series(1, 4000) g")
        db.execute_sql("ANALYZE many")
        db.execute_sql("ANALYZE few")
        join = "EXPLAIN SELECT m.v FROM few f JOIN many m ON m.id = f.id"
        with few_joined_to_many(db, True):
            assert float(db.execute_sql("SHOW random_page_cost").fetchone()[0]) == \
                CACHED_PAGE_COST
            plan = " ".join(r[0] for r in db.execute_sql(join).fetchall())
        assert "Index" in plan and "Hash Join" not in plan
        assert db.execute_sql("SHOW random_page_cost").fetchone()[0] == before
        with pytest.raises(peewee.DatabaseError):
            with db.atomic(), few_joined_to_many(db, True):
                db.execute_sql("SELECT 1 / 0")
        assert db.execute_sql("SHOW random_page_cost").fetchone()[0] == before
        with few_joined_to_many(db, False):
            assert db.execute_sql("SHOW random_page_cost").fetchone()[0] == before
