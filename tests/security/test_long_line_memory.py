"""A district's zip inflates to one enormous line, or one record that never ends, to make
the worker that reads it run out of memory.

Each sync runs in a child process whose peak RSS (``ru_maxrss`` from ``wait4``) is
measured, so this test process's own memory does not count; the child's address space is
capped, so a reader that does hold the line fails fast instead of taking the machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packages import small_district, write_package

ROOT = Path(__file__).resolve().parents[2]
GB = 1000**3
PEAK_LIMIT_MB = 200
ADDRESS_SPACE = 3 * 1024**3  # the child may map this much; a 2 GB line alone needs more

CHILD = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[4]), int(sys.argv[4])))
from plugin import create_app
from al_roster import schema
from al_roster.models import District
from al_roster.services.districts import roster_counts
from al_roster.sync.runner import sync_package
app = create_app({"TESTING": True, "AL_ROSTER_DATABASE_URL": sys.argv[1],
                  "AL_ROSTER_STORAGE_DIR": sys.argv[2]})
with app.app_context():
    schema.upgrade(app.extensions["al_roster"].db)
    district = District.get(District.slug == "north")
    try:
        run = sync_package(district, sys.argv[3], app.extensions["al_roster"].sync_options)
        out = {"status": run.status, "message": run.message,
               "issues": [(i.file, i.line) for i in run.issues]}
    except BaseException as exc:
        out = {"status": "crashed", "message": f"{type(exc).__name__}: {exc}"[:500]}
    out["users"] = roster_counts(district)["users"]
print(json.dumps(out))
"""


@pytest.fixture
def loaded(sqlite_app, tmp_path):
    """North, synced once: four students and a teacher. The database is a file the child
    process opens too."""
    from al_roster.services.districts import add_district
    from al_roster.sync.runner import sync_package
    district = add_district("north", "North District")
    run = sync_package(district, write_package(tmp_path / "good", small_district()),
                       sqlite_app.extensions["al_roster"].sync_options)
    assert run.status == "applied"
    from al_roster.models import database
    database.obj.close()
    return sqlite_app


def _peak_of_child(args, tmp_path) -> tuple[dict, float]:
    """Runs the child and reaps it with ``wait4``, which gives its own peak RSS."""
    with open(tmp_path / "child.err", "w+b") as errors:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, cwd=ROOT)
        output = process.stdout.read()
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        lines = output.decode().strip().splitlines()
        result = json.loads(lines[-1]) if lines else {
            "status": "no output", "message": errors.read().decode()[-2000:]}
    return result, usage.ru_maxrss / 1024


def attack_zip(tmp_path: Path, header: str, first: bytes, chunk: bytes, total: int) -> Path:
    """A package whose users.csv is ``header``, then ``first`` and ``chunk`` repeated up to
    ``total`` bytes, written streaming (never held in memory)."""
    source = write_package(tmp_path / "attack-src", small_district())
    path = tmp_path / "attack.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for member in source.iterdir():
            if member.name != "users.csv":
                archive.write(member, member.name)
        with archive.open("users.csv", "w", force_zip64=True) as out:
            out.write(header.encode() + b"\n" + first)
            written = len(first)
            block = chunk * (1024 * 1024 // len(chunk))
            while written < total:
                out.write(block)
                written += len(block)
    return path


def refused_cheaply(loaded, tmp_path, package: Path, words: str) -> dict:
    args = [sys.executable, "-c", CHILD, loaded.config["AL_ROSTER_DATABASE_URL"],
            str(tmp_path / "storage"), str(package), str(ADDRESS_SPACE)]
    result, peak_mb = _peak_of_child(args, tmp_path)
    print(f"{package.name}: {package.stat().st_size / 1e6:.1f} MB zip, peak RSS "
          f"{peak_mb:.0f} MB: {result}")
    assert result["status"] == "rejected", result
    assert "users.csv" in result["message"] and words in result["message"], result
    assert ("users.csv", 2) in [tuple(i) for i in result["issues"]], result
    assert result["users"] == 5  # the copy is as it was
    assert peak_mb < PEAK_LIMIT_MB, peak_mb
    return result


USERS_HEADER = ",".join(["sourcedId", "status", "dateLastModified", "enabledUser",
                         "orgSourcedIds", "role", "username", "userIds", "givenName",
                         "familyName", "middleName", "identifier", "email", "sms", "phone",
                         "agentSourcedIds", "grades", "password"])


def test_one_line_of_two_gigabytes_is_refused_with_bounded_memory(loaded, tmp_path):
    package = attack_zip(tmp_path, USERS_HEADER, b"stu-1,,,true,sch-1,student,", b"A" * 64,
                         2 * GB)
    assert package.stat().st_size < 20 * 1000**2  # a 20 MB zip at most
    result = refused_cheaply(loaded, tmp_path, package, "line 2 is longer than")
    assert "1,048,576 bytes" in result["message"]


def test_a_record_that_never_ends_is_refused_with_bounded_memory(loaded, tmp_path):
    """An opened quote never closed: every line after it joins one record, each line a new
    short field, so no single field reaches the csv module's field limit."""
    package = attack_zip(tmp_path, USERS_HEADER, b'stu-1,,,true,sch-1,student,stu1,,"x\n',
                         b'","x\n', 1 * GB)
    result = refused_cheaply(loaded, tmp_path, package, "record starting on line 2")
    assert "1,048,576 characters" in result["message"]


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS semantics")
def test_child_harness_measures_its_own_peak(loaded, tmp_path):
    """The measurement itself: a normal package syncs in the child well under the limit."""
    package = write_package(tmp_path / "normal", small_district(6), zip_to=tmp_path / "n.zip")
    args = [sys.executable, "-c", CHILD, loaded.config["AL_ROSTER_DATABASE_URL"],
            str(tmp_path / "storage"), str(package), str(ADDRESS_SPACE)]
    result, peak_mb = _peak_of_child(args, tmp_path)
    assert result["status"] in ("applied", "held"), result
    assert 20 < peak_mb < PEAK_LIMIT_MB
