"""The nightly clean-up of a 1,000,000-student district's old run details, on PostgreSQL.

What half a year of quiet nights leaves for one large district, written straight into the
tables with set-based SQL (a full sync per night would take hours and measure the sync):
a roster of ``--students`` users (the present copy the district signs in from), ``--nights``
applied runs, one a night, each with ``--changes`` change records (an update of a user: its
before and after values as JSON, names and e-mails included, about 1.2 kB) and ``--issues``
row issues, and ``--removed`` users removed by the oldest runs (tombstones whose personal
fields are due to be blanked). Then :func:`al_roster.services.retention.clean_up` runs with
the default windows (90 days): every run older than 90 days loses its details, every
tombstone older than 90 days its personal fields.

While it runs, a second connection writes as the district's sign-ins and the next sync
would (an update of a present user and an insert of a change record, committed every
20 ms) and records how long each write waited: the clean-up's longest batch is the longest
any row lock is held, and the writer shows whether anyone else waited on it.

    python benchmarks/cleanup.py                       # 1,000,000 students, 180 nights
    python benchmarks/cleanup.py --students 100000 --nights 120 --changes 5000
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from scratch_db import create_database, drop_database

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

BEFORE = ("'{\"agent_sourced_ids\": null, \"date_last_modified\": null, \"email\": \"student' "
          "|| g || '@students.example.org\", \"enabled_user\": true, \"extra\": null, "
          "\"family_name\": \"Family' || g || '\", \"given_name\": \"Given' || g || '\", "
          "\"grades\": \"09\", \"identifier\": \"' || (100000000 + g) || '\", \"middle_name\": "
          "null, \"org_sourced_ids\": \"sch-' || mod(g, 400) || '\", \"phone\": null, "
          "\"preferred_family_name\": null, \"preferred_given_name\": null, "
          "\"preferred_middle_name\": null, \"primary_org_sourced_id\": null, \"pronouns\": null, "
          "\"removed_run_id\": null, \"role\": \"student\", \"row_hash\": ' || (g::bigint * 7919) || ', "
          "\"sms\": null, \"user_ids\": null, \"user_master_identifier\": null, \"username\": "
          "\"s' || g || '\"}'")
AFTER = BEFORE.replace("Given' || g", "Renamed' || g").replace(
    ", \\\"removed_run_id\\\": null", "")


def fill(db, args, now: dt.datetime) -> dict:
    """The district, its roster, runs, change records, issues and tombstones, in bulk."""
    from al_roster.models import District
    district = District.create(slug="bench", name="Bench Unified", plan="prime")
    started = time.perf_counter()
    first = now - dt.timedelta(days=args.nights)
    db.execute_sql(
        "INSERT INTO sync_run (district_id, source, status, started_at, finished_at, counts, "
        "error_count, warning_count) SELECT %s, 'csv_drop', 'applied', %s + (g || ' days')::interval, "
        "%s + (g || ' days')::interval + interval '3 minutes', '{}', 0, 0 "
        "FROM generate_series(0, %s - 1) g", [district.id, first, first, args.nights])
    runs = [r[0] for r in db.execute_sql(
        "SELECT id FROM sync_run WHERE district_id = %s ORDER BY id", [district.id]).fetchall()]
    db.execute_sql(
        "INSERT INTO roster_users (district_id, sourced_id, enabled_user, org_sourced_ids, role, "
        "username, given_name, family_name, identifier, email, grades, row_hash, first_run_id, "
        "last_run_id, removed_run_id) SELECT %s, 'stu-' || g, true, 'sch-' || mod(g, 400), "
        "'student', 's' || g, 'Given' || g, 'Family' || g, (100000000 + g)::text, "
        "'student' || g || '@students.example.org', '09', g::bigint * 7919, %s, %s, "
        "CASE WHEN g <= %s THEN %s + mod(g, %s) ELSE NULL END FROM generate_series(1, %s) g",
        [district.id, runs[0], runs[0], args.removed, runs[0], max(1, args.nights // 4),
         args.students])
    for at, run_id in enumerate(runs):
        low = (at * args.changes) % args.students
        db.execute_sql(
            "INSERT INTO run_change (run_id, entity, row_id, sourced_id, kind, prev_last_run_id, "
            f"before, after) SELECT %s, 'users', g, 'stu-' || g, 'updated', %s, {BEFORE}, "
            f"{AFTER} FROM generate_series(%s, %s) g",
            [run_id, runs[0], low + 1, low + args.changes])
        db.execute_sql(
            "INSERT INTO run_issue (run_id, file, line, field, severity, message, count) "
            "SELECT %s, 'users.csv', g, 'email', 'warning', 'email ''student' || g || "
            "'@students'' is not an e-mail address; kept as text.', 1 "
            "FROM generate_series(1, %s) g", [run_id, args.issues])
    db.execute_sql("ANALYZE")
    sizes = db.execute_sql(
        "SELECT pg_size_pretty(pg_total_relation_size('run_change')), "
        "(SELECT COUNT(*) FROM run_change), (SELECT COUNT(*) FROM run_issue)").fetchone()
    return {"district": district, "runs": runs, "fill_seconds": time.perf_counter() - started,
            "run_change_size": sizes[0], "changes": sizes[1], "issues": sizes[2]}


class Writer(threading.Thread):
    """Commits a small write of the district every 20 ms and keeps the longest wait."""

    def __init__(self, url: str, district_id: int, run_id: int):
        super().__init__(daemon=True)
        self.url, self.district_id, self.run_id = url, district_id, run_id
        self.stop, self.waits = threading.Event(), []

    def run(self) -> None:
        import psycopg2
        conn = psycopg2.connect(self.url)
        n = 0
        while not self.stop.is_set():
            n += 1
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute("UPDATE roster_users SET last_run_id = last_run_id WHERE "
                            "district_id = %s AND sourced_id = %s",
                            [self.district_id, f"stu-{900000 + n % 1000}"])
                cur.execute("INSERT INTO run_change (run_id, entity, row_id, sourced_id, kind) "
                            "VALUES (%s, 'users', %s, %s, 'updated')",
                            [self.run_id, n, f"stu-{n}"])
            conn.commit()
            self.waits.append(time.perf_counter() - started)
            time.sleep(0.02)
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1_000_000)
    parser.add_argument("--nights", type=int, default=180)
    parser.add_argument("--changes", type=int, default=20_000, help="change records a night")
    parser.add_argument("--issues", type=int, default=200, help="row issues a night")
    parser.add_argument("--removed", type=int, default=30_000,
                        help="users removed by the oldest runs (tombstones)")
    parser.add_argument("--batch", type=int, default=None, help="rows per batch")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    from al_roster import schema
    from al_roster.models import RunChange, bind_database
    from al_roster.models.district import utcnow
    from al_roster.services import retention

    name = f"al_roster_bench_cleanup_{os.getpid()}"
    url = create_database(name)
    try:
        db = bind_database(url)
        schema.upgrade(db)
        now = utcnow()
        filled = fill(db, args, now)
        district, runs = filled["district"], filled["runs"]
        old = [r for r in runs if db.execute_sql(
            "SELECT finished_at < %s FROM sync_run WHERE id = %s",
            [now - dt.timedelta(days=90), r]).fetchone()[0]]
        print(f"filled in {filled['fill_seconds']:.0f} s: {args.students:,} users, "
              f"{len(runs)} runs ({len(old)} older than 90 days), {filled['changes']:,} change "
              f"records ({filled['run_change_size']}), {filled['issues']:,} issues, "
              f"{args.removed:,} tombstones", flush=True)
        batch = args.batch or retention.BATCH
        with tempfile.TemporaryDirectory() as storage:
            writer = Writer(url, district.id, runs[-1])
            writer.start()
            time.sleep(0.5)
            report = retention.clean_up(storage, retention.Retention(), now=now, batch=batch)
            writer.stop.set()
            writer.join()
            nightly = retention.clean_up(storage, retention.Retention(),
                                         now=now + dt.timedelta(days=1), batch=batch)
        left = RunChange.select().count()
        result = {
            "students": args.students, "runs": len(runs), "old_runs": len(old),
            "changes_before": filled["changes"], "changes_left": left,
            "run_change_size": filled["run_change_size"], "batch_rows": batch,
            "first": report.to_dict(), "next_night": nightly.to_dict(),
            "writer_writes": len(writer.waits),
            "writer_longest_wait_s": round(max(writer.waits), 4) if writer.waits else None,
            "writer_median_wait_s": round(sorted(writer.waits)[len(writer.waits) // 2], 4)
            if writer.waits else None,
        }
        print(json.dumps(result, indent=2))
        first = report.to_dict()
        print(f"\nfirst clean-up: {first['changesDeleted']:,} changes, {first['issuesDeleted']:,} "
              f"issues of {first['runsCleaned']} runs, {first['tombstonesBlanked']:,} tombstones "
              f"blanked in {first['seconds']:.1f} s, {first['batches']:,} batches of "
              f"{batch:,} rows, longest batch {first['longestBatchSeconds']:.3f} s; a concurrent "
              f"writer's longest wait {result['writer_longest_wait_s']} s over "
              f"{result['writer_writes']:,} writes")
        nd = nightly.to_dict()
        print(f"next night: {nd['changesDeleted']:,} changes in {nd['seconds']:.2f} s, longest "
              f"batch {nd['longestBatchSeconds']:.3f} s")
    finally:
        from al_roster.models import database
        if database.obj is not None:
            database.obj.close_all() if hasattr(database.obj, "close_all") else database.obj.close()
        if not args.keep:
            drop_database(name)


if __name__ == "__main__":
    main()
