"""Two syncs of one district never run at once; different districts sync independently."""
from __future__ import annotations

import threading

from packages import small_district, write_package

from al_roster.demo.generator import generate_district
from al_roster.errors import SyncBusy
from al_roster.models import SyncRun, database
from al_roster.services.districts import add_district, roster_counts
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
