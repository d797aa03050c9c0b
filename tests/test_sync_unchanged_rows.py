"""A bulk file's unchanged rows are staged narrow (sourcedId and hash, no values): the copy,
the run's issues, counts, change records and undo are exactly those of staging every row
whole.

Each test syncs the same nights into two districts, one with every row staged whole, the
other with the rows the copy already holds staged narrow, on SQLite and PostgreSQL, read
here and in the reading process, and compares everything a support engineer or a teacher
could see.
"""
from __future__ import annotations

import csv
import datetime as dt
import json

import numpy as np
import pytest
from packages import write_package
from rosters import school
from test_sync_reading_process import copy_of, messy, next_night, seen

from al_roster.demo.generator import generate_district
from al_roster.models import RunChange, SyncRun
from al_roster.oneroster.unchanged import UnchangedRows, keys_of
from al_roster.services.districts import OPERATOR, DistrictChanges, add_district, update_district
from al_roster.sync import staging
from al_roster.sync.review import undo_run
from al_roster.sync.runner import sync_package

TODAY = dt.date.today()


def kept_stages(monkeypatch, beside: bool) -> list:
    """The stages of the syncs that follow, as each one's staging left it; every file read
    beside (by a reading process, as on two cores), or every one here."""
    monkeypatch.setattr(staging, "_two_cores", lambda: True)
    monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0 if beside else 1 << 62)
    stages = []
    real_run = staging.Stager.run

    def kept(self):
        stage = real_run(self)
        stages.append(stage)
        return stage
    monkeypatch.setattr(staging.Stager, "run", kept)
    return stages


@pytest.fixture(params=["read here", "read beside"])
def two_ways(app, monkeypatch, request):
    """sync(night) -> (run staged whole, run staged narrow), into two districts; the stage
    of each narrow run is kept in ``sync.stages``."""
    whole = add_district("whole", "Staged Whole", deletion_threshold=1.0)
    narrow = add_district("narrow", "Staged Narrow", deletion_threshold=1.0)
    options = app.extensions["al_roster"].sync_options
    stages = kept_stages(monkeypatch, beside=request.param == "read beside")

    def sync(package):
        monkeypatch.setattr(staging, "STAGE_UNCHANGED_NARROW", False)
        first = sync_package(whole, package, options)
        monkeypatch.setattr(staging, "STAGE_UNCHANGED_NARROW", True)
        del stages[:]
        second = sync_package(narrow, package, options)
        return first, second

    sync.districts, sync.options, sync.stages = (whole, narrow), options, stages
    return sync


def changes(run: SyncRun) -> list[tuple]:
    """The run's change records, as undo and the review screen read them (which run had
    removed a record differs between the two districts; that it was removed does not)."""
    def values(text):
        if not text:
            return {}
        kept = json.loads(text)
        if "removed_run_id" in kept:
            kept["removed_run_id"] = kept["removed_run_id"] is not None
        return kept
    return sorted((c.entity, c.sourced_id, c.kind, sorted(values(c.before).items()),
                   sorted(values(c.after).items()))
                  for c in RunChange.select().where(RunChange.run_id == run.id))


def same(sync, package) -> dict:
    whole, narrow = sync(package)
    assert seen(whole) == seen(narrow)
    assert changes(whole) == changes(narrow)
    assert copy_of(sync.districts[0]) == copy_of(sync.districts[1])
    return seen(whole)


def narrow_rows(sync, name: str) -> int:
    return sync.stages[-1].entities[name].narrow


def quoted(folder, target):
    """The package re-exported with every field quoted: other bytes, the same rows."""
    target.mkdir()
    for path in folder.glob("*.csv"):
        with open(path, newline="", encoding="utf-8") as inp, \
                open(target / path.name, "w", newline="", encoding="utf-8") as out:
            csv.writer(out, quoting=csv.QUOTE_ALL).writerows(csv.reader(inp))
    return target


def rewritten(folder, target, edit):
    """The package's files written afresh into ``target``, each file's lines (header first)
    as ``edit(stem, lines)`` returns them."""
    target.mkdir()
    for path in folder.glob("*.csv"):
        lines = edit(path.stem, path.read_text().splitlines(keepends=True))
        (target / path.name).write_text("".join(lines))
    return target


def test_a_re_export_stages_only_what_changed(two_ways, tmp_path):
    first = tmp_path / "first"
    generate_district(first, 300, seed=7)
    same(two_ways, first)
    assert narrow_rows(two_ways, "enrollments") == 0  # nothing to compare with yet
    quiet = same(two_ways, quoted(first, tmp_path / "quoted"))
    enrollments = quiet["counts"]["enrollments"]
    assert enrollments["unchanged"] == enrollments["rows"] > 1000
    assert narrow_rows(two_ways, "enrollments") == enrollments["rows"]
    assert quiet["message"] == "Applied: nothing changed."

    def edit(stem, lines):
        if stem == "enrollments":
            lines = [line for n, line in enumerate(lines) if n == 0 or n % 40 != 5]
            lines.append(lines[7].replace("enr-", "enr-moved-", 1))
        if stem == "users":
            lines = [line.replace(",Smith,", ",Smyth,") for line in lines]
        return lines
    counts = same(two_ways, rewritten(first, tmp_path / "night", edit))["counts"]
    assert counts["enrollments"]["deleted"] > 10 and counts["enrollments"]["created"] == 1
    assert counts["users"]["updated"] > 0
    assert narrow_rows(two_ways, "enrollments") == counts["enrollments"]["unchanged"]


def test_messy_nights_and_an_undo_then_the_same_files(two_ways, tmp_path):
    first = write_package(tmp_path / "one", messy(TODAY))
    same(two_ways, first)
    folder = next_night(tmp_path / "two", messy(TODAY))
    same(two_ways, folder)
    assert narrow_rows(two_ways, "enrollments") > 10
    runs = [SyncRun.select().where(SyncRun.district == d.id).order_by(SyncRun.id.desc()).first()
            for d in two_ways.districts]
    for run in runs:
        undo_run(run, two_ways.options, by="support")
    assert copy_of(two_ways.districts[0]) == copy_of(two_ways.districts[1])
    again = same(two_ways, folder)  # the same files again, after the undo
    assert again["counts"]["users"]["updated"] == 1
    assert again["counts"]["enrollments"]["deleted"] == 1


def test_an_unchanged_row_naming_what_the_night_removed(two_ways, tmp_path, monkeypatch):
    """An enrollment repeated value for value whose class left classes.csv names nothing:
    it is skipped and removed, whether its references are checked in memory or in SQL."""
    files = school(TODAY, students=4)
    same(two_ways, write_package(tmp_path / "one", files))
    files["classes"] = [c for c in files["classes"] if c["sourcedId"] != "cls-alg2"]
    files["users"] = [u for u in files["users"] if u["sourcedId"] != "stu-2"]
    night = same(two_ways, write_package(tmp_path / "two", files))
    assert night["counts"]["enrollments"]["deleted"] >= 5
    assert any("cls-alg2" in issue[4] for issue in night["issues"])
    monkeypatch.setattr(staging, "KNOWN_IDS_LIMIT", 0)  # every reference checked in SQL
    files["users"] = [u for u in files["users"] if u["sourcedId"] != "stu-3"]
    files["classes"] = [c for c in files["classes"] if c["sourcedId"] != "cls-chem"]
    third = same(two_ways, write_package(tmp_path / "three", files))
    assert narrow_rows(two_ways, "enrollments") > 5
    assert any("stu-3" in issue[4] for issue in third["issues"])
    assert any("cls-chem" in issue[4] for issue in third["issues"])


def test_what_the_night_removed_after_a_clean_night(two_ways, tmp_path, monkeypatch):
    """After a clean reading the copy's enrollments name only what its copy holds: those
    naming a class or a student the night removed are found from the removed records (the
    enrollments' values not all looked up), as staging every row whole finds them."""
    monkeypatch.setattr(staging, "KNOWN_IDS_LIMIT", 0)  # every reference checked in SQL
    files = school(TODAY, students=4)
    same(two_ways, write_package(tmp_path / "one", files))
    files["classes"] = [c for c in files["classes"] if c["sourcedId"] != "cls-alg2"]
    files["users"] = [u for u in files["users"] if u["sourcedId"] != "stu-2"]
    night = same(two_ways, write_package(tmp_path / "two", files))
    assert narrow_rows(two_ways, "enrollments") > 5
    assert any("cls-alg2" in issue[4] for issue in night["issues"])
    assert any("stu-2" in issue[4] for issue in night["issues"])


def test_enrollments_naming_students_whose_rows_are_held(two_ways, tmp_path, monkeypatch):
    """users.csv re-exported as it was but for a student who left: its narrow rows are held,
    not staged, and the night's new enrollments naming a student they repeat are applied,
    one naming the student who left names nothing: checked in memory or in SQL, exactly as
    staging every row whole finds."""
    held = {}
    real_keep = staging.keep_unmatched

    def keeping(db, stage, entity, unchanged):
        held[entity.name] = unchanged.narrow_count() if unchanged.hold else 0
        return real_keep(db, stage, entity, unchanged)
    monkeypatch.setattr(staging, "keep_unmatched", keeping)
    files = school(TODAY, students=6)
    same(two_ways, write_package(tmp_path / "one", files))
    for n, limit in enumerate((staging.KNOWN_IDS_LIMIT, 0)):
        monkeypatch.setattr(staging, "KNOWN_IDS_LIMIT", limit)
        left = f"stu-{n + 2}"
        files["users"] = [u for u in files["users"] if u["sourcedId"] != left]
        files["enrollments"] += [dict(files["enrollments"][-1], sourcedId=f"enr-new-{n}-{who}",
                                      userSourcedId=who) for who in ("stu-1", left)]
        night = same(two_ways, write_package(tmp_path / f"night{n}", files))
        assert held["users"] >= 5  # the students who stayed: held, not staged
        assert night["counts"]["enrollments"]["created"] == 1
        assert any(left in issue[4] for issue in night["issues"])


def test_an_identical_file_beside_a_re_exported_one(two_ways, tmp_path, monkeypatch):
    """classes.csv byte for byte as last night (not read again), enrollments re-exported:
    the enrollments' classes are the copy's, checked in memory or in SQL."""
    files = school(TODAY, students=3)
    one = write_package(tmp_path / "one", files)
    same(two_ways, one)
    files["enrollments"].append(dict(files["enrollments"][0], sourcedId="enr-x",
                                     classSourcedId="cls-gone"))
    for limit in (staging.KNOWN_IDS_LIMIT, 0):
        monkeypatch.setattr(staging, "KNOWN_IDS_LIMIT", limit)
        night = write_package(tmp_path / f"night-{limit}", files)
        enrollments = night / "enrollments.csv"
        enrollments.write_text(enrollments.read_text().replace("\r\n", "\n"))
        result = same(two_ways, night)
        assert any(issue[0] == "classes.csv" and "Identical to the file" in issue[4]
                   for issue in result["issues"])
        assert any("cls-gone" in issue[4] for issue in result["issues"])
        assert narrow_rows(two_ways, "enrollments") > 5


def test_duplicates_a_removed_record_back_and_a_1_1_status(two_ways, tmp_path):
    files = school(TODAY, students=3)
    one = write_package(tmp_path / "one", files)
    same(two_ways, one)
    gone = dict(files)
    gone["users"] = [u for u in files["users"] if u["sourcedId"] != "stu-3"]
    gone["enrollments"] = [e for e in files["enrollments"] if e["userSourcedId"] != "stu-3"]
    assert same(two_ways, write_package(tmp_path / "two", gone))["counts"]["users"]["deleted"]
    back = dict(files)
    users = [dict(u) for u in files["users"]]
    users.append(dict(users[3], givenName="Changed"))  # a changed copy after an unchanged one
    users.insert(0, dict(users[4], givenName="First"))  # a changed copy before an unchanged
    back["users"] = users
    night = same(two_ways, write_package(tmp_path / "three", back))
    assert night["counts"]["users"]["restored"] == 1  # stu-3, its values as before
    assert night["errors"] == 2
    status = tmp_path / "four"
    write_package(status, files)
    text = (status / "users.csv").read_text().splitlines(keepends=True)
    header = text[0].split(",")
    at = header.index("status")
    row = text[5].split(",")
    row[at] = "tobedeleted"
    text[5] = ",".join(row)
    (status / "users.csv").write_text("".join(text))
    same(two_ways, status)


def test_keys_tell_a_changed_row_of_the_same_record_always():
    rows = [(n, f"stu-{n}", "active", None, "x", n * 7919) for n in range(2, 5000)]
    held = UnchangedRows.of_records([[(r[1], r[-1], 100 + r[0]) for r in rows]], seed=12345)
    changed = [(r[0], r[1], r[2], r[3], "y", r[-1] + 1) for r in rows]  # same ids, new hashes
    whole, narrow, matched = held.split(changed)
    assert whole == changed and narrow == [] and not len(matched)
    whole, narrow, matched = held.split(rows[:10] + [(9, "stu-new", "active", None, "x", 1)])
    assert [r[1] for r in whole] == ["stu-new"]
    assert narrow[0] == (2, "stu-2", 2 * 7919) and len(matched) == 10
    gone = [(r[0], r[1], "tobedeleted", *r[3:]) for r in rows[:3]]
    assert held.split(gone)[:2] == (gone, [])
    assert held.narrow_count() == 10
    assert sorted(held.unmatched_ids().tolist()) == [100 + r[0] for r in rows[10:]]
    again = UnchangedRows.from_keys(held.keys.tobytes(), held.seed)
    assert np.array_equal(again.keys, held.keys) and again.split(rows[:4])[1] == narrow[:4]
    assert again.lines is None  # a reading process's copy: keys alone
    assert len(set(keys_of([r[1] for r in rows], [r[-1] for r in rows], 1).tolist())) == len(rows)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 64, 4099, 300_000])
def test_a_key_is_found_where_a_binary_search_finds_it(count):
    """The split looks keys up by their top bits, not by a binary search: the same
    answers, for keys held and not, at the ends of the range, whatever the number held."""
    rng = np.random.default_rng(count)
    held = UnchangedRows(np.unique(rng.integers(0, 2**63, count, dtype=np.uint64)
                                   * np.uint64(2)), seed=1)  # even keys only
    keys = held.keys
    asked = np.concatenate([keys[rng.integers(0, len(keys), 5000)], keys[:1], keys[-1:],
                            keys[rng.integers(0, len(keys), 2000)] + np.uint64(1),  # odd: not
                            np.array([0, 1, 2**64 - 1], dtype=np.uint64)])
    at, found = held.find(asked)
    expected = np.isin(asked, keys)
    assert found.tolist() == expected.tolist()
    assert np.array_equal(keys[at[found]], asked[found])


def test_held_rows_keep_every_line_of_a_record_repeated():
    """A record repeated by two rows (in one chunk or two) keeps both lines: the first
    held, the other among the repeats; taking the record hands over both and holds
    neither any longer."""
    rows = [(n, f"enr-{n}", "active", None, "x", n * 31) for n in range(2, 200)]
    held = UnchangedRows.of_records([[(r[1], r[-1], 1000 + r[0]) for r in rows]], seed=9)
    held.split(rows[:50])
    held.split([(300, "enr-7", "active", None, "x", 7 * 31),   # enr-7 again, a later chunk
                (301, "enr-60", "active", None, "x", 60 * 31),
                (302, "enr-60", "active", None, "x", 60 * 31)])  # twice in one chunk
    assert held.narrow_count() == 53
    repeated = held.repeated()
    assert sorted(held.ids[repeated].tolist()) == [1007, 1060]
    ids, lines = held.take([repeated])
    assert sorted(zip(ids.tolist(), lines.tolist(), strict=True)) == [(1007, 7), (1007, 300), (1060, 301),
                                                        (1060, 302)]
    assert held.narrow_count() == 49 and not len(held.repeated())
    assert {1007, 1060} <= set(held.unmatched_ids().tolist())
    assert held.held([("enr-7", 7 * 31, 1007), ("enr-8", 8 * 31, 1008),
                      ("enr-150", 150 * 31, 1150)]).tolist() == [
        int(np.flatnonzero(held.ids == 1008)[0])]  # taken, held, never read
    held.forget()
    assert held.narrow_count() == 0 and len(held.unmatched_ids()) == len(rows)


def test_enrollments_listed_twice_and_a_night_of_grace(two_ways, tmp_path):
    """Enrollments repeated value for value are held, not staged: one listed twice as it
    was, one changed after an unchanged copy of it and one before, are reported and kept
    as when every row is staged; with a grace of two nights, one left out is kept once,
    then removed, and one back is no longer missing."""
    for district in two_ways.districts:
        update_district(district, DistrictChanges(removal_grace_runs=2), by=OPERATOR)
    files = school(TODAY, students=4)
    same(two_ways, write_package(tmp_path / "one", files))
    enrollments = [dict(e) for e in files["enrollments"]]
    twice = [*enrollments, enrollments[2], dict(enrollments[3], role="proctor")]
    twice.insert(0, dict(enrollments[5], role="proctor"))
    night = same(two_ways, write_package(tmp_path / "two", dict(files, enrollments=twice)))
    assert night["errors"] == 3
    assert night["counts"]["enrollments"]["updated"] == 1  # (the copy before the unchanged)
    assert narrow_rows(two_ways, "enrollments") == len(enrollments) - 1
    left_out = dict(files, enrollments=enrollments[1:])
    once = same(two_ways, write_package(tmp_path / "three", left_out))
    assert once["counts"]["enrollments"]["deleted"] == 0
    back = same(two_ways, write_package(tmp_path / "four", files))
    assert back["counts"]["enrollments"]["deleted"] == 0
    for n in (5, 6):
        last = same(two_ways, write_package(tmp_path / f"night-{n}", left_out))
    assert last["counts"]["enrollments"]["deleted"] == 1


def test_every_enrollment_listed_twice_while_a_class_leaves(two_ways, tmp_path, monkeypatch):
    """Every held enrollment is a duplicate, so all are staged for the duplicate check: the
    references of those staged rows are still checked (a class left classes.csv)."""
    monkeypatch.setattr(staging, "KNOWN_IDS_LIMIT", 0)  # every reference checked in SQL
    files = school(TODAY, students=4)
    same(two_ways, write_package(tmp_path / "one", files))
    night = dict(files, classes=[c for c in files["classes"] if c["sourcedId"] != "cls-alg2"],
                 enrollments=files["enrollments"] * 2)
    result = same(two_ways, write_package(tmp_path / "two", night))
    assert any("cls-alg2" in issue[4] for issue in result["issues"])
    assert result["counts"]["enrollments"]["deleted"] >= 5


def test_a_1_2_district_re_exported_holds_its_roles_and_enrollments(two_ways, tmp_path):
    """OneRoster 1.2 keeps roles in roles.csv, which no file refers to either: a quiet
    re-export holds its rows as it holds the enrollments, and a few roles left out are
    removed, as staging every row whole does."""
    first = tmp_path / "first"
    generate_district(first, 120, seed=4, version="1.2")
    same(two_ways, first)
    quiet = same(two_ways, quoted(first, tmp_path / "quoted"))
    assert quiet["counts"]["roles"]["unchanged"] == quiet["counts"]["roles"]["rows"] > 100
    assert narrow_rows(two_ways, "roles") == quiet["counts"]["roles"]["rows"]
    def edit(stem, lines):
        return [line for n, line in enumerate(lines)
                if stem != "roles" or n == 0 or n % 30 != 4]
    night = rewritten(first, tmp_path / "night", edit)
    assert same(two_ways, night)["counts"]["roles"]["deleted"] >= 3


def test_a_night_that_changed_most_enrollments(two_ways, tmp_path):
    """Most enrollments rewritten (students made proctors), a few left out: the few held
    are staged once checked rather than the many others listed, and the copy, counts and
    change records are those of staging every row whole."""
    first = write_package(tmp_path / "one", school(TODAY, students=6))
    same(two_ways, first)

    def edit(stem, lines):
        if stem != "enrollments":
            return lines
        return [line if n % 4 == 1 else line.replace(",student,", ",proctor,")
                for n, line in enumerate(lines) if n == 0 or n % 9 != 2]
    night = same(two_ways, rewritten(first, tmp_path / "two", edit))
    enrollments = night["counts"]["enrollments"]
    assert enrollments["updated"] > enrollments["unchanged"] > 3
    assert enrollments["deleted"] >= 2
    assert narrow_rows(two_ways, "enrollments") == enrollments["unchanged"]
    assert "enrollments" not in two_ways.stages[-1].unmatched  # (the few held: staged)


@pytest.mark.parametrize("largest", [7, 2**40])
def test_pairs_of_ids_and_lines_reach_the_database_as_they_are(app, largest):
    """The ids and lines of known records are handed to the database in one go (a table
    filled by binary COPY, or a JSON array of packed pairs): each pair arrives whole and
    in its place, ids too large to pack with their lines included."""
    from al_roster.models import database
    from al_roster.sync.sql import integer_pairs

    db = database.obj
    ids = np.array([largest, 3, 0, 2**31 + 5, 9], dtype=np.int64)
    lines = np.array([2, 2**31 - 1, 5, 7, 1], dtype=np.int32)
    with db.atomic(), integer_pairs(db, ids, lines) as (pairs, params):
        got = db.execute_sql(f"SELECT h.a, h.b FROM {pairs} ORDER BY h.a", params).fetchall()
    assert got == sorted(zip(ids.tolist(), lines.tolist(), strict=True))
