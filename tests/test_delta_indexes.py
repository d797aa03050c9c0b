"""What lets a delta on a large district read its own rows: the indexes the roster models
declare are those the migrations build, and a first load leaves SQLite statistics, so a
delta's joins start from its few staged rows rather than from every row of the district."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from al_roster.demo.generator import generate_delta, generate_district
from al_roster.models.base import is_postgres
from al_roster.models.district import DEFAULT_TIMEZONE
from al_roster.models.roster import ROSTER_MODELS
from al_roster.services.districts import add_district
from al_roster.sync.runner import sync_package

TODAY = dt.datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).date()


def _index_columns(db, table: str) -> set[tuple[str, ...]]:
    """The column lists of a table's indexes (on PostgreSQL, of a partitioned one too, which
    peewee's get_indexes leaves out)."""
    if not is_postgres(db):
        return {tuple(index.columns) for index in db.get_indexes(table)}
    return {tuple(r[0]) for r in db.execute_sql(
        "SELECT ARRAY(SELECT pg_get_indexdef(i.indexrelid, k + 1, TRUE) FROM "
        "generate_subscripts(i.indkey, 1) AS k ORDER BY k) FROM pg_index i "
        "WHERE i.indrelid = to_regclass(%s)", (table,))}


def test_migrated_roster_tables_have_the_models_indexes(app):
    db = app.extensions["al_roster"].db
    for model in ROSTER_MODELS.values():
        table = model._meta.table_name
        built = _index_columns(db, table)
        declared = {tuple(model._meta.columns[c].column_name if c in model._meta.columns
                          else c for c in columns) for columns, _ in model._meta.indexes}
        assert declared <= built, table


def test_a_first_load_leaves_statistics_a_delta_then_plans_with(app, tmp_path):
    db = app.extensions["al_roster"].db
    district = add_district("lake", "Lake", plan="prime", rostering=True, deletion_threshold=1.0)
    options = app.extensions["al_roster"].sync_options
    generate_district(tmp_path / "base", 2000, seed=3, today=TODAY)
    assert sync_package(district, tmp_path / "base", options).status == "applied"
    if is_postgres(db):
        # The district's own partition of the enrollments (models.partitions).
        analyzed = db.execute_sql("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                  "WHERE relname = %s", (f"roster_enrollments_d{district.id}",)
                                  ).fetchone()[0]
        assert analyzed
    else:
        stats = dict(db.execute_sql("SELECT idx, stat FROM main.sqlite_stat1 "
                                    "WHERE tbl = 'roster_enrollments'").fetchall())
        # One district: the district's id alone selects every enrollment.
        total, per_district = stats["roster_enrollments_district_id_sourced_id"].split()[:2]
        assert int(total) > 10_000 and per_district == total
    generate_delta(2000, tmp_path / "delta", 500, seed=3, today=TODAY)
    delta = sync_package(district, tmp_path / "delta", options)
    assert delta.status == "applied" and delta.counts["enrollments"]["deleted"] > 0


def test_a_deltas_few_staged_users_are_updated_by_look_up_on_sqlite(sqlite_app, tmp_path):
    """SQLite keeps no statistics of a temporary table unless asked, and takes it for a big
    one: a delta's 30 staged users were joined by walking every user of the district. Given
    a quick look, the planner starts from the staged rows."""
    from al_roster.sync.sql import create_temp_table
    from al_roster.sync.tables import analyze
    with sqlite_app.app_context():
        db = sqlite_app.extensions["al_roster"].db
        district = add_district("lake", "Lake", plan="prime", rostering=True)
        generate_district(tmp_path / "base", 2000, seed=3, today=TODAY)
        options = sqlite_app.extensions["al_roster"].sync_options
        assert sync_package(district, tmp_path / "base", options).status == "applied"
        users = ROSTER_MODELS["users"]._meta.table_name
        analyze(db, users, sqlite_too=True)  # (as after a large district's first load)
        create_temp_table(db, "stage_users", [("sourced_id", "TEXT"), ("given_name", "TEXT")])
        db.execute_sql('CREATE UNIQUE INDEX "ix_stage_users" ON "stage_users" (sourced_id)')
        for n in range(30):
            db.execute_sql("INSERT INTO stage_users VALUES (?, 'New')", (f"stu-{n}",))
        analyze(db, "stage_users")
        plan = db.execute_sql(
            f'EXPLAIN QUERY PLAN UPDATE "{users}" SET given_name = s.given_name '
            f'FROM stage_users s WHERE "{users}".district_id = ? '
            f'AND "{users}".sourced_id = s.sourced_id', (district.id,)).fetchall()
        steps = [row[3] for row in plan]
        assert steps[0] == "SCAN s" and not any(step == f"SCAN {users}" for step in steps)
