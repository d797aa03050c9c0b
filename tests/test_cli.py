"""The `al-roster` command line, run as a user runs it: a subprocess with AL_ROSTER_* settings."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SAMPLES
from packages import small_district, write_package

BIN = Path(sys.executable).parent / "al-roster"


@pytest.fixture
def cli_env(db_url, tmp_path):
    env = dict(os.environ, AL_ROSTER_DATABASE_URL=db_url,
               AL_ROSTER_INSTANCE_PATH=str(tmp_path / "instance"),
               AL_ROSTER_STORAGE_DIR=str(tmp_path / "storage"))
    return env


def run_cli(env, *args, check_code: int | None = 0):
    result = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True,
                            timeout=600)
    if check_code is not None:
        assert result.returncode == check_code, result.stdout + result.stderr
    return result


@pytest.mark.samples
def test_cli_contract(cli_env, tmp_path):
    run_cli(cli_env, "db", "upgrade")
    added = run_cli(cli_env, "district", "add", "hub", "--name", "Hub District",
                    "--classlink-tenant-id", "1234", "--plan", "prime", "--rostering")
    assert "District hub created (prime plan, rostering enabled)" in added.stdout

    synced = run_cli(cli_env, "sync", "hub", str(SAMPLES / "roster-hub-1.1-bulk"), "--json")
    report = json.loads(synced.stdout)
    assert report["status"] == "applied" and report["version"] == "1.1"
    assert report["files"]["users"] == "bulk"
    assert report["counts"]["enrollments"]["created"] == 30
    assert set(report["counts"]["users"]) >= {"created", "updated", "deleted", "unchanged"}
    assert report["issues"][0] == {"file": "manifest.csv", "line": 10, "field": "fiel.demographics",
                                   "severity": "warning", "count": 1,
                                   "message": report["issues"][0]["message"]}

    shown = json.loads(run_cli(cli_env, "district", "show", "hub", "--json").stdout)
    assert shown["counts"] == {"orgs": 1, "academicSessions": 4, "courses": 2, "classes": 5,
                               "users": 20, "roles": 0, "enrollments": 30}
    assert shown["classlinkTenantId"] == "1234" and shown["lastRun"]["status"] == "applied"

    human = run_cli(cli_env, "sync", "hub", str(SAMPLES / "roster-hub-1.1-bulk"))
    assert "APPLIED" in human.stdout and "unchanged" in human.stdout

    rejected = run_cli(cli_env, "sync", "hub", str(tmp_path / "missing.zip"), "--json",
                       check_code=2)
    assert json.loads(rejected.stdout)["status"] == "rejected"

    unknown = run_cli(cli_env, "sync", "nowhere", str(SAMPLES / "roster-hub-1.1-bulk"),
                      check_code=1)
    assert "No district 'nowhere'" in unknown.stderr


def test_generate_command(tmp_path, cli_env):
    out = tmp_path / "gen"
    result = run_cli(cli_env, "generate", str(out), "--students", "200", "--seed", "4",
                     "--oneroster-version", "1.2")
    assert "enrollments" in result.stdout
    manifest = (out / "manifest.csv").read_text()
    assert "oneroster.version,1.2" in manifest and "file.roles,bulk" in manifest


def latest_run_status(db_url: str, slug: str) -> str | None:
    """Read straight from the database, fast enough to catch a sync as it starts."""
    query = ("SELECT r.status FROM sync_run r JOIN district d ON d.id = r.district_id "
             "WHERE d.slug = {p} ORDER BY r.id DESC LIMIT 1")
    if db_url.startswith("sqlite"):
        import sqlite3
        with sqlite3.connect(db_url.split(":///", 1)[1], timeout=30) as conn:
            row = conn.execute(query.format(p="?"), (slug,)).fetchone()
    else:
        import psycopg2
        with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
            cur.execute(query.format(p="%s"), (slug,))
            row = cur.fetchone()
        conn.close()
    return row[0] if row else None


def wait_until_running(db_url, slug):
    for _ in range(1000):
        if latest_run_status(db_url, slug) == "running":
            return
        time.sleep(0.01)
    raise AssertionError("the sync never started")


def shown_once_settled(cli_env, slug: str, seconds: float = 15) -> dict:
    """`district show` once its last run is no longer running: a killed sync's PostgreSQL
    backend notices its client is gone within a second or two and frees the district's
    lock; the next look then marks the run failed."""
    deadline = time.monotonic() + seconds
    while True:
        shown = json.loads(run_cli(cli_env, "district", "show", slug, "--json").stdout)
        if shown["lastRun"]["status"] != "running" or time.monotonic() > deadline:
            return shown
        time.sleep(0.2)


@pytest.mark.slow
def test_sigkill_mid_sync_leaves_the_copy_as_before(cli_env, tmp_path, db_url):
    run_cli(cli_env, "db", "upgrade")
    run_cli(cli_env, "district", "add", "big", "--name", "Big District", "--threshold", "1")
    small = write_package(tmp_path / "small", small_district())
    run_cli(cli_env, "sync", "big", str(small))
    before = json.loads(run_cli(cli_env, "district", "show", "big", "--json").stdout)["counts"]

    run_cli(cli_env, "generate", str(tmp_path / "gen"), "--students", "8000")
    run_cli(cli_env, "district", "add", "timing", "--name", "Timing")
    full = json.loads(run_cli(cli_env, "sync", "timing", str(tmp_path / "gen"), "--json")
                      .stdout)["seconds"]
    complete = json.loads(run_cli(cli_env, "district", "show", "timing", "--json").stdout)["counts"]
    killed_mid_transaction = 0
    for fraction in (0.2, 0.45, 0.7):
        process = subprocess.Popen([str(BIN), "sync", "big", str(tmp_path / "gen")], env=cli_env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_running(db_url, "big")
        time.sleep(full * fraction)
        assert process.poll() is None, "the sync finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        shown = shown_once_settled(cli_env, "big")
        if shown["lastRun"]["status"] == "applied":
            # On a busy machine the kill can land after the commit, while the process does
            # what follows it: then the copy is whole, never half. Put it back and go on.
            assert shown["counts"] == complete, f"killed at {fraction:.0%}, after the commit"
            run_cli(cli_env, "run", "undo", str(shown["lastRun"]["run"]))
            continue
        killed_mid_transaction += 1
        assert shown["counts"] == before, f"killed at {fraction:.0%}"
        assert shown["lastRun"]["status"] == "failed"
        assert "stopped before it finished" in shown["lastRun"]["message"]
    assert killed_mid_transaction >= 1
    after = json.loads(run_cli(cli_env, "sync", "big", str(tmp_path / "gen"), "--json",
                               check_code=None).stdout)
    assert after["status"] == "applied" and after["counts"]["users"]["created"] > 8000
