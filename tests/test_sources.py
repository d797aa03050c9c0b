"""District sources: the CSV drop (settling, partial files, processed once, bad zips) and
the source settings, on PostgreSQL, synced inline."""
from __future__ import annotations

import os
import time

import pytest
from packages import small_district, write_package

from al_roster import jobs
from al_roster.errors import RosterError
from al_roster.models import District, SyncRun
from al_roster.services import sources
from al_roster.services.districts import add_district, roster_counts


def age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def drop(pg_app, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    district = add_district("north", "North District", plan="prime", rostering=True)
    sources.set_csv_drop(district, folder)
    return district, folder


def zip_of(tmp_path, folder, name, students=4):
    return write_package(tmp_path / f"src-{name}", small_district(students), zip_to=folder / name)


def test_drop_syncs_newest_complete_zip_and_never_takes_it_twice(drop, tmp_path):
    district, folder = drop
    older = zip_of(tmp_path, folder, "monday.zip", students=3)
    newer = zip_of(tmp_path, folder, "tuesday.zip", students=5)
    age(older, 7200)
    age(newer, 3600)
    result = jobs.run_district_sync(district.id)
    assert result["status"] == "applied"
    assert roster_counts(district)["users"] == 6  # tuesday's teacher + 5 students
    run = SyncRun.get_by_id(result["run"])
    assert run.source == "csv_drop" and run.source_name == "tuesday.zip"
    processed = sorted(p.name for p in (folder / "processed").iterdir())
    assert processed == [f"{run.id}-tuesday.zip", f"superseded-by-{run.id}-monday.zip"]
    assert [p.name for p in folder.iterdir() if p.is_file()] == []
    again = jobs.run_district_sync(district.id)
    assert again["status"] == "nothing new"
    assert SyncRun.select().count() == 1


def test_drop_ignores_files_still_being_written(drop, tmp_path):
    district, folder = drop
    partial = folder / "wednesday.zip.part"
    partial.write_bytes(b"PK\x03\x04 half an upload")
    age(partial, 7200)
    growing = zip_of(tmp_path, folder, "thursday.zip")  # written just now
    truncated = folder / "friday.zip"
    truncated.write_bytes(b"PK\x03\x04 upload stalled")
    age(truncated, 120)  # settled, but not a zip: maybe the upload resumes
    assert jobs.run_district_sync(district.id)["status"] == "nothing new"
    assert SyncRun.select().count() == 0
    assert partial.exists() and growing.exists() and truncated.exists()
    age(growing, 120)
    result = jobs.run_district_sync(district.id)
    assert result["status"] == "applied"
    assert SyncRun.get_by_id(result["run"]).source_name == "thursday.zip"


def test_bad_zip_is_synced_rejected_and_reported(drop, tmp_path):
    district, folder = drop
    bad = folder / "broken.zip"
    bad.write_bytes(b"this is not a zip file at all")
    age(bad, 3600)
    result = jobs.run_district_sync(district.id)
    assert result["status"] == "rejected"
    run = SyncRun.get_by_id(result["run"])
    assert run.source_name == "broken.zip" and run.message
    assert roster_counts(district)["users"] == 0
    assert (folder / "processed" / f"{run.id}-broken.zip").exists()
    assert jobs.run_district_sync(district.id)["status"] == "nothing new"


def test_missing_drop_folder_is_a_failed_run(drop):
    district, folder = drop
    folder.rmdir()
    result = jobs.run_district_sync(district.id)
    assert result["status"] == "failed"
    assert "does not exist" in SyncRun.get_by_id(result["run"]).message


def test_api_settings_keep_the_variable_name_never_the_secret(pg_app, monkeypatch):
    district = add_district("south", "South District", plan="prime", rostering=True)
    with pytest.raises(RosterError, match="NAME of the environment variable"):
        sources.set_oneroster_api(district, "https://or.example.org", "1.1", "cid",
                                  "s3cr3t-value!")
    sources.set_oneroster_api(district, "https://or.example.org", "1.2", "cid",
                              "AL_ROSTER_SOURCE_SOUTH_SECRET")
    stored = District.get_by_id(district.id)
    assert stored.source_kind == "oneroster_api"
    assert stored.source_config["client_secret_env"] == "AL_ROSTER_SOURCE_SOUTH_SECRET"
    assert sources.describe_source(stored)["secretSet"] is False
    monkeypatch.setenv("AL_ROSTER_SOURCE_SOUTH_SECRET", "the-real-secret")
    assert sources.describe_source(stored)["secretSet"] is True
    assert "the-real-secret" not in str(sources.describe_source(stored))


def test_cli_sets_sources_and_syncs_inline_without_redis(drop, pg_app, tmp_path):
    _, folder = drop
    runner = pg_app.test_cli_runner()
    out = runner.invoke(args=["al-roster", "district", "source", "north", "--oneroster-api",
                              "https://or.example.org", "--oneroster-version", "1.1",
                              "--client-id", "abc", "--client-secret-env",
                              "AL_ROSTER_SOURCE_NORTH_SECRET"])
    assert out.exit_code == 0, out.output
    assert "secret from $AL_ROSTER_SOURCE_NORTH_SECRET (NOT set" in out.output
    out = runner.invoke(args=["al-roster", "district", "source", "north", "--csv-drop",
                              str(folder)])
    assert out.exit_code == 0 and "CSV drop at" in out.output
    age(zip_of(tmp_path, folder, "night.zip"), 600)
    out = runner.invoke(args=["al-roster", "sync-now", "north"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("north: applied (run ")
    out = runner.invoke(args=["al-roster", "nightly"])
    assert out.exit_code == 0 and "north: nothing new" in out.output
