"""A nightly sync that changes 10,000 memberships of imported classes, timed with the roster
events it writes (PostgreSQL, or SQLite with ``--database sqlite``).

A generated district (every class imported, rosters filled by one reconciliation), then the
night's bulk file: the same district with 5,000 student enrollments dropped and 5,000 added
in other classes. The sync is timed whole, with its reconciliation and the events it wrote.
Each round uses a database of its own. To compare with a tree that writes no events (the
commit before them, checked out beside), run the same script with ``--tree`` naming it:

    python benchmarks/events.py --students 100000 --rounds 2
    python benchmarks/events.py --students 100000 --rounds 2 --tree ../before
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from scratch_db import ScratchDatabase

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def packages(students: int, changes: int, today: dt.date) -> tuple[Path, Path]:
    """The district's bulk package and the night's, cached under benchmarks/out/."""
    from al_roster.demo.generator import generate_district
    base, night = OUT / f"events-district-{students}", OUT / f"events-night-{students}-{changes}"
    if not (base / "manifest.csv").exists():
        generate_district(base, students, seed=7, today=today)
    if not (night / "manifest.csv").exists():
        shutil.copytree(base, night, dirs_exist_ok=True)
        _move_students(night / "enrollments.csv", changes // 2)
    return base, night


def _move_students(path: Path, half: int) -> None:
    """Drops ``half`` student enrollments and adds ``half`` in other classes."""
    with open(path, newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        fields, rows = reader.fieldnames, list(reader)
    students = [i for i, r in enumerate(rows) if r["role"] == "student"]
    dropped = set(students[:half])
    added = []
    for n, i in enumerate(students[half:2 * half]):
        other = rows[students[(half * 2 + n * 7919) % len(students)]]
        added.append({**rows[i], "sourcedId": rows[i]["sourcedId"] + "-moved",
                      "classSourcedId": other["classSourcedId"]})
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(r for i, r in enumerate(rows) if i not in dropped)
        writer.writerows(added)


class SqliteDatabase:
    """A SQLite file of its own for one round."""

    def __init__(self, round_: int):
        self.folder = tempfile.mkdtemp(prefix="bench-events-db-")
        self.url = f"sqlite:///{self.folder}/round-{round_}.sqlite3"

    def drop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class Database(ScratchDatabase):
    """A PostgreSQL database of its own for one round."""

    def __init__(self, round_: int):
        super().__init__(f"al_roster_bench_events_{os.getpid()}_{round_}")


def import_everything(db, district, today: dt.date) -> dict:
    """Every class imported with its teachers, rosters filled by one reconciliation."""
    from al_roster.models.district import utcnow
    from al_roster.sync import reconcile
    p, now = db.param, utcnow()
    with db.atomic():
        db.execute_sql(
            'INSERT INTO "imported_class" (district_id, sourced_id, title, status, created_at) '
            f"SELECT district_id, sourced_id, title, 'active', {p} FROM roster_classes "
            f"WHERE district_id = {p}", [now, district.id])
        db.execute_sql(
            'INSERT INTO "membership" (imported_class_id, district_id, user_sourced_id, role, '
            f"added_at) SELECT ic.id, ic.district_id, e.user_sourced_id, 'teacher', {p} "
            'FROM "imported_class" ic JOIN roster_enrollments e ON e.district_id = ic.district_id '
            "AND e.class_sourced_id = ic.sourced_id AND e.role = 'teacher' "
            f"WHERE ic.district_id = {p} ON CONFLICT DO NOTHING", [now, district.id])
        counts = reconcile.reconcile_imported_classes(db, district.id, None, today=today)
    db.execute_sql("ANALYZE")  # autovacuum would have, between the day's imports and the night
    return counts


def one_round(round_: int, base: Path, night: Path, today: dt.date, kind: str) -> dict:
    from flask import Flask

    from al_roster import ALRoster, schema
    from al_roster.models import District
    from al_roster.sync import runner
    database = (SqliteDatabase if kind == "sqlite" else Database)(round_)
    timer = EventTimer.shared()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-events-") as storage:
            # The plugin alone: a host app's receivers (the reference app's mirror tables)
            # are the host's cost, not the sync's, and a tree from before events has none.
            app = Flask("bench")
            app.config.update(AL_ROSTER_DATABASE_URL=database.url,
                              AL_ROSTER_STORAGE_DIR=storage, SECRET_KEY="bench")
            ALRoster(app)
            with app.app_context():
                db = app.extensions["al_roster"].db
                schema.upgrade(db)
                district = District.create(slug="bench", name="Bench", plan="prime",
                                           rostering_enabled=True, deletion_threshold=1.0)
                options = app.extensions["al_roster"].sync_options
                assert runner.sync_package(district, base, options).status == "applied"
                filled = import_everything(db, district, today)
                timer.seconds = 0.0
                started = time.perf_counter()
                run = runner.sync_package(district, night, options)
                seconds = time.perf_counter() - started
                assert run.status == "applied", run.message
                events = _events_of(db, run.id)
                db.close()
        reconciled = run.counts["reconciliation"]
        return {"round": round_, "members": filled["members_added"], "night_s": round(seconds, 2),
                "added": reconciled["members_added"], "removed": reconciled["members_removed"],
                "events": events, "events_s": round(timer.seconds, 3)}
    finally:
        database.drop()


class EventTimer:
    """Seconds spent staging events and writing them to roster_event (a tree with events)."""

    _shared = None

    @classmethod
    def shared(cls) -> EventTimer:
        cls._shared = cls._shared or cls()
        return cls._shared

    def __init__(self):
        self.seconds = 0.0
        try:
            from al_roster.sync import change_events, events
        except ImportError:
            return
        for module, name in ((change_events, "stage"), (change_events, "stage_rows"),
                             (events, "_write_staged")):
            setattr(module, name, self._timed(getattr(module, name)))

    def _timed(self, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
        return timed


def _events_of(db, run_id: int) -> int | None:
    if "roster_event" not in db.get_tables():
        return None  # a tree from before roster events
    return db.execute_sql(f"SELECT COUNT(*) FROM roster_event WHERE run_id = {db.param}",
                          [run_id]).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--tree", type=Path, default=HERE.parent,
                        help="the source tree whose al_roster to time")
    args = parser.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))
    today = dt.date.today()
    base, night = packages(args.students, args.changes, today)
    import al_roster
    print(f"tree: {Path(al_roster.__file__).parent.parent.name}", flush=True)
    for round_ in range(1, args.rounds + 1):
        print(json.dumps(one_round(round_, base, night, today, args.database)), flush=True)


if __name__ == "__main__":
    main()
