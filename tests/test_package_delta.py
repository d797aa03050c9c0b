"""``al-roster generate --delta-from``: a OneRoster delta package of what changed between an
old bulk package and a new one. Applied after the old bulk, it leaves the roster copy the new
bulk leaves, on SQLite and PostgreSQL, for both versions."""
from __future__ import annotations

import csv
import datetime
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from al_roster.cli import cli
from al_roster.demo.generator import generate_district
from al_roster.demo.night_variants import next_night
from al_roster.demo.package_delta import DeltaRefused, write_package_delta
from al_roster.models import ROSTER_MODELS, present
from al_roster.services.districts import add_district
from al_roster.sync.runner import sync_package

TODAY = datetime.date(2026, 11, 20)
DROPPED = {"stu-0000001", "stu-0000002", "stu-0000003"}
RENAMED = "stu-0000010"


def rows_of(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def manifest_of(folder: Path) -> dict[str, str]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as f:
        return dict(csv.reader(f))


def rewrite(path: Path, keep, change=lambda row: row) -> None:
    header, rows = rows_of(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(change(dict(row)) for row in rows if keep(row))


def next_export(old: Path, new: Path) -> None:
    """The old package a night later: five students arrived, three left, one renamed."""
    next_night(old, new, new_students=5, school_of_new="org-0001")

    def renamed(row):
        if row["sourcedId"] == RENAMED:
            row["familyName"], row["email"] = "Okafor-Smith", "renamed@students.example.org"
        return row
    rewrite(new / "users.csv", lambda row: row["sourcedId"] not in DROPPED, renamed)
    rewrite(new / "enrollments.csv", lambda row: row["userSourcedId"] not in DROPPED)
    if (new / "roles.csv").exists():
        rewrite(new / "roles.csv", lambda row: row["userSourcedId"] not in DROPPED)


def copy_of(district) -> dict[str, dict[str, int]]:
    return {name: {r.sourced_id: r.row_hash for r in present(model, district.id)}
            for name, model in ROSTER_MODELS.items()}


def sync(app, district, package):
    run = sync_package(district, package, app.extensions["al_roster"].sync_options)
    assert run.status == "applied", run.message
    return run


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_old_bulk_then_delta_is_the_new_bulk(app, tmp_path, version):
    old, new, delta = tmp_path / "old", tmp_path / "new", tmp_path / "delta"
    generate_district(old, 700, seed=1, version=version, today=TODAY)
    next_export(old, new)
    counts = write_package_delta(old, new, delta, today=TODAY)

    manifest = manifest_of(delta)
    assert {k[5:] for k, v in manifest.items() if v == "delta"} == set(counts) - {"total"}
    assert {"users", "enrollments"} <= set(counts) and "classes" not in counts
    _, users = rows_of(delta / "users.csv")
    assert {row["sourcedId"]: row["status"] for row in users} == {
        **dict.fromkeys(DROPPED, "tobedeleted"), RENAMED: "active",
        **{f"new-org-0001-{i}": "active" for i in range(1, 6)}}
    assert all(re.match(r"^2026-11-20T\d\d:\d\d:\d\d\.\d{3}Z$", row["dateLastModified"])
               for row in users)

    stepwise = add_district("stepwise", "Stepwise", deletion_threshold=1.0)
    sync(app, stepwise, old)
    run = sync(app, stepwise, delta)
    assert not [i.message for i in run.issues if i.severity == "error"]
    whole = add_district("whole", "Whole", deletion_threshold=1.0)
    sync(app, whole, new)
    assert copy_of(stepwise) == copy_of(whole)


def test_no_change_is_a_manifest_alone(tmp_path):
    generate_district(tmp_path / "old", 50, seed=4, today=TODAY)
    counts = write_package_delta(tmp_path / "old", tmp_path / "old", tmp_path / "delta",
                                 today=TODAY)
    assert counts == {"total": 0}
    assert sorted(p.name for p in (tmp_path / "delta").iterdir()) == ["manifest.csv"]


def test_versions_and_deltas_are_refused(tmp_path):
    generate_district(tmp_path / "v11", 50, seed=4, today=TODAY)
    generate_district(tmp_path / "v12", 50, seed=4, version="1.2", today=TODAY)
    with pytest.raises(DeltaRefused, match="1.1 and the new one 1.2"):
        write_package_delta(tmp_path / "v11", tmp_path / "v12", tmp_path / "out")
    next_export(tmp_path / "v11", tmp_path / "next")
    write_package_delta(tmp_path / "v11", tmp_path / "next", tmp_path / "delta")
    with pytest.raises(DeltaRefused, match="is a delta"):
        write_package_delta(tmp_path / "delta", tmp_path / "v11", tmp_path / "out")


def test_the_command_writes_the_delta_against_an_older_district(tmp_path):
    runner = CliRunner()
    old = tmp_path / "old"
    assert runner.invoke(cli, ["generate", str(old), "--students", "700"]).exit_code == 0
    result = runner.invoke(cli, ["generate", str(tmp_path / "delta"), "--students", "720",
                                 "--delta-from", str(old), "--zip", str(tmp_path / "d.zip")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote delta {tmp_path / 'delta'}: users ")
    manifest = manifest_of(tmp_path / "delta")
    assert manifest["file.users"] == manifest["file.enrollments"] == "delta"
    assert (tmp_path / "d.zip").stat().st_size > 0
    refused = runner.invoke(cli, ["generate", str(tmp_path / "x"), "--students", "10",
                                  "--oneroster-version", "1.2", "--delta-from", str(old)])
    assert refused.exit_code == 1 and "OneRoster 1.1 and the new one 1.2" in refused.output
