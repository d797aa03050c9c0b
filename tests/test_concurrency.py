"""Two syncs of one district never run at once; different districts sync independently."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

from packages import small_district, write_package

from al_roster.demo.generator import generate_district
from al_roster.errors import SyncBusy
from al_roster.models import SyncRun, database
from al_roster.services.districts import add_district, roster_counts
from al_roster.sync.lock import LOCK_NAMESPACE, DistrictLock
from al_roster.sync.runner import sync_package


def run_in_threads(app, jobs):
    """Runs (district, path) syncs at the same moment; returns statuses or errors."""
    results: list = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))
    options = app.extensions["al_roster"].sync_options

    def work(index, district, path):
        with app.app_context():
            barrier.wait()
            try:
                results[index] = sync_package(district, path, options).status
            except SyncBusy as exc:
                results[index] = exc
            finally:
                database.obj.close()
    threads = [threading.Thread(target=work, args=(i, d, p)) for i, (d, p) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_second_sync_of_a_district_is_refused_clearly(app, tmp_path):
    district = add_district("north", "North District")
    generate_district(tmp_path / "big", 3000, seed=2)
    results = run_in_threads(app, [(district, tmp_path / "big"), (district, tmp_path / "big")])
    busy = [r for r in results if isinstance(r, SyncBusy)]
    applied = [r for r in results if r == "applied"]
    # Either the second was refused while the first ran, or (rarely) the first had finished.
    assert len(applied) + len(busy) == 2 and applied
    for refusal in busy:
        assert "already running" in refusal.message and "north" in refusal.message
    assert SyncRun.select().where(SyncRun.status == "running").count() == 0
    assert roster_counts(district)["users"] > 3000


def test_different_districts_sync_side_by_side(app, tmp_path):
    north = add_district("north", "North District")
    south = add_district("south", "South District")
    package = write_package(tmp_path / "p", small_district(students=6))
    assert run_in_threads(app, [(north, package), (south, package)]) == ["applied", "applied"]
    assert roster_counts(north)["users"] == roster_counts(south)["users"] == 7


HOLDER = r"""
import sys
from playhouse.db_url import connect
from al_roster.sync.lock import DistrictLock
db = connect(sys.argv[1])
lock = DistrictLock(db, 4242, sys.argv[2])
assert lock.try_acquire()
interval = db.execute_sql("SHOW client_connection_check_interval").fetchone()[0]
print(interval, flush=True)
db.execute_sql("SELECT pg_sleep(300)")  # a long statement, as a sync's big INSERT is
"""


def _lock_free(pg_url: str, district_id: int) -> bool:
    import psycopg2
    conn = psycopg2.connect(pg_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, district_id])
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


def test_a_killed_sync_frees_its_lock_within_seconds_on_postgres(pg_url, tmp_path):
    """The sync's backend stops the statement it is running once its client is gone, so
    the district is not locked until that statement would have ended."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, pg_url, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "1s"
        assert not _lock_free(pg_url, 4242)
        holder.send_signal(signal.SIGKILL)
    finally:
        holder.wait(timeout=30)
        holder.stdout.close()
    deadline = time.monotonic() + 15  # the statement alone would hold it for 300 s
    while not _lock_free(pg_url, 4242):
        assert time.monotonic() < deadline, "the dead client's backend still holds the lock"
        time.sleep(0.1)


def test_the_lock_gives_the_dead_client_check_back_when_released(pg_url, tmp_path):
    from playhouse.db_url import connect
    db = connect(pg_url)
    lock = DistrictLock(db, 4243, tmp_path)
    assert lock.try_acquire()
    assert db.execute_sql("SHOW client_connection_check_interval").fetchone()[0] == "1s"
    lock.release()
    assert db.execute_sql("SHOW client_connection_check_interval").fetchone()[0] == "0"
    db.close()
