"""A big file is read in a second process while the sync's own loads the database: the
copy, the run's issues, counts and row hashes are exactly those of reading it in one.

Each test syncs the same nights into two districts, one read in the sync's own process,
the other through the reading process (forced here for every file, however small), on
SQLite and PostgreSQL, and compares everything a support engineer or a teacher could see.
"""
from __future__ import annotations

import datetime as dt
import re
import shutil
import time
import zipfile

import pytest
from conftest import SAMPLES
from packages import write_package
from rosters import school

from al_roster.demo.generator import generate_district
from al_roster.models import ROSTER_MODELS, RunIssue, SyncRun
from al_roster.oneroster.reading_process import ReadingStopped
from al_roster.services.districts import add_district, roster_counts
from al_roster.sync import runner, staging
from al_roster.sync.runner import sync_package

TODAY = dt.date.today()


@pytest.fixture
def two_ways(app, monkeypatch):
    """sync(night) -> (run read here, run read beside), into two districts."""
    here = add_district("here", "Read Here", deletion_threshold=1.0)
    beside = add_district("beside", "Read Beside", deletion_threshold=1.0)
    options = app.extensions["al_roster"].sync_options
    started = []
    real = staging.ReadingProcess

    def counted():
        started.append(1)
        return real()
    monkeypatch.setattr(staging, "ReadingProcess", counted)
    monkeypatch.setattr(staging, "_two_cores", lambda: True)

    def sync(package):
        monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 1 << 62)
        first = sync_package(here, package, options)
        assert not started
        monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0)
        second = sync_package(beside, package, options)
        assert started, "the reading process was not used"
        started.clear()
        return first, second

    sync.districts, sync.options = (here, beside), options
    return sync


def _run_ids(text):
    return re.sub(r"\brun \d+", "run N", text or "")


def seen(run: SyncRun) -> dict:
    """What the run says: status, message, counts, every issue."""
    run = SyncRun.get_by_id(run.id)
    counts = dict(run.counts or {})
    for plan in counts.values():
        if isinstance(plan, dict):
            plan.pop("identical_to", None)
    return {"status": run.status, "message": _run_ids(run.message), "counts": counts,
            "errors": run.error_count, "warnings": run.warning_count,
            "issues": [(i.file, i.line, i.field, i.severity, _run_ids(i.message), i.count)
                       for i in RunIssue.select().where(RunIssue.run == run.id)
                       .order_by(RunIssue.id)]}


def copy_of(district) -> dict:
    """Every record of the district's copy, present or removed, with all its values."""
    out = {}
    for name, model in ROSTER_MODELS.items():
        skip = {"id", "district_id", "first_run_id", "last_run_id", "removed_run_id",
                "missing_since_run_id"}
        columns = [f for f in model._meta.sorted_field_names if f not in skip]
        rows = model.select().where(model.district_id == district.id)
        out[name] = sorted((r.removed_run_id is None, *(getattr(r, c) for c in columns))
                           for r in rows)
    return out


def same(sync, package) -> dict:
    here, beside = sync(package)
    assert seen(here) == seen(beside)
    assert copy_of(sync.districts[0]) == copy_of(sync.districts[1])
    return seen(here)


def messy(today: dt.date) -> dict:
    """A night with something for every check: values to trim or fix, bad rows, a record
    spanning lines, duplicates, references to nothing (required and optional, in a list)."""
    files = school(today, students=6)
    users, enrollments = files["users"], files["enrollments"]
    users[3]["givenName"] = "  Spaced  "
    users[4]["enabledUser"] = "TRUE"
    users[5]["familyName"] = 'O"Brien\nSecond line'
    users.append(dict(users[6]))  # a duplicate sourcedId
    users.append(dict(users[7], sourcedId="bad id\x01"))
    users.append(dict(users[7], sourcedId="stu-x", orgSourcedIds="sch-1,sch-nowhere"))
    enrollments.append(dict(enrollments[0], sourcedId="enr-lost", classSourcedId="cls-none"))
    enrollments.append(dict(enrollments[1], sourcedId="enr-nouser", userSourcedId="stu-none"))
    enrollments.append(dict(enrollments[2], sourcedId="enr-date", beginDate="2023-02-29"))
    files["classes"][0]["title"] = "Algebra, with a comma"
    return files


def next_night(folder, files: dict) -> object:
    """The night after ``files``: the first user renamed, an enrollment dropped, every file
    written afresh (other bytes, mostly the same rows); returns the folder."""
    files["users"][0]["givenName"] = "Renamed"
    del files["enrollments"][3]
    write_package(folder, files)
    for path in folder.glob("*.csv"):
        path.write_text(path.read_text().replace("\r\n", "\n") + "\n")
    return folder


def test_messy_nights_read_beside_as_here(two_ways, tmp_path):
    first = same(two_ways, write_package(tmp_path / "one", messy(TODAY)))
    assert first["status"] == "applied" and first["errors"] and first["warnings"]
    night = same(two_ways, next_night(tmp_path / "two", messy(TODAY)))
    assert night["counts"]["users"]["updated"] == 1
    assert night["counts"]["enrollments"]["deleted"] == 1


def test_a_generated_district_and_its_next_nights(two_ways, tmp_path):
    generate_district(tmp_path / "gen", 300, seed=5, zip_path=tmp_path / "gen.zip")
    assert same(two_ways, tmp_path / "gen.zip")["counts"]["enrollments"]["created"] > 1000
    night = tmp_path / "night"
    shutil.copytree(tmp_path / "gen", night)
    enrollments = (night / "enrollments.csv").read_text().splitlines(keepends=True)
    kept = [line for n, line in enumerate(enrollments) if n == 0 or n % 50 != 3]
    (night / "enrollments.csv").write_text("".join(kept))
    users = (night / "users.csv").read_text().replace(",Smith,", ",Smyth,")
    (night / "users.csv").write_text(users)
    counts = same(two_ways, night)["counts"]
    assert counts["enrollments"]["deleted"] == len(enrollments) - len(kept)


def test_a_rejected_file_is_rejected_the_same_way(two_ways, tmp_path):
    files = school(TODAY)
    folder = write_package(tmp_path / "bad", files)
    data = (folder / "enrollments.csv").read_bytes()
    (folder / "enrollments.csv").write_bytes(data + b"enr-z,cls-alg1,\xff\xfe,stu-1\n")
    rejected = same(two_ways, folder)
    assert rejected["status"] == "rejected" and "UTF-8" in rejected["message"]
    header = (folder / "users.csv").read_text().replace("sourcedId", "sourceId", 1)
    (folder / "enrollments.csv").write_bytes(data)
    (folder / "users.csv").write_text(header)
    assert same(two_ways, folder)["status"] == "rejected"


def sample_packages() -> list:
    """The public sample packages with a manifest (the bulk one first)."""
    packages = [SAMPLES / "roster-hub-1.1-bulk"]
    for path in sorted((SAMPLES / "moodle-enrol-oneroster").glob("*.zip")):
        with zipfile.ZipFile(path) as archive:
            if "manifest.csv" in {n.rsplit("/", 1)[-1] for n in archive.namelist()}:
                packages.append(path)
    return packages


@pytest.mark.samples
def test_the_public_samples_read_beside_as_here(two_ways, tmp_path):
    outcomes = [same(two_ways, path)["status"] for path in sample_packages()]
    assert outcomes[0] == "applied" and len(outcomes) > 1


def test_a_sync_whose_load_fails_stops_its_reading_process(app, tmp_path, monkeypatch):
    district = add_district("north", "North", deletion_threshold=1.0)
    generate_district(tmp_path / "gen", 300, seed=3)
    monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(staging, "_two_cores", lambda: True)
    readers = []
    real = staging.ReadingProcess
    monkeypatch.setattr(staging, "ReadingProcess", lambda: readers.append(real()) or readers[-1])

    def failing_load(db, table, columns, prepared):
        for _ in prepared:
            raise RuntimeError("the disk is full")
    monkeypatch.setattr(staging, "load_prepared", failing_load)
    options = app.extensions["al_roster"].sync_options
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="disk is full"):
        sync_package(district, tmp_path / "gen", options)
    assert time.monotonic() - started < 8  # not left waiting for the reader to finish
    assert readers and all(r.process.poll() is not None for r in readers)
    run = SyncRun.get(SyncRun.district == district.id)
    assert run.status == "failed" and roster_counts(district)["users"] == 0


def test_reading_processes_end_while_the_sync_applies_and_none_outlives_it(app, tmp_path,
                                                                          monkeypatch):
    """Told to end once the files are read (not waited for there), they exit while the sync
    plans and applies; by the time the sync returns every one has been waited for."""
    district = add_district("north", "North", deletion_threshold=1.0)
    generate_district(tmp_path / "gen", 300, seed=5)
    monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(staging, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(staging, "_two_cores", lambda: True)
    readers, waited_at_plan = [], []
    real = staging.ReadingProcess
    monkeypatch.setattr(staging, "ReadingProcess", lambda: readers.append(real()) or readers[-1])
    real_plan = runner.plan_changes

    def planning(db, stage):
        waited_at_plan.extend(r.process.returncode for r in readers)
        return real_plan(db, stage)
    monkeypatch.setattr(runner, "plan_changes", planning)
    run = sync_package(district, tmp_path / "gen", app.extensions["al_roster"].sync_options)
    assert run.status == "applied" and len(readers) == 2
    assert waited_at_plan == [None, None]  # told to end, not yet waited for
    assert all(r.process.returncode == 0 for r in readers)  # each ended as told, and reaped


def test_without_a_reading_process_files_are_read_here(two_ways, tmp_path, monkeypatch):
    def cannot_start():
        raise OSError("no interpreter")
    package = write_package(tmp_path / "one", messy(TODAY))
    here, _ = two_ways(package)  # the reference, read here
    monkeypatch.setattr(staging, "ReadingProcess", cannot_start)
    monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0)
    other = add_district("third", "Third", deletion_threshold=1.0)
    run = sync_package(other, package, two_ways.options)
    assert seen(run) == seen(here)
    assert copy_of(other) == copy_of(two_ways.districts[0])


def test_a_reading_process_that_dies_fails_the_run_and_changes_nothing(app, tmp_path,
                                                                      monkeypatch):
    district = add_district("north", "North", deletion_threshold=1.0)
    generate_district(tmp_path / "gen", 300, seed=4)
    monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(staging, "_two_cores", lambda: True)
    real = staging.ReadingProcess

    def killed():
        reader = real()
        reader.process.kill()
        return reader
    monkeypatch.setattr(staging, "ReadingProcess", killed)
    with pytest.raises(ReadingStopped):
        sync_package(district, tmp_path / "gen", app.extensions["al_roster"].sync_options)
    run = SyncRun.get(SyncRun.district == district.id)
    assert run.status == "failed" and roster_counts(district)["users"] == 0
    assert "process reading the package stopped" in run.message
