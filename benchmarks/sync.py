"""Full, unchanged and delta syncs of generated districts, against a raw-load floor.

For each size and database: generate a bulk district (cached under benchmarks/out/), then
in separate processes (so peak memory is the sync's own) run a first full sync, the same
package again (unchanged re-sync: files recognised byte for byte), the same rows in files
that differ by a trailing blank line (re-read: every row read and compared) and a
10,000-row delta; and measure two floors: the same CSV rows loaded raw into unindexed tables
(PostgreSQL COPY into temporary tables; SQLite executemany in one transaction), and loaded
raw into durable tables then given the roster copy's indexes (what any sync that keeps
those indexes must at least pay, before checking a single value).

    python benchmarks/sync.py --sizes 2000,10000 --databases sqlite,postgresql
    python benchmarks/sync.py --sizes 1000000 --databases postgresql   # the largest
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from scratch_db import create_database, drop_database

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

CHILD = r"""
import json, os, sys, time
from plugin import create_app
from al_roster import schema
from al_roster.models import District
from al_roster.sync.runner import sync_package
app = create_app({"AL_ROSTER_DATABASE_URL": sys.argv[1], "AL_ROSTER_STORAGE_DIR": sys.argv[2]})
with app.app_context():
    schema.upgrade(app.extensions["al_roster"].db)
    threshold = float(os.environ.get("AL_ROSTER_BENCH_THRESHOLD", "1.0"))
    district, _ = District.get_or_create(slug="bench", defaults={"name": "Bench",
                                         "deletion_threshold": threshold})
    started = time.perf_counter()
    run = sync_package(district, sys.argv[3], app.extensions["al_roster"].sync_options)
    seconds = time.perf_counter() - started
    db_cpu = 0.0
    if sys.argv[1].startswith("postgres"):  # the server's side of the sync: its backend's CPU
        backend = app.extensions["al_roster"].db.execute_sql("SELECT pg_backend_pid()")
        with open(f"/proc/{backend.fetchone()[0]}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        db_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    import resource  # the sync's own peak, and its reading processes' (children it waited
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # for: the largest one)
    reader = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # Up to two read at once: counted as two of the largest, an upper bound of the peak.
    print(json.dumps({"status": run.status, "seconds": seconds, "message": run.message,
                      "db_cpu_s": db_cpu, "peak_mb": own + 2 * reader,
                      "own_mb": own, "reader_mb": reader}))
"""


def _cpu_times() -> list[tuple[int, int]]:
    """(busy, total) jiffies of each core, from /proc/stat (empty where there is none)."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return []
    cores = []
    for line in lines:
        if line.startswith("cpu") and line[3:4].isdigit():
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            cores.append((sum(values) - idle, sum(values)))
    return cores


def _tree_pss_mb(pid: int) -> float:
    """The proportional set size (shared pages divided among the processes that map
    them) of a process and its descendants together, in MB; 0 where /proc has none."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in rollup.splitlines()
                       if line.startswith("Pss:")), 0)
        pending.extend(int(child) for child in children)
    return total / 1024


class _PeakSampler(threading.Thread):
    """Samples the PSS of a sync's process tree (the sync, its reading processes) every
    0.2 s: the peak of what they hold at once, each shared page counted once."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.peak = max(self.peak, _tree_pss_mb(self.pid))

    def stop(self) -> float:
        self.done.set()
        self.join()
        return self.peak


def run_child(db_url: str, storage: str, package: Path) -> dict:
    """One sync in a fresh process; returns its timing, peak RSS in MB (of the sync and its
    reading process together), the CPU seconds of the sync's own processes (and of its
    PostgreSQL backend) and how busy each core of the machine was meanwhile."""
    before = _cpu_times()
    process = subprocess.Popen([sys.executable, "-c", CHILD, db_url, storage, str(package)],
                               stdout=subprocess.PIPE, cwd=TREE, env=_child_env())
    sampler = _PeakSampler(process.pid)
    sampler.start()
    output = process.stdout.read()
    sampled = sampler.stop()
    _, status, usage = os.wait4(process.pid, 0)
    process.stdout.close()
    if status != 0:
        raise SystemExit(f"sync failed: {output!r}")
    result = json.loads(output.decode().strip().splitlines()[-1])
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["sampled_mb"] = sampled
    after = _cpu_times()
    result["cores"] = [round(100 * (b1 - b0) / max(1, t1 - t0))
                       for (b0, t0), (b1, t1) in zip(before, after, strict=False)]
    return result


#: The checkout whose sync is measured (``--tree``: another release, checked out beside).
TREE = HERE.parent


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(TREE) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def generated(size: int) -> tuple[Path, Path]:
    from al_roster.demo.generator import generate_delta, generate_district
    base, delta = OUT / f"district-{size}", OUT / f"delta-{size}"
    if not (base / "manifest.csv").exists():
        generate_district(base, size, seed=1)
    if not (delta / "manifest.csv").exists():
        generate_delta(size, delta, 10_000, seed=1)
    return base, delta


def reworded(base: Path) -> Path:
    """The same rows in files whose bytes differ (a trailing blank line), so a re-sync has to
    read and compare every row instead of recognising the files."""
    target = base.with_name(base.name + "-reread")
    if not (target / "manifest.csv").exists():
        target.mkdir(exist_ok=True)
        for path in base.glob("*.csv"):
            data = path.read_bytes()
            (target / path.name).write_bytes(data if path.name == "manifest.csv" else data + b"\n")
    return target


def quoted(base: Path) -> Path:
    """The same rows re-exported with every field quoted: every byte differs, no value does
    (a quiet night of an SIS that writes its export afresh)."""
    target = base.with_name(base.name + "-quoted")
    if not (target / "manifest.csv").exists():
        target.mkdir(exist_ok=True)
        for path in base.glob("*.csv"):
            with open(path, newline="", encoding="utf-8") as inp, \
                    open(target / path.name, "w", newline="", encoding="utf-8") as out:
                csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(
                    csv.reader(inp))
    return target


def one_percent(base: Path) -> Path:
    """The package re-exported with about 1% of its records changed: one user in a hundred
    renamed, one enrollment in two hundred dropped and as many added (a student put in
    another section), every other row as it was but its bytes (written afresh)."""
    target = base.with_name(base.name + "-1pct")
    if (target / "manifest.csv").exists():
        return target
    target.mkdir(exist_ok=True)
    for path in base.glob("*.csv"):
        with open(path, newline="", encoding="utf-8") as inp, \
                open(target / path.name, "w", newline="", encoding="utf-8") as out:
            reader, writer = csv.reader(inp), csv.writer(out, lineterminator="\r\n")
            header = next(reader)
            writer.writerow(header)
            at = {name: i for i, name in enumerate(header)}
            for n, row in enumerate(reader):
                if path.stem == "users" and n % 100 == 7:
                    row[at["givenName"]] += "e"
                elif path.stem == "enrollments" and n % 200 == 11:
                    continue  # dropped
                elif path.stem == "enrollments" and n % 200 == 111:
                    writer.writerow(row)
                    row = list(row)
                    row[at["sourcedId"]] += "-moved"  # added
                writer.writerow(row)
    return target


def one_school_missing(base: Path) -> Path:
    """The package with the school of the smallest share left out (the guards' case: a
    school of many missing from a big district's export), and five students arrived."""
    from al_roster.demo.night_variants import largest_shares, next_night, schools_in
    target = base.with_name(base.name + "-school-missing")
    if not (target / "manifest.csv").exists():
        schools = {sourced_id for sourced_id, _ in schools_in(base)}
        shares = {k: v for k, v in largest_shares(base).items() if k in schools}
        ranked = sorted(shares, key=lambda k: (shares[k], k))
        next_night(base, target, missing_school=ranked[0], new_students=5,
                   school_of_new=ranked[-1])
    return target


def bench_school_missing(size: int, kind: str) -> dict:
    """A first load, then the night one school is missing: how long weighing and holding
    (or, before the per-school guard, removing) that school takes."""
    base, _ = generated(size)
    missing = one_school_missing(base)
    os.environ["AL_ROSTER_BENCH_THRESHOLD"] = "0.1"  # the guards as a district has them
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(kind, Path(tmp))
        first = run_child(url, tmp, base)
        night = run_child(url, tmp, missing)
        if kind != "sqlite":
            drop_database(url.rsplit("/", 1)[1])
    return {"students": size, "database": kind, "first_s": first["seconds"],
            "school_missing_s": night["seconds"], "status": night["status"],
            "message": night["message"][:300]}


def csv_rows(package: Path) -> int:
    total = 0
    for path in package.glob("*.csv"):
        if path.name != "manifest.csv":
            with open(path, "rb") as handle:
                total += sum(1 for _ in handle) - 1
    return total


def _floor_tables(path: Path, header: list[str], indexed: bool, text: str,
                  key: str) -> tuple[str, list[str]]:
    """DDL of one floor table (the file's columns raw) and, if ``indexed``, of the roster
    copy's indexes, built after the load: the cheapest way to end with indexed rows (a sync
    cannot do without them: launches and class imports look rows up by them)."""
    from al_roster.models.roster import LOOKUP_INDEXES
    from al_roster.oneroster.entities import Column
    table = f"floor_{path.stem}"
    cols = ", ".join(f'"c{i}" {text}' for i in range(len(header)))
    at = {Column(name.strip()).attr: f"c{i}" for i, name in enumerate(header)}
    if not indexed or "sourced_id" not in at:  # the manifest has no index to keep
        return f'CREATE TABLE "{table}" ({cols})', []
    indexes = [f'CREATE UNIQUE INDEX "{table}_key" ON "{table}" '
               f'(district_id, "{at["sourced_id"]}")']
    for n, (_, *columns) in enumerate(LOOKUP_INDEXES.get(path.stem, ())):
        names = ", ".join(f'"{at.get(c, c)}"' for c in columns)  # a run's own columns as is
        indexes.append(f'CREATE INDEX "{table}_{n}" ON "{table}" (district_id, {names})')
    return (f'CREATE TABLE "{table}" (id {key}, district_id INTEGER DEFAULT 1, '
            f"last_run_id INTEGER DEFAULT 1, removed_run_id INTEGER, {cols})", indexes)


def floor_sqlite(package: Path, indexed: bool = False) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "floor.db")
        started = time.perf_counter()
        with conn:
            for path in sorted(package.glob("*.csv")):
                with open(path, newline="", encoding="utf-8") as handle:
                    reader = csv.reader(handle)
                    header = next(reader)
                    create, indexes = _floor_tables(path, header, indexed, "",
                                                    "INTEGER PRIMARY KEY")
                    conn.execute(create)
                    cols = ", ".join(f'"c{i}"' for i in range(len(header)))
                    marks = ", ".join("?" * len(header))
                    conn.executemany(f'INSERT INTO "floor_{path.stem}" ({cols}) VALUES ({marks})',
                                     reader)
                    for statement in indexes:
                        conn.execute(statement)
        seconds = time.perf_counter() - started
        conn.close()
    return seconds


def floor_postgres(package: Path, url: str, indexed: bool = False) -> float:
    """COPY into temporary tables for the raw floor; into ordinary (logged, durable) tables,
    indexed afterwards as the roster copy is, for the indexed floor."""
    import psycopg2
    conn = psycopg2.connect(url)
    started = time.perf_counter()
    with conn, conn.cursor() as cur:
        for path in sorted(package.glob("*.csv")):
            with open(path, encoding="utf-8") as handle:
                header = next(csv.reader([handle.readline()]))
                create, indexes = _floor_tables(path, header, indexed, "TEXT",
                                                "BIGSERIAL PRIMARY KEY")
                cur.execute(create if indexed else create.replace("CREATE TABLE",
                                                                  "CREATE TEMP TABLE"))
                cols = ", ".join(f'"c{i}"' for i in range(len(header)))
                cur.copy_expert(f'COPY "floor_{path.stem}" ({cols}) FROM STDIN WITH (FORMAT csv)',
                                handle)
                for statement in indexes:
                    cur.execute(statement)
    seconds = time.perf_counter() - started
    with conn, conn.cursor() as cur:
        for path in package.glob("*.csv"):
            cur.execute(f'DROP TABLE IF EXISTS "floor_{path.stem}"')
    conn.close()
    return seconds


def fresh_database(kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.sqlite3'}"
    return create_database(f"al_roster_bench_{os.getpid()}")


NIGHTS = ("full", "resync", "reread", "quoted", "1pct", "delta")
#: The nights measured (``--nights``); the others are reported as 0 s.
ONLY = set(NIGHTS)
SKIPPED = {"seconds": 0.0, "cpu_s": 0.0, "db_cpu_s": 0.0, "peak_mb": 0.0, "cores": [],
           "status": "applied"}


def bench(size: int, kind: str) -> dict:
    base, delta = generated(size)
    packages = {"full": base, "resync": base, "reread": reworded(base), "quoted": quoted(base),
                "1pct": one_percent(base), "delta": delta}
    rows = csv_rows(base)
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(kind, Path(tmp))
        runs = {night: run_child(url, tmp, packages[night]) if night in ONLY else SKIPPED
                for night in NIGHTS}
        if kind == "sqlite":
            floor, indexed = floor_sqlite(base), floor_sqlite(base, indexed=True)
        else:
            floor, indexed = floor_postgres(base, url), floor_postgres(base, url, indexed=True)
            drop_database(url.rsplit("/", 1)[1])
    full = runs["full"]["seconds"]
    return {"students": size, "database": kind, "rows": rows,
            **{f"{night}_s": runs[night]["seconds"] for night in NIGHTS},
            "rows_per_s": rows / full,
            "peak_mb": max(r["peak_mb"] for r in runs.values()),
            "own_mb": max(r.get("own_mb", 0) for r in runs.values()),
            "reader_mb": max(r.get("reader_mb", 0) for r in runs.values()),
            "sampled_mb": max(r.get("sampled_mb", 0) for r in runs.values()),
            **{f"{night}_{part}_mb": runs[night].get(f"{part}_mb", 0) for night in NIGHTS
               for part in ("sampled", "own", "reader")},
            **{f"{night}_cpu_s": runs[night]["cpu_s"] + runs[night]["db_cpu_s"]
               for night in NIGHTS},
            "full_cores": runs["full"]["cores"],
            "full_db_cpu_s": runs["full"]["db_cpu_s"],
            "reread_cores": runs["reread"]["cores"],
            "floor_s": floor, "vs_floor": full / floor, "indexed_floor_s": indexed,
            "vs_indexed": full / indexed,
            "statuses": [runs[night]["status"] for night in NIGHTS]}


def _line(r: dict) -> str:
    full = r["full_s"]
    cores = "/".join(f"{c}" for c in r["full_cores"])
    line = (f"{r['students']:>9,} {r['database']:<10} {r['rows']:>10,} {full:>7.1f} "
            f"{r['peak_mb']:>7.0f} {r['sampled_mb']:>7.0f} {r['resync_s']:>7.1f} {r['reread_s']:>7.1f} "
            f"{r['quoted_s']:>7.1f} {100 * r['quoted_s'] / full:>5.0f}% "
            f"{r['1pct_s']:>7.1f} {100 * r['1pct_s'] / full:>5.0f}% {r['delta_s']:>7.2f} "
            f"{r['floor_s']:>7.1f} {r['vs_floor']:>6.1f} {r['indexed_floor_s']:>7.1f} "
            f"{r['vs_indexed']:>6.1f} {r['full_cpu_s']:>7.1f} {cores:>9}")
    return line + ("" if r["statuses"] == ["applied"] * len(NIGHTS) else f"  {r['statuses']}")


def main() -> None:
    global TREE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--tree", type=Path, default=TREE,
                        help="measure the sync of this checkout (e.g. the previous release)")
    parser.add_argument("--school-missing", action="store_true",
                        help="time a first load, then a night with one school missing")
    parser.add_argument("--nights", default=",".join(NIGHTS),
                        help="which nights to measure (full is always measured)")
    args = parser.parse_args()
    TREE = args.tree.resolve()
    ONLY.intersection_update({"full", *args.nights.split(",")})
    OUT.mkdir(exist_ok=True)
    if args.school_missing:
        for size in (int(s) for s in args.sizes.split(",")):
            for kind in args.databases.split(","):
                print(json.dumps(bench_school_missing(size, kind)), flush=True)
        return
    print(f"{'students':>9} {'db':<10} {'rows':>10} {'full s':>7} {'peak MB':>7} {'PSS MB':>7} "
          f"{'resync':>7} {'reread':>7} {'quoted':>7} {'/full':>6} {'1%':>7} {'/full':>6} "
          f"{'delta':>7} {'floor':>7} {'x':>6} {'idx fl':>7} {'x':>6} {'CPU s':>7} "
          f"{'busy %':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        for kind in args.databases.split(","):
            r = bench(size, kind)
            print(_line(r), flush=True)
            if args.json:
                print(json.dumps(r))


if __name__ == "__main__":
    main()
