"""Deleting a district completely, as its data privacy agreement asks: after the purge no row
of any table refers to it, its files are gone, and every other district is exactly as it was.

Each district here has what a year of service leaves: nightly runs (one held, its package
kept), a CSV drop with processed files, a pull's timings, accounts with events, an imported
class with its members, LTI deployments (one registration its own, one shared)."""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest
from admin_helpers import CSRF, account, half_dropped, holding_whole_runs, sign_in, sync, two_districts
from conftest import partition_tables
from packages import small_district, write_package

from al_roster import jobs
from al_roster.cli import cli
from al_roster.demo.generator import generate_district
from al_roster.errors import SyncBusy
from al_roster.models import (
    ROSTER_MODELS,
    Account,
    AccountEvent,
    District,
    LtiRegistration,
    PrivacyAudit,
    RosterUser,
    SyncRun,
    database,
    is_postgres,
)
from al_roster.services import lti, nonces, sources
from al_roster.services.class_import import import_classes
from al_roster.services.districts import add_district
from al_roster.services.purge import PurgeRefused, purge_district
from al_roster.sync.lock import DistrictLock
from al_roster.sync.runner import sync_package

ROSTER_TABLES = {m._meta.table_name for m in ROSTER_MODELS.values()}

RUN_COLUMNS = {"run_id", "first_run_id", "last_run_id", "removed_run_id", "added_run_id",
               "archived_run_id"}
LTI_URLS = dict(auth_login_url="https://lms.example/login", auth_token_url="https://lms.example/token",
                key_set_url="https://lms.example/jwks")


def storage(app) -> Path:
    return app.extensions["al_roster"].sync_options.storage_dir


def a_year_of(app, district, tmp_path, files) -> None:
    """What service leaves behind for ``district`` besides its first sync."""
    drop = tmp_path / f"{district.slug}-drop"
    drop.mkdir()
    sources.set_csv_drop(district, drop)
    zipped = write_package(tmp_path / f"{district.slug}-night", files,
                           zip_to=drop / f"{district.slug}-night.zip")
    os.utime(zipped, (time.time() - 600, time.time() - 600))
    assert jobs.run_district_sync(district.id)["status"] == "applied"
    (drop / "tonight.zip.part").write_bytes(b"half an upload")  # still arriving
    dropped, _ = half_dropped(files)
    holding_whole_runs(district)  # a whole held run keeps its package: one more file to go
    assert sync(district, tmp_path, dropped, f"{district.slug}-held").status == "held"
    teacher = account(district, "teacher", "tch-1")
    student = account(district, "student", "stu-1", classlink_user_id=f"cl-{district.slug}")
    AccountEvent.create(account=student, kind="relinked", detail="stu-old -> stu-1")
    import_classes(teacher, ["cls-1"])
    pulls = storage(app) / "pulls"
    (pulls / f"{district.id}-0123abcd").mkdir(parents=True)
    (pulls / f"{district.id}-0123abcd" / "users.csv").write_text("sourcedId\nstu-1\n")
    (pulls / f"{district.id}.seconds.json").write_text('{"full": 12.5}')
    lti.register_platform(district, issuer=f"https://{district.slug}.lms.example",
                          client_id="own", deployment_ids=[f"{district.slug}-dep"], **LTI_URLS)
    lti.register_platform(district, issuer="https://classlink.example", client_id="shared",
                          deployment_ids=[f"{district.slug}-shared"], **LTI_URLS)


@pytest.fixture
def world(app, tmp_path):
    north, south, files, _ = two_districts(tmp_path, students=10)
    a_year_of(app, north, tmp_path, files)
    a_year_of(app, south, tmp_path, small_district(3, school="sch-s"))
    nonces.spend_once("lti-nonce", "a-launch")
    return north, south


def all_rows() -> dict[str, list[tuple]]:
    db = database.obj
    # A district's partitions are read through their shared tables (models.partitions).
    parts = set(partition_tables(db.cursor())) if is_postgres(db) else set()
    tables = [t for t in db.get_tables() if not t.startswith("sqlite_")
              and t != "al_roster_migration" and t not in parts]
    out = {}
    for table in tables:
        cursor = db.execute_sql(f'SELECT * FROM "{table}" ORDER BY 1')
        names = [d[0] for d in cursor.description]
        out[table] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return out


class Of:
    """What belongs to one district: its id, its runs, accounts, classes, registrations,
    and the sourcedIds only it has."""

    def __init__(self, district, other):
        rows = all_rows()
        self.id = district.id
        self.runs = {r["id"] for r in rows["sync_run"] if r["district_id"] == district.id}
        self.accounts = {r["id"] for r in rows["account"] if r["district_id"] == district.id}
        self.classes = {r["id"] for r in rows["imported_class"] if r["district_id"] == district.id}
        deployments = rows["lti_deployment"]
        mine = {d["registration_id"] for d in deployments if d["district_id"] == district.id}
        theirs = {d["registration_id"] for d in deployments if d["district_id"] != district.id}
        self.registrations = mine - theirs
        ids = {r["sourced_id"] for t, rs in rows.items() if t in ROSTER_TABLES for r in rs
               if r["district_id"] == district.id}
        other_ids = {r["sourced_id"] for t, rs in rows.items() if t in ROSTER_TABLES
                     for r in rs if r["district_id"] == other.id}
        self.only_sourced_ids = ids - other_ids
        assert self.only_sourced_ids  # stu-4 ... stu-10, sch-1, their enrollments

    def owns(self, table: str, row: dict) -> bool:
        own_ids = {"district": {self.id}, "sync_run": self.runs, "account": self.accounts,
                   "imported_class": self.classes, "lti_registration": self.registrations}
        if row.get("id") in own_ids.get(table, ()):
            return True
        for column, value in row.items():
            if (column == "district_id" and value == self.id
                    or column in RUN_COLUMNS and value in self.runs
                    or column in ("account_id", "imported_by_id") and value in self.accounts
                    or column == "imported_class_id" and value in self.classes
                    or column == "registration_id" and value in self.registrations
                    or isinstance(value, str) and value in self.only_sourced_ids):
                return True
        return False


def files_under(*folders: Path) -> dict[str, str]:
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_purge_deletes_every_trace_and_leaves_the_other_district_byte_for_byte(
        world, app, runner, tmp_path):
    north, south = world
    owner = Of(north, south)
    mine = {f"run-{r}.zip" for r in owner.runs} | {f"district-{north.id}.lock",
                                                   f"{north.id}.seconds.json"}
    north_files = {p: h for p, h in files_under(tmp_path / "north-drop", storage(app)).items()
                   if "north-drop" in p or Path(p).name in mine
                   or f"/pulls/{north.id}-" in p}
    assert {Path(p).parent.name for p in north_files} >= {"processed", "north-drop",
                                                         "packages", "pulls"}
    before = all_rows()
    expected = {t: [r for r in rows if not owner.owns(t, r)] for t, rows in before.items()}
    kept_files = {p: h for p, h in files_under(storage(app), tmp_path / "south-drop").items()
                  if p not in north_files}

    result = runner.invoke(cli, ["district", "purge", "north", "--confirm", "north", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)

    after = all_rows()
    for table, rows in after.items():
        if table == "privacy_audit" or table.startswith("ref_"):
            continue
        assert not [r for r in rows if owner.owns(table, r)], table
        assert rows == expected[table], table  # everyone else's rows exactly as they were
    # The reference app's own tables, told by district_purged: North's courses (and their
    # seats and work) are gone, South's are as they were.
    host_courses = {r["roster_class_id"]: r for r in after["ref_course"]}
    assert not set(host_courses) & owner.classes
    assert after["ref_course"] == [r for r in before["ref_course"]
                                   if r["roster_class_id"] not in owner.classes]
    kept = {r["id"] for r in after["ref_course"]}
    assert after["ref_seat"] == [r for r in before["ref_seat"] if r["course_id"] in kept]
    assert {p: h for p, h in files_under(storage(app), tmp_path / "south-drop").items()} \
        == kept_files
    assert not [p for p in files_under(tmp_path / "north-drop", storage(app)) if p in north_files]
    # what it says it removed is what was there
    removed = {t: len(before[t]) - len(after[t]) for t in before
               if t != "privacy_audit" and not t.startswith("ref_")}  # the host's own
    assert {t: n for t, n in report["tables"].items() if n} == {t: n for t, n in removed.items() if n}
    assert report["tables"]["roster_users"] == 11 and report["tables"]["account"] == 2
    assert report["files"]["packages"] == 1 and report["files"]["dropFiles"] == 2
    assert report["files"]["pullFolders"] == 1
    assert LtiRegistration.select().where(LtiRegistration.client_id == "shared").exists()
    # one audit record, which names the district and counts, and nobody in it
    [audit] = PrivacyAudit.select()
    assert (audit.action, audit.district_slug) == ("purge", "north")
    assert audit.by.startswith("cli (") and audit.counts["tables"]["roster_users"] == 11
    text = json.dumps(audit.counts)
    assert not any(s in text for s in owner.only_sourced_ids | {"Lovelace", "example.org"})
    listed = json.loads(runner.invoke(cli, ["district", "audit", "--json"]).output)
    assert [(a["action"], a["district"]) for a in listed] == [("purge", "north")]
    # the other district still syncs as before
    assert sync(south, tmp_path, small_district(3, school="sch-s"), "south-again").status \
        == "applied"


def test_plain_output_lists_tables_and_files(world, runner):
    result = runner.invoke(cli, ["district", "purge", "north", "--confirm", "north"])
    assert result.exit_code == 0, result.output
    assert "District north purged" in result.output
    assert "roster_enrollments" in result.output and "dropFiles" in result.output
    assert "used_nonce" in result.output  # says why spent nonces stay


def test_confirmation_must_repeat_the_slug(world, runner):
    north, _ = world
    result = runner.invoke(cli, ["district", "purge", "north", "--confirm", "south"])
    assert result.exit_code == 2 and "nothing was deleted" in result.output
    assert District.get_or_none(District.slug == "north") is not None
    assert RosterUser.select().where(RosterUser.district_id == north.id).count() == 11


def test_purge_refuses_while_the_district_is_syncing_and_waits_when_asked(app, tmp_path):
    north, south, _, _ = two_districts(tmp_path)
    options = app.extensions["al_roster"].sync_options
    taken, release = threading.Event(), threading.Event()

    def a_sync_holding_the_district():
        with app.app_context():
            lock = DistrictLock(database.obj, north.id, options.lock_dir)
            assert lock.try_acquire()
            taken.set()
            release.wait(30)
            lock.release()
            database.obj.close()

    holder = threading.Thread(target=a_sync_holding_the_district)
    holder.start()
    assert taken.wait(10)
    with pytest.raises(SyncBusy) as refused:
        purge_district(north, options.storage_dir, by="test")
    assert "north was not purged" in refused.value.message
    assert "Nothing was deleted" in refused.value.message
    assert RosterUser.select().where(RosterUser.district_id == north.id).count() == 11
    threading.Timer(1.0, release.set).start()
    started = time.monotonic()
    purge_district(north, options.storage_dir, by="test", wait_seconds=30)
    assert time.monotonic() - started >= 0.9  # it waited for the lock
    holder.join(10)
    assert District.get_or_none(District.id == north.id) is None
    assert RosterUser.select().where(RosterUser.district_id == south.id).count() == 4


def test_purge_during_a_real_sync_waits_for_it_then_deletes_what_it_wrote(app, tmp_path):
    north = add_district("north", "North District")
    generate_district(tmp_path / "big", 3000, seed=2)
    options = app.extensions["al_roster"].sync_options
    outcome = {}

    def nightly():
        with app.app_context():
            try:
                outcome["run"] = sync_package(north, tmp_path / "big", options)
            finally:
                database.obj.close()

    syncing = threading.Thread(target=nightly)
    syncing.start()
    deadline = time.monotonic() + 30
    while not SyncRun.select().where(SyncRun.district == north.id).exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    report = purge_district(north, options.storage_dir, by="test", wait_seconds=300)
    syncing.join(60)
    run = outcome["run"]
    assert run.status == "applied"  # the sync finished whole; the purge did not cut into it
    assert report.tables["roster_users"] > 3000 and report.tables["sync_run"] == 1
    for model in (RosterUser, SyncRun):
        assert not model.select().exists()
    assert PrivacyAudit.get().at >= run.finished_at


def test_purge_refuses_a_district_whose_account_is_named_in_the_staff_setting(world, app,
                                                                             runner):
    north, _ = world
    teacher = Account.get((Account.district == north.id) & (Account.sourced_id == "tch-1"))
    app.config["AL_ROSTER_STAFF"] = str(teacher.id)
    with pytest.raises(PurgeRefused):
        purge_district(north, storage(app), by="test",
                       staff_ids=app.extensions["al_roster"].staff.account_ids)
    result = runner.invoke(cli, ["district", "purge", "north", "--confirm", "north"])
    assert result.exit_code == 1 and "AL_ROSTER_STAFF" in result.output
    assert District.get_or_none(District.slug == "north") is not None


def test_console_purge_is_for_staff_with_the_slug_typed_and_a_csrf_token(app, client, tmp_path):
    north, south, _, _ = two_districts(tmp_path, console_people=True)
    staff = account(south, "teacher", "staff-1", is_staff=True)
    admin = account(north, "administrator", "adm-1")
    url = "/roster/admin/districts/north/purge"

    sign_in(client, admin)  # the district's own admin may not delete it
    assert client.get(url).status_code == 403
    assert client.post(url, data={"csrf_token": CSRF, "confirm": "north"}).status_code == 403

    sign_in(client, staff)
    page = client.get(url)
    assert page.status_code == 200 and "Type the district" in page.text
    assert "roster_enrollments" in page.text and 'name="csrf_token"' in page.text
    assert "Delete north" in client.get("/roster/admin/").text
    assert client.post(url, data={"confirm": "north"}).status_code == 400  # no CSRF token
    wrong = client.post(url, data={"csrf_token": CSRF, "confirm": "North"})
    assert wrong.status_code == 400 and "nothing was deleted" in wrong.text
    assert District.get_or_none(District.slug == "north") is not None
    done = client.post(url, data={"csrf_token": CSRF, "confirm": "north"})
    assert done.status_code == 302 and "was+deleted" in done.headers["Location"]
    assert District.get_or_none(District.slug == "north") is None
    assert PrivacyAudit.get().by.startswith(f"account {staff.id}")
    assert client.get("/roster/admin/").status_code == 200

    own = client.post("/roster/api/admin/districts/south/purge", json={"confirm": "south"},
                      headers={"X-CSRF-Token": CSRF})
    assert own.status_code == 409 and "Your own account" in own.json["error"]
