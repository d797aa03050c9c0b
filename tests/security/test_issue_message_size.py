"""A district's file makes the run's record huge: issue messages that quote 131,000-character
values on every row, and a held package (a pull, or a padded zip) copied into storage
whatever its size."""
from __future__ import annotations

import csv
import dataclasses
import io
import zipfile

import pytest
from admin_helpers import holding_whole_runs
from packages import small_district, write_package

from al_roster.models import RunIssue
from al_roster.services.districts import add_district, roster_counts
from al_roster.sync.runner import sync_package

LONG = 131_000
ROWS = 40


@pytest.fixture
def district(app, tmp_path):
    district = add_district("north", "North District")
    first = sync_package(district, write_package(tmp_path / "first", small_district(ROWS)),
                         app.extensions["al_roster"].sync_options)
    assert first.status == "applied", first.message
    return district


def sync(app, district, path, **options):
    settings = dataclasses.replace(app.extensions["al_roster"].sync_options, **options)
    return sync_package(district, path, settings)


def stored_message_chars(run) -> int:
    return sum(len(i.message) + len(i.field or "") for i in RunIssue.select()
               .where(RunIssue.run == run.id)) + len(run.message or "")


@pytest.mark.parametrize("column", ["role", "sourcedId", "enabledUser", "orgSourcedIds"])
def test_long_bad_values_on_every_row_are_quoted_short(app, district, tmp_path, column):
    files = small_district(ROWS)
    for user in files["users"][1:]:
        user[column] = "Q" * LONG
    run = sync(app, district, write_package(tmp_path / "long", files))
    errors = [i for i in run.issues if i.file == "users.csv" and i.severity == "error"]
    assert len(errors) == ROWS, [i.message[:100] for i in run.issues]
    for issue in errors:
        assert issue.field == column
        assert len(issue.message) < 400, issue.message[:200]
        assert "'" + "Q" * 80 + "…' (131,000 characters)" in issue.message, issue.message
    assert stored_message_chars(run) < 40_000  # not ROWS x 131,000


def test_long_header_names_and_manifest_values_are_cut(app, district, tmp_path):
    folder = write_package(tmp_path / "long", small_district(ROWS))
    users = list(csv.reader(io.StringIO((folder / "users.csv").read_text())))
    names = [f"{n}{'H' * LONG}" for n in range(5)]  # five unknown columns, each 131,000 long
    with open(folder / "users.csv", "w", newline="") as out:
        csv.writer(out).writerows([users[0] + names] + [row + [""] * 5 for row in users[1:]])
    with open(folder / "manifest.csv", "a", newline="") as out:
        csv.writer(out).writerows([f"x{'K' * LONG}", "1"] for _ in range(3))
    run = sync(app, district, folder)
    assert run.status == "applied", run.message[:300]
    assert stored_message_chars(run) < 40_000
    warned = [i for i in run.issues if i.field and ("H" * 80 in i.field or "K" * 80 in i.field)]
    assert len(warned) == 5 + 3, [(i.field or "")[:40] for i in run.issues]
    assert all("(131,001 characters)" in i.field for i in warned)


def test_long_version_in_the_manifest_rejects_with_a_short_message(app, district, tmp_path):
    folder = write_package(tmp_path / "long", small_district(ROWS))
    manifest = (folder / "manifest.csv").read_text().replace(
        "oneroster.version,1.1", f"oneroster.version,1.1{'V' * LONG}")
    (folder / "manifest.csv").write_text(manifest)
    run = sync(app, district, folder)
    assert run.status == "rejected"
    assert len(run.message) < 400 and "(131,003 characters)" in run.message, run.message[:200]


def half_dropped(tmp_path, name):
    files = small_district(ROWS)
    files["users"] = files["users"][: ROWS // 2]
    files["enrollments"] = files["enrollments"][: ROWS // 2]
    return write_package(tmp_path / name, files)


def kept_packages(app) -> list:
    folder = app.extensions["al_roster"].sync_options.package_dir
    return sorted(folder.iterdir()) if folder.exists() else []


def test_oversize_pulled_folder_is_refused_not_zipped_into_storage(app, district, tmp_path):
    """A pull that would be held (half the students gone) and is bigger than the package
    limit: before, the whole folder was zipped into storage."""
    pull = half_dropped(tmp_path, "pull")
    (pull / "users-extra-page.csv").write_bytes(b"x" * 300_000)
    run = sync(app, district, pull, max_package_bytes=200_000)
    assert run.status == "rejected", run.message
    assert "more than the 200,000 allowed" in run.message
    assert kept_packages(app) == [] and run.package_path is None
    assert roster_counts(district)["users"] == ROWS + 1


def test_held_pull_keeps_only_its_own_files(app, district, tmp_path):
    """What is kept of a held pull is the package's files, not everything under its folder."""
    holding_whole_runs(district)
    pull = half_dropped(tmp_path, "pull")
    (pull / "cache").mkdir()
    (pull / "cache" / "blob.bin").write_bytes(b"y" * 300_000)
    run = sync(app, district, pull, max_package_bytes=200_000)
    assert run.status == "held", run.message
    with zipfile.ZipFile(run.package_path) as kept:
        names = sorted(kept.namelist())
    assert names == sorted(p.name for p in pull.iterdir() if p.is_file()), names


def test_zip_padded_beyond_the_limit_is_refused_not_copied(app, district, tmp_path):
    """A zip may start with any bytes (self-extracting archives do); padded past the
    package limit it used to be read and, held, copied whole into storage."""
    package = write_package(tmp_path / "src", small_district(ROWS // 2), zip_to=tmp_path / "z")
    padded = tmp_path / "padded.zip"
    padded.write_bytes(b"\0" * 300_000 + package.read_bytes())
    assert zipfile.is_zipfile(padded)
    run = sync(app, district, padded, max_package_bytes=200_000)
    assert run.status == "rejected", run.message
    assert kept_packages(app) == []
    assert roster_counts(district)["users"] == ROWS + 1
