"""Class import and nightly reconciliation on PostgreSQL.

1. Import: a generated district plus twenty extra teachers who each teach ten classes of 35
   students. Ten of them import their ten classes through ``POST /roster/api/import`` (the
   whole request: sign-in lookup, checks, import, rosters as JSON), ten through the service
   call alone. Target: 200 ms or less per import of ten classes.
2. Reconciliation: a share of the district's classes imported (their rosters filled by one
   reconciliation), then three nightly syncs, each timed whole and for the reconciliation
   inside it: a delta (schedule changes and renames), the bulk file again (which moves those
   students back) and the same bulk once more (nothing changed).

    python benchmarks/import_classes.py --students 100000 --imported-share 0.5
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from scratch_db import ScratchDatabase

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this tree's al_roster, when run as a script

from flask import Flask, g  # noqa: E402

from al_roster import ALRoster, schema  # noqa: E402
from al_roster.demo.generator import (  # noqa: E402
    SchoolYear,
    generate_delta,
    generate_district,
    header,
)
from al_roster.models import Account, District, ImportedClass, Membership  # noqa: E402
from al_roster.services import sessions  # noqa: E402
from al_roster.services.class_import import import_classes  # noqa: E402
from al_roster.sync import reconcile, runner  # noqa: E402

OUT = HERE / "out"

TEACHERS, CLASSES, CLASS_SIZE = 20, 10, 35


# -- data ----------------------------------------------------------------------------------------

def package(students: int, today: dt.date) -> Path:
    """A generated district with the extra teachers, cached under benchmarks/out/."""
    folder = OUT / f"import-district-{students}"
    if not (folder / "manifest.csv").exists():
        generate_district(folder, students, seed=5, today=today)
        add_teachers(folder, SchoolYear.containing(today).terms)
    return folder


def add_teachers(folder: Path, terms: str) -> None:
    """Teachers tch-bench-NN, each with ten classes of 35 existing students."""
    users, classes, enrollments = [], [], []
    for t in range(1, TEACHERS + 1):
        teacher = f"tch-bench-{t:02d}"
        users.append(dict(sourcedId=teacher, enabledUser="true", orgSourcedIds="org-0001",
                          role="teacher", username=teacher, givenName="Bench",
                          familyName=f"Teacher {t}"))
        for c in range(1, CLASSES + 1):
            klass = f"cls-bench-{t:02d}-{c:02d}"
            classes.append(dict(sourcedId=klass, title=f"Bench {t} - Period {c}",
                                courseSourcedId="crs-000001", classType="scheduled",
                                schoolSourcedId="org-0001", termSourcedIds=terms, periods=str(c)))
            enrollments.append(dict(sourcedId=f"enr-{klass}-t", classSourcedId=klass,
                                    schoolSourcedId="org-0001", userSourcedId=teacher,
                                    role="teacher"))
            first = ((t - 1) * CLASSES + c - 1) * CLASS_SIZE + 1
            enrollments += [dict(sourcedId=f"enr-{klass}-{s}", classSourcedId=klass,
                                 schoolSourcedId="org-0001", userSourcedId=f"stu-{s:07d}",
                                 role="student") for s in range(first, first + CLASS_SIZE)]
    for name, rows in (("users", users), ("classes", classes), ("enrollments", enrollments)):
        with open(folder / f"{name}.csv", "a", newline="", encoding="utf-8") as out:
            csv.DictWriter(out, fieldnames=header(name, "1.1"), restval="").writerows(rows)


def delta(students: int, rows: int, today: dt.date) -> Path:
    folder = OUT / f"import-delta-{students}-{rows}"
    if not (folder / "manifest.csv").exists():
        generate_delta(students, folder, rows, seed=5, today=today)
    return folder


# -- database ------------------------------------------------------------------------------------

# -- measurements --------------------------------------------------------------------------------

class ReconcileTimer:
    """Times the reconciliation a sync runs, by wrapping it where the runner calls it."""

    def __init__(self):
        self.seconds, self.counts = 0.0, {}
        self.original = runner.reconcile_imported_classes
        runner.reconcile_imported_classes = self

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        self.counts = self.original(*args, **kwargs)
        self.seconds = time.perf_counter() - started
        return self.counts


def timed_sync(app, district, path: Path, timer: ReconcileTimer) -> dict:
    timer.seconds = 0.0
    started = time.perf_counter()
    run = runner.sync_package(district, path, app.extensions["al_roster"].sync_options)
    total = time.perf_counter() - started
    assert run.status == "applied", run.message
    return {"sync_s": round(total, 2), "reconcile_s": round(timer.seconds, 3),
            "reconciliation": timer.counts}


def bench_imports(app, district) -> dict:
    client = app.test_client()
    with client.session_transaction() as session:
        session["al_roster_csrf"] = "bench"
    requests, calls = [], []
    for t in range(1, TEACHERS + 1):
        teacher = f"tch-bench-{t:02d}"
        account = Account.create(district=district, sourced_id=teacher, role="teacher")
        wanted = [f"cls-bench-{t:02d}-{c:02d}" for c in range(1, CLASSES + 1)]
        started = time.perf_counter()
        if t % 2:
            with client.session_transaction() as session:
                session["_user_id"] = account.get_id()
                session[sessions.SESSION_KEY] = sessions.stamp(account)  # as a sign-in does
            g.pop("_login_user", None)  # requests share this app context: forget the last user
            response = client.post("/roster/api/import", json={"classes": wanted},
                                    headers={"X-CSRF-Token": "bench"})
            assert response.status_code == 200, response.get_data(as_text=True)
            got = response.get_json()["classes"]
            assert sum(len(c["students"]) for c in got) == CLASSES * CLASS_SIZE, got
            requests.append(time.perf_counter() - started)
        else:
            classes = import_classes(account, wanted)
            calls.append(time.perf_counter() - started)
            assert len(classes) == CLASSES
    return {"request_ms": summary(requests), "service_ms": summary(calls)}


def summary(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    return {"median": round(statistics.median(ms), 1), "max": round(ms[-1], 1), "n": len(ms)}


def import_share(db, district, share: float, today: dt.date) -> dict:
    """Imports every n-th class of the district with its primary teacher, set-based, then
    fills the rosters with one reconciliation (what all those teachers' imports add up to)."""
    step = max(1, round(1 / share))
    started = time.perf_counter()
    with db.atomic():
        db.execute_sql(
            'INSERT INTO "imported_class" (district_id, sourced_id, title, status, created_at) '
            "SELECT district_id, sourced_id, title, 'active', now() FROM roster_classes "
            "WHERE district_id = %s AND sourced_id NOT LIKE 'cls-bench-%%' AND id %% %s = 0 "
            "ON CONFLICT DO NOTHING", [district.id, step])
        db.execute_sql(
            'INSERT INTO "membership" (imported_class_id, district_id, user_sourced_id, role, '
            "added_at) SELECT ic.id, ic.district_id, e.user_sourced_id, 'teacher', now() "
            'FROM "imported_class" ic JOIN roster_enrollments e ON e.district_id = ic.district_id '
            "AND e.class_sourced_id = ic.sourced_id AND e.role = 'teacher' "
            "WHERE ic.district_id = %s ON CONFLICT DO NOTHING", [district.id])
        counts = reconcile.reconcile_imported_classes(db, district.id, None, today=today)
    # Imports happen during the day; autovacuum has analyzed the tables by the nightly sync.
    db.execute_sql("ANALYZE")
    return {"classes": ImportedClass.select().count(), "memberships": Membership.select().count(),
            "fill_s": round(time.perf_counter() - started, 2), "added": counts["members_added"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--imported-share", type=float, default=0.5)
    parser.add_argument("--delta-rows", type=int, default=10_000)
    args = parser.parse_args()
    today = dt.date.today()
    base, nightly = package(args.students, today), delta(args.students, args.delta_rows, today)
    database = ScratchDatabase(f"al_roster_bench_import_{os.getpid()}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-import-") as storage:
            # The plugin alone, signed in as its own Account (a host's receivers are its cost).
            app = Flask("bench")
            app.config.update(AL_ROSTER_DATABASE_URL=database.url,
                              AL_ROSTER_STORAGE_DIR=storage, SECRET_KEY="bench")
            ALRoster(app)
            with app.app_context():
                db = app.extensions["al_roster"].db
                schema.upgrade(db)
                district = District.create(slug="bench", name="Bench", plan="prime",
                                           rostering_enabled=True, deletion_threshold=1.0)
                timer = ReconcileTimer()
                report = {"students": args.students}
                report["first_load"] = timed_sync(app, district, base, timer)
                report["import_10x35"] = bench_imports(app, district)
                report["imported"] = import_share(db, district, args.imported_share, today)
                report["nightly_delta"] = timed_sync(app, district, nightly, timer)
                report["bulk_after_delta"] = timed_sync(app, district, base, timer)
                report["unchanged_bulk"] = timed_sync(app, district, base, timer)
                db.close()
        for key, value in report.items():
            print(f"{key}: {value}")
    finally:
        database.drop()


if __name__ == "__main__":
    main()
