"""How the nightly sync fans out across RQ workers, on PostgreSQL and Redis.

Several districts, each with a CSV drop holding a generated package. For 1 and then 2
workers: a fresh database, ``sync_all_districts()`` queues one job per district, then that
many real ``rq worker --burst`` processes drain the queue. Reported: wall time until the
queue is empty, the sum of the job times, and the speed-up of two workers over one.

    python benchmarks/jobs_fanout.py                       # 6 districts of 10,000 students
    python benchmarks/jobs_fanout.py --districts 8 --students 20000
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sync import create_postgres_database  # benchmarks/sync.py, beside this script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REDIS_URL = os.environ.get("AL_ROSTER_BENCH_REDIS", "redis://127.0.0.1:6379/11")


def package(students: int) -> Path:
    from al_roster.demo.generator import generate_district
    target = HERE / "out" / f"fanout-{students}.zip"
    if not target.exists():
        with tempfile.TemporaryDirectory() as tmp:
            generate_district(Path(tmp) / "p", students, seed=5, zip_path=target)
    return target


def prepare(env: dict, districts: int, students: int, work: Path) -> None:
    """Districts with their drops, and the night's jobs queued."""
    sys.path.insert(0, str(ROOT))
    from al_roster import jobs, schema
    from al_roster.services.districts import add_district
    from al_roster.services.sources import set_csv_drop
    from plugin import create_app

    app = create_app({key: value for key, value in env.items() if key.startswith("AL_ROSTER_")})
    with app.app_context():
        schema.upgrade(app.extensions["al_roster"].db)
        for number in range(districts):
            district = add_district(f"d{number}", f"District {number}", plan="prime",
                                    rostering=True)
            drop = work / f"drop-{number}"
            drop.mkdir()
            shutil.copy(package(students), drop / "export.zip")
            os.utime(drop / "export.zip", (time.time() - 120, time.time() - 120))
            set_csv_drop(district, drop, settle_seconds=0)
        queued = jobs.sync_all_districts()["queued"]
        app.extensions["al_roster"].db.close()
    assert len(queued) == districts, queued


def drain(env: dict, workers: int) -> float:
    started = time.perf_counter()
    processes = [subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", env["AL_ROSTER_REDIS_URL"],
         "--name", f"bench-{uuid.uuid4().hex[:8]}", env["AL_ROSTER_QUEUE"]],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)]
    for process in processes:
        process.wait()
    return time.perf_counter() - started


def job_seconds(db_url: str) -> tuple[int, float]:
    import psycopg2
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*), SUM(EXTRACT(EPOCH FROM finished_at - started_at)) "
                    "FROM sync_run WHERE status = 'applied'")
        applied, seconds = cur.fetchone()
    conn.close()
    return applied, float(seconds or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=int, default=6)
    parser.add_argument("--students", type=int, default=10_000)
    args = parser.parse_args()
    (HERE / "out").mkdir(exist_ok=True)
    results = {}
    print(f"{args.districts} districts of {args.students:,} students")
    print(f"{'workers':>8} {'wall s':>8} {'jobs':>5} {'sum of job s':>13}")
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            queue = f"bench-{uuid.uuid4().hex[:8]}"
            database_url = create_postgres_database(f"al_roster_fanout_{os.getpid()}")
            env = dict(os.environ, AL_ROSTER_DATABASE_URL=database_url,
                       AL_ROSTER_REDIS_URL=REDIS_URL, AL_ROSTER_QUEUE=queue,
                       AL_ROSTER_STORAGE_DIR=str(Path(tmp) / "storage"),
                       AL_ROSTER_APP="plugin:create_app", PYTHONPATH=str(ROOT))
            prepare(env, args.districts, args.students, Path(tmp))
            wall = drain(env, workers)
            applied, summed = job_seconds(env["AL_ROSTER_DATABASE_URL"])
            results[workers] = wall
            print(f"{workers:>8} {wall:>8.1f} {applied:>5} {summed:>13.1f}", flush=True)
    print(f"two workers: {results[1] / results[2]:.2f}x the throughput of one")


if __name__ == "__main__":
    main()
