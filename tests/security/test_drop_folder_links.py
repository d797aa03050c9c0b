"""A district's drop folder tries to make the nightly sync import another district's files.

North is the victim: its zips are synced from its own drop folder and kept, under names
anyone can guess, in ``processed/``. South is the attacker: it writes its own drop folder
(over SFTP, links included) and wants North's roster in its copy, or its roster in North's.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from admin_helpers import holding_whole_runs
from packages import small_district, write_package

from al_roster import jobs
from al_roster.models import RunIssue, SyncRun
from al_roster.services import sources
from al_roster.services.districts import add_district, roster_counts

NORTH_STUDENTS, SOUTH_STUDENTS = 9, 2


def age(path, seconds: float = 3600) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def zip_in(tmp_path, folder, name, students, school):
    path = write_package(tmp_path / f"src-{school}-{name}", small_district(students, school=school),
                         zip_to=folder / name)
    age(path)
    return path


@pytest.fixture
def world(sqlite_app, tmp_path):
    north = add_district("north", "North District", plan="prime", rostering=True)
    south = add_district("south", "South District", plan="prime", rostering=True)
    north_drop, south_drop = tmp_path / "north-drop", tmp_path / "south-drop"
    north_drop.mkdir()
    south_drop.mkdir()
    sources.set_csv_drop(north, north_drop)
    sources.set_csv_drop(south, south_drop)
    zip_in(tmp_path, north_drop, "north.zip", NORTH_STUDENTS, "sch-n")
    zip_in(tmp_path, south_drop, "south.zip", SOUTH_STUDENTS, "sch-s")
    for district in (north, south):
        assert jobs.run_district_sync(district.id)["status"] == "applied"
    victim = next((north_drop / "processed").iterdir())  # e.g. processed/1-north.zip
    return dict(north=north, south=south, north_drop=north_drop, south_drop=south_drop,
                victim=victim, victim_bytes=victim.read_bytes(),
                counts={"north": roster_counts(north), "south": roster_counts(south)})


def unchanged(w) -> None:
    """Neither copy changed and North's kept zip is where it was, as it was."""
    assert roster_counts(w["north"]) == w["counts"]["north"]
    assert roster_counts(w["south"]) == w["counts"]["south"]
    assert w["victim"].read_bytes() == w["victim_bytes"]


def warned_about(run_id: int, name: str) -> list[RunIssue]:
    return [i for i in RunIssue.select().where(RunIssue.run == run_id)
            if i.severity == "warning" and name in (i.message + (i.file or ""))]


def next_run_warns(w, tmp_path, name: str) -> None:
    """South's next real file is synced, and that run says the link was refused."""
    zip_in(tmp_path, w["south_drop"], "tomorrow.zip", SOUTH_STUDENTS + 1, "sch-s")
    result = jobs.run_district_sync(w["south"].id)
    assert result["status"] == "applied", result
    assert roster_counts(w["south"])["users"] == SOUTH_STUDENTS + 2
    assert warned_about(result["run"], name), list(RunIssue.select().dicts())
    assert roster_counts(w["north"]) == w["counts"]["north"]


def test_symlink_to_another_districts_processed_zip_is_not_imported(world, tmp_path):
    link = world["south_drop"] / "tonight.zip"
    link.symlink_to(world["victim"])
    age(link)
    result = jobs.run_district_sync(world["south"].id)
    assert result["status"] == "nothing new", result
    assert "tonight.zip" in result["message"]
    unchanged(world)
    assert link.is_symlink()  # left where the district put it
    next_run_warns(world, tmp_path, "tonight.zip")


def test_hard_link_to_another_districts_zip_is_not_imported(world, tmp_path):
    link = world["south_drop"] / "tonight.zip"
    os.link(world["victim"], link)
    result = jobs.run_district_sync(world["south"].id)
    assert result["status"] == "nothing new", result
    unchanged(world)
    next_run_warns(world, tmp_path, "tonight.zip")


def test_zip_swapped_for_a_link_after_it_was_listed_is_not_followed(world, tmp_path,
                                                                     monkeypatch):
    """The file is a plain zip when the folder is listed, a link when it is opened."""
    decoy = zip_in(tmp_path, world["south_drop"], "tonight.zip", SOUTH_STUDENTS, "sch-s")
    listed = sources.drop_candidates

    def list_then_swap(district, **kw):
        found = listed(district, **kw)
        if district.id == world["south"].id and decoy.exists() and not decoy.is_symlink():
            decoy.unlink()
            decoy.symlink_to(world["victim"])
        return found

    monkeypatch.setattr(sources, "drop_candidates", list_then_swap)
    result = jobs.run_district_sync(world["south"].id)
    assert result["status"] == "nothing new", result
    unchanged(world)


def test_zip_swapped_for_a_link_after_it_was_opened_is_read_as_opened(world, tmp_path,
                                                                      monkeypatch):
    """Once the file is open, renaming a link over its name changes nothing: the sync reads
    (and a held run would keep) the file that was checked, never the name again."""
    zip_in(tmp_path, world["south_drop"], "tonight.zip", SOUTH_STUDENTS + 3, "sch-s")
    fetch = sources.fetch_package

    def fetch_then_swap(district, *args, **kw):
        fetched = fetch(district, *args, **kw)
        if fetched is not None and district.id == world["south"].id:
            swapped = fetched.path.with_name(".swap")
            swapped.symlink_to(world["victim"])
            swapped.replace(fetched.path)
        return fetched

    monkeypatch.setattr(sources, "fetch_package", fetch_then_swap)
    result = jobs.run_district_sync(world["south"].id)
    assert result["status"] == "applied", result
    assert roster_counts(world["south"])["users"] == SOUTH_STUDENTS + 4  # its own file
    assert roster_counts(world["north"]) == world["counts"]["north"]
    assert world["victim"].read_bytes() == world["victim_bytes"]


def test_processed_folder_linked_into_another_districts_drop_moves_nothing_there(world,
                                                                                tmp_path):
    """South's ``processed`` is a link to North's drop: moving South's synced zip "into"
    it would drop South's roster into North's next sync."""
    processed = world["south_drop"] / "processed"
    for kept in processed.iterdir():
        kept.unlink()
    processed.rmdir()
    processed.symlink_to(world["north_drop"], target_is_directory=True)
    before = sorted(p.name for p in world["north_drop"].iterdir())
    zip_in(tmp_path, world["south_drop"], "tonight.zip", SOUTH_STUDENTS + 1, "sch-s")
    result = jobs.run_district_sync(world["south"].id)
    assert result["status"] == "applied", result
    assert sorted(p.name for p in world["north_drop"].iterdir()) == before
    real = [p for p in world["south_drop"].iterdir() if p.is_dir() and not p.is_symlink()]
    assert [p.name for p in real] == ["processed"]
    assert any(p.name.endswith("-tonight.zip") for p in real[0].iterdir())
    assert jobs.run_district_sync(world["north"].id)["status"] == "nothing new"
    assert roster_counts(world["north"]) == world["counts"]["north"]


def test_fifo_directory_and_dangling_link_named_zip_are_skipped_and_reported(world,
                                                                            tmp_path):
    """Nothing but a regular file is opened: a FIFO would block the worker on open."""
    drop = world["south_drop"]
    os.mkfifo(drop / "pipe.zip")
    (drop / "folder.zip").mkdir()
    (drop / "gone.zip").symlink_to(tmp_path / "nowhere.zip")
    for name in ("pipe.zip", "folder.zip", "gone.zip"):
        age(drop / name)
    assert jobs.run_district_sync(world["south"].id)["status"] == "nothing new"
    unchanged(world)
    zip_in(tmp_path, drop, "tomorrow.zip", SOUTH_STUDENTS, "sch-s")
    result = jobs.run_district_sync(world["south"].id)
    assert result["status"] == "applied", result
    for name in ("pipe.zip", "folder.zip", "gone.zip"):
        assert warned_about(result["run"], name), name
    assert SyncRun.select().where(SyncRun.district == world["south"]).count() == 2


def test_file_name_that_is_not_utf8_is_skipped_and_reported(world, tmp_path):
    """A name the database cannot store (bytes that are not UTF-8) must not break the run
    records: the file is skipped and the warning shows the name escaped."""
    source = zip_in(tmp_path, tmp_path, "bad-name.zip", SOUTH_STUDENTS + 5, "sch-s")
    odd = os.path.join(os.fsencode(world["south_drop"]), b"night-\xff.zip")
    os.rename(source, odd)
    age(odd)
    result = jobs.run_district_sync(world["south"].id)
    assert result["status"] == "nothing new", result
    unchanged(world)
    next_run_warns(world, tmp_path, "night-\\udcff.zip")


def test_held_drop_file_is_kept_as_opened_not_as_renamed(world, tmp_path, monkeypatch):
    """A file that will be held for review (it drops South's students) is swapped for a link
    to North's zip once opened: the copy kept for approval is still South's own file."""
    holding_whole_runs(world["south"])
    tonight = zip_in(tmp_path, world["south_drop"], "tonight.zip", 0, "sch-s")
    original = tonight.read_bytes()
    fetch = sources.fetch_package

    def fetch_then_swap(district, *args, **kw):
        fetched = fetch(district, *args, **kw)
        if fetched is not None and district.id == world["south"].id:
            swapped = fetched.path.with_name(".swap")
            swapped.symlink_to(world["victim"])
            swapped.replace(fetched.path)
        return fetched

    monkeypatch.setattr(sources, "fetch_package", fetch_then_swap)
    result = jobs.run_district_sync(world["south"].id)
    assert result["status"] == "held", result
    kept = SyncRun.get_by_id(result["run"]).package_path
    assert Path(kept).read_bytes() == original
    unchanged(world)
