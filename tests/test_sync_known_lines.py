"""Known lines: a night's enrollments looked up line by line against the keys of the lines
the last clean reading kept, not read again. The copy, the run's issues, counts and change
records are exactly those of reading every line (the known lines switched off), night after
night, on SQLite and PostgreSQL; and they are looked at only while they still tell the truth.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import random

import numpy as np
import pytest
from packages import write_package
from rosters import school
from test_sync_reading_process import copy_of, seen
from test_sync_unchanged_rows import changes, kept_stages, quoted, rewritten

from al_roster.demo.generator import generate_district
from al_roster.models import KnownLines, SyncRun
from al_roster.oneroster.entities import ENTITY_BY_NAME
from al_roster.oneroster.issues import IssueLog
from al_roster.oneroster.line_keys import RAW, SEP, KeyedLines, line_keys, normal_forms
from al_roster.oneroster.rows import FileReader
from al_roster.oneroster.text import MAX_LINE_BYTES, LineBatches
from al_roster.oneroster.unchanged import UnchangedRows
from al_roster.services.districts import add_district
from al_roster.sync import known_lines, staging
from al_roster.sync.review import undo_run
from al_roster.sync.runner import sync_package

TODAY = dt.date.today()


def forms(lines: list[str]) -> list[bytes]:
    """The normal forms of lines written as text."""
    return normal_forms([line.encode() for line in lines])


def batches(lines: list[str]) -> LineBatches:
    """A file of these lines, to be taken a batch at a time."""
    return LineBatches(io.BytesIO("".join(lines).encode()), "enrollments.csv")


@pytest.fixture
def two_ways(app, monkeypatch):
    """sync(night) -> (run read line by line, run looked up by known lines) into two
    districts, every file read beside; ``sync.known()`` tells whether the last run of the
    second looked its enrollments up by known lines."""
    every = add_district("every", "Every Line Read", deletion_threshold=1.0)
    known = add_district("known", "Known Lines", deletion_threshold=1.0)
    options = app.extensions["al_roster"].sync_options
    stages = kept_stages(monkeypatch, beside=True)

    def sync(package):
        monkeypatch.setattr(known_lines, "KNOWN_LINES", False)
        first = sync_package(every, package, options)
        monkeypatch.setattr(known_lines, "KNOWN_LINES", True)
        del stages[:]
        second = sync_package(known, package, options)
        return first, second

    def looked_up(entity: str = "enrollments") -> bool:
        return stages[-1].entities[entity].known_lines

    sync.districts, sync.options, sync.looked_up = (every, known), options, looked_up
    sync.staged = lambda entity: stages[-1].entities[entity]  # (of the last run looking up)
    return sync


def same(sync, package) -> dict:
    every, known = sync(package)
    assert seen(every) == seen(known)
    assert changes(every) == changes(known)
    assert copy_of(sync.districts[0]) == copy_of(sync.districts[1])
    return seen(every)


def kept_lines(district, entity: str = "enrollments") -> int | None:
    row = KnownLines.get_or_none((KnownLines.district == district.id)
                                 & (KnownLines.entity == entity))
    return None if row is None else row.count


def test_a_quiet_night_then_changes_are_looked_up_by_line(two_ways, tmp_path):
    first = tmp_path / "first"
    generate_district(first, 200, seed=3)
    same(two_ways, first)
    assert kept_lines(two_ways.districts[1]) is None  # a first load keeps none
    quiet = same(two_ways, quoted(first, tmp_path / "quoted"))
    assert not two_ways.looked_up()  # none kept yet: read, each line keyed
    enrollments = quiet["counts"]["enrollments"]["rows"]
    assert kept_lines(two_ways.districts[1]) == enrollments > 1000

    def edit(stem, lines):
        if stem == "enrollments":
            lines = [line for n, line in enumerate(lines) if n == 0 or n % 30 != 4]
            lines.append(lines[9].replace("enr-", "enr-moved-", 1))
            lines[12] = lines[12].replace("student", "teacher")
        if stem == "users":
            lines = [line.replace(",Smith,", ",Smyth,") for line in lines]
        return lines
    night = same(two_ways, rewritten(first, tmp_path / "night", edit))
    assert all(two_ways.looked_up(name) for name in ("enrollments", "users", "classes"))
    users = night["counts"]["users"]
    assert users["updated"] > 0
    # Known whatever their quotes: the students' lines quote a list of ids, the night
    # before quoted every field, this night's only the lists.
    assert two_ways.staged("users").narrow == users["rows"] - users["updated"]
    counts = night["counts"]["enrollments"]
    assert counts["deleted"] > 10 and counts["created"] == 1 and counts["updated"] == 1
    assert kept_lines(two_ways.districts[1]) == counts["rows"]
    again = same(two_ways, quoted(tmp_path / "night", tmp_path / "again"))
    assert two_ways.looked_up() and again["message"] == "Applied: nothing changed."


def test_an_undo_then_the_same_files(two_ways, tmp_path):
    """Undone, the run's known lines no longer tell what the copy holds: the same files
    again are read line by line and change what they changed the first time."""
    files = school(TODAY, students=5)
    same(two_ways, write_package(tmp_path / "one", files))
    same(two_ways, quoted(tmp_path / "one", tmp_path / "two"))
    del files["enrollments"][2]
    files["users"][0]["givenName"] = "Renamed"
    night = write_package(tmp_path / "three", files)
    first = same(two_ways, night)
    assert two_ways.looked_up()
    for district in two_ways.districts:
        run = SyncRun.select().where(SyncRun.district == district.id).order_by(
            SyncRun.id.desc()).first()
        undo_run(run, two_ways.options, by="support")
    assert copy_of(two_ways.districts[0]) == copy_of(two_ways.districts[1])
    again = same(two_ways, night)
    assert not two_ways.looked_up()
    assert again["counts"]["enrollments"] == first["counts"]["enrollments"]


def test_references_to_what_the_night_removed(two_ways, tmp_path, monkeypatch):
    """A known enrollment whose class left classes.csv (checked in SQL) is skipped and
    removed; one whose school left orgs.csv (checked in memory, which a known line skips)
    is read again, its known lines not looked at."""
    monkeypatch.setattr(staging, "KNOWN_IDS_LIMIT", 0)  # classes and users checked in SQL
    files = school(TODAY, students=6)
    files["orgs"].append(dict(sourcedId="sch-2", name="South High", type="school"))
    files["enrollments"][4]["schoolSourcedId"] = "sch-2"
    same(two_ways, write_package(tmp_path / "one", files))
    same(two_ways, quoted(tmp_path / "one", tmp_path / "two"))
    files["classes"] = [c for c in files["classes"] if c["sourcedId"] != "cls-alg2"]
    night = same(two_ways, write_package(tmp_path / "three", files))
    assert two_ways.looked_up()
    assert night["counts"]["enrollments"]["deleted"] >= 5
    assert any("cls-alg2" in issue[4] for issue in night["issues"])
    files["orgs"] = [o for o in files["orgs"] if o["sourcedId"] != "sch-2"]
    gone = same(two_ways, write_package(tmp_path / "four", files))
    assert not two_ways.looked_up()
    assert any("sch-2" in issue[4] for issue in gone["issues"])


def test_a_user_who_left_is_found_on_the_known_lines_naming_them(two_ways, tmp_path):
    """Users few enough to be held in memory while reading: known enrollment lines are not
    read, so a user who left is looked for in SQL, on the records those lines gave; each
    enrollment naming them is reported and removed, the rest still looked up by line."""
    files = school(TODAY, students=6)
    same(two_ways, write_package(tmp_path / "one", files))
    same(two_ways, quoted(tmp_path / "one", tmp_path / "two"))
    left = next(u for u in files["users"] if u["role"] == "student")["sourcedId"]
    files["users"] = [u for u in files["users"] if u["sourcedId"] != left]
    naming = sum(e["userSourcedId"] == left for e in files["enrollments"])
    night = same(two_ways, write_package(tmp_path / "three", files))
    assert two_ways.looked_up() and naming > 0
    assert night["counts"]["enrollments"]["deleted"] == naming
    assert sum(left in issue[4] for issue in night["issues"]) == naming


def test_a_line_not_utf8_among_known_lines_rejects_the_file_naming_it(two_ways, tmp_path):
    """Known lines are never decoded, the others are as they are given: one that is not
    UTF-8, or one far too long, rejects the package naming its line, as when every line is
    decoded."""
    files = school(TODAY, students=6)
    same(two_ways, write_package(tmp_path / "one", files))
    same(two_ways, quoted(tmp_path / "one", tmp_path / "two"))
    night = write_package(tmp_path / "three", files)
    lines = (night / "enrollments.csv").read_bytes().splitlines(keepends=True)
    lines[5] = lines[5].replace(b"student", b"stud\xffent")
    (night / "enrollments.csv").write_bytes(b"".join(lines))
    rejected = same(two_ways, night)
    assert rejected["status"] == "rejected"
    assert "not UTF-8 text (byte 0xFF on line 6)" in rejected["message"]
    lines[5] = b"enr-long," + b"x" * MAX_LINE_BYTES + b"\n"  # (and one far too long)
    (night / "enrollments.csv").write_bytes(b"".join(lines))
    rejected = same(two_ways, night)
    assert rejected["status"] == "rejected" and "line 6 is longer than" in rejected["message"]


def test_users_and_classes_others_name_are_looked_up_too(two_ways, tmp_path, monkeypatch):
    """Files other files name (users, classes): a known line is staged as the record it
    gave, so the references of the enrollments still find it. A user who left is reported
    on each enrollment naming them; a user listed twice is a duplicate; a renamed user and
    a new class are read and compared; the night after, all of it is known again."""
    monkeypatch.setattr(staging, "KNOWN_IDS_LIMIT", 0)  # classes and users checked in SQL
    files = school(TODAY, students=8)
    same(two_ways, write_package(tmp_path / "one", files))
    quiet = same(two_ways, quoted(tmp_path / "one", tmp_path / "two"))
    assert kept_lines(two_ways.districts[1], "users") == quiet["counts"]["users"]["rows"]
    left = files["users"].pop(3)["sourcedId"]
    files["users"][4]["familyName"] = "Renamed"
    files["users"].append(dict(files["users"][5]))  # the same line twice
    files["classes"].append(dict(files["classes"][0], sourcedId="cls-new", title="New"))
    night = same(two_ways, write_package(tmp_path / "three", files))
    assert two_ways.looked_up("users") and two_ways.looked_up("classes")
    users = night["counts"]["users"]
    assert users["updated"] == 1 and users["deleted"] == 1
    assert night["counts"]["classes"]["created"] == 1
    assert any(left in issue[4] for issue in night["issues"])  # enrollments naming them
    assert any("already appears on line" in issue[4] for issue in night["issues"])
    files["users"].pop()
    same(two_ways, write_package(tmp_path / "four", files))
    again = same(two_ways, quoted(tmp_path / "four", tmp_path / "five"))
    assert two_ways.looked_up("users") and again["message"] == "Applied: nothing changed."


def test_another_header_or_a_delta_between(two_ways, tmp_path):
    files = school(TODAY, students=4)
    one = write_package(tmp_path / "one", files)
    same(two_ways, one)
    same(two_ways, quoted(one, tmp_path / "two"))

    def swap(stem, lines):  # two columns the other way round: the same records
        rows = list(csv.reader(lines))
        if stem == "enrollments":
            rows = [[r[1], r[0], *r[2:]] for r in rows]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return [out.getvalue()]
    swapped = same(two_ways, rewritten(one, tmp_path / "three", swap))
    assert not two_ways.looked_up() and swapped["message"] == "Applied: nothing changed."
    same(two_ways, quoted(tmp_path / "three", tmp_path / "four"))
    assert two_ways.looked_up()
    delta = tmp_path / "delta"
    write_package(delta, {"enrollments": [dict(files["enrollments"][0], status="tobedeleted")]},
                  modes={"enrollments": "delta"})
    same(two_ways, delta)
    night = same(two_ways, quoted(tmp_path / "three", tmp_path / "five"))
    assert not two_ways.looked_up()
    counts = night["counts"]["enrollments"]
    assert counts["created"] + counts["restored"] == 1  # back after the delta's removal


def test_the_normal_form_keeps_a_lines_fields():
    """Two lines of one normal form are read into the same fields: checked on random lines
    of quotes, commas, line breaks and letters."""
    rng = random.Random(5)
    alphabet = ['"', '"', ",", ",", "a", "b", "\r", " "]
    lines, fields = [], {}
    for _ in range(20_000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))
        if rng.random() < 0.5:  # and lines as exports write them
            cells = ["".join(rng.choice("ab, ") for _ in range(rng.randint(0, 3)))
                     for _ in range(rng.randint(1, 4))]
            out = io.StringIO()
            csv.writer(out, quoting=rng.choice([csv.QUOTE_ALL, csv.QUOTE_MINIMAL]),
                       lineterminator=rng.choice(["\n", "\r\n"])).writerow(cells)
            line = out.getvalue()
        lines.append(line if line.endswith("\n") else line + "\n")
    for start in range(0, len(lines), 64):  # in batches, as read
        batch = lines[start:start + 64]
        for line, form in zip(batch, forms(batch), strict=True):
            assert forms([line]) == [form]  # (whatever lines it is read among)
            try:
                parsed = list(csv.reader([line], strict=False))
            except csv.Error:  # (a line break in a bare field: the package is refused)
                continue
            if len(parsed) == 1 and "".join(parsed[0]).strip():  # (a blank one gives no row)
                fields.setdefault(form, set()).add(tuple(parsed[0]))
    assert forms(['"a","",""\n']) == forms(["a,,\n"]) == [b"a\x1f\x1f"]
    assert forms(['"a,b","c"\n']) == forms(['"a,b",c\n']) == [b"a,b\x1fc"]
    assert forms(['a,b"c\n']) == forms(['"a","b""c"\n']) == [b'a\x1fb"c']
    assert forms(['a,"b\n']) == [b'\x1ea,"b\n']  # (a value spanning lines: as it is)
    assert forms(['"a"b,c\n']) == [b'\x1e"a"b,c\n']  # (text after a quote: as it is)
    assert forms(['","b"\n']) == [b'\x1e","b"\n'] and forms(['"\n']) == [b'\x1e"\n']
    assert forms(['"a","\n', '"b"\n']) == [b'\x1e"a","\n', b"b"]
    assert forms(['","a"b"\n', '"c"\n']) == [b'\x1e","a"b"\n', b"c"]  # (a quote inside)
    assert all(len(seen_as) == 1 for seen_as in fields.values())
    assert sum(len(form.split(b"\x1f")) > 1 for form in fields) > 1000
    for _ in range(2_000):  # and one row's fields, however an export quotes them, one form
        cells = ["".join(rng.choice('ab, "') for _ in range(rng.randint(0, 4)))
                 for _ in range(rng.randint(2, 5))]
        writings = set()
        for quoting in (csv.QUOTE_ALL, csv.QUOTE_MINIMAL):
            out = io.StringIO()
            csv.writer(out, quoting=quoting, lineterminator="\n").writerow(cells)
            writings.add(forms([out.getvalue()])[0])
        assert len(writings) == 1, cells


def _form_read_by_csv(line: str) -> bytes:
    """A line's normal form as the csv module reads it: its fields joined, where the line
    is one whole record by itself; else the line as it is."""
    reader = csv.reader([line], strict=True)
    try:
        records = list(reader)
    except csv.Error:
        records = []
    if len(records) != 1 or reader.line_num != 1:
        return RAW + line.encode()
    return SEP.join(records[0]).encode()


def test_lines_quoting_every_field_are_read_as_the_csv_module_reads_them():
    """Batches of lines quoting every field (found byte by byte, all at once), some
    spoilt by a quote, comma or line end out of place: each line's form is the fields the
    csv module reads from it alone."""
    rng = random.Random(18)
    for _ in range(3_000):
        batch = []
        for _ in range(rng.randint(1, 12)):
            cells = ["".join(rng.choice("ab,é") for _ in range(rng.randint(0, 3)))
                     for _ in range(rng.randint(1, 4))]
            line = '"' + '","'.join(cells) + '"'
            for _ in range(rng.choice([0, 0, 0, 1, 2])):  # (a character added or taken)
                at = rng.randint(0, len(line))
                line = line[:at] + rng.choice(['"', '"', ",", "a"]) + line[at + 1:]
            batch.append(line + "\n")
        for line, form in zip(batch, forms(batch), strict=True):
            assert form == _form_read_by_csv(line), (batch, line)
    # A line of one quote is no field: its quote is not taken for two.
    assert forms(['"\n', '"x""\n']) == [RAW + b'"\n', RAW + b'"x""\n']
    assert forms(['"\n', '"x"\n']) == [RAW + b'"\n', b"x"]
    assert forms(['"a","b,c"\n', '"",""\n']) == [b"a\x1fb,c", b"\x1f"]
    assert forms(['","\n', '"a,"\n']) == [b",", b"a,"]


def test_a_known_line_inside_a_value_spanning_lines_is_not_taken_for_one():
    """A line found among the known lines is only taken for the record it gave where a
    record starts: inside a quoted value it is read as the value's."""
    header = "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role\n"
    known_line = "enr-1,cls-1,sch-1,stu-1,student\n"
    text = [header, known_line, 'enr-2,cls-1,sch-1,stu-2,"student\n', known_line,
            '"\n', "enr-3,cls-1,sch-1,stu-3,student\n"]
    seed = 11
    keys = line_keys([known_line.encode()], seed)
    known = UnchangedRows(keys, seed, ids=None)
    issues = IssueLog()
    keyed = KeyedLines(batches(text), seed, known)
    rows = list(FileReader(ENTITY_BY_NAME["enrollments"], "1.1", "bulk", issues).read(
        text, keyed=keyed))
    assert keyed.found.known_lines.tolist() == [2]  # the first, not the one inside a value
    assert [row[0] for row in rows] == [4]  # enr-3 (enr-2's role is no OneRoster role)
    assert any(i.line == 3 for i in issues.items)
    assert keyed.found.row_keys.tolist() == [int(line_keys([text[-1].encode()], seed)[0])]


def test_known_lines_that_read_back_wrong_are_not_looked_at(two_ways, tmp_path):
    """Known lines whose stored arrays are not of the length they say (a row damaged by
    hand) are not looked at: the file is read against the copy's keys, to the same end."""
    files = school(TODAY, students=4)
    same(two_ways, write_package(tmp_path / "one", files))
    same(two_ways, quoted(tmp_path / "one", tmp_path / "two"))
    KnownLines.update(count=KnownLines.count + 1).execute()
    files["users"][1]["givenName"] = "Renamed"
    night = same(two_ways, write_package(tmp_path / "three", files))
    assert not two_ways.looked_up() and night["counts"]["users"]["updated"] == 1
    same(two_ways, quoted(tmp_path / "three", tmp_path / "four"))
    assert two_ways.looked_up()  # kept afresh by the night before


def test_known_lines_are_handed_on_a_batch_at_a_time(monkeypatch):
    """A file of known lines alone hands them on as it goes (a reader holds a few, not
    the whole file's): the takes add up to every line, in order."""
    monkeypatch.setattr("al_roster.oneroster.line_keys.BATCH", 16)
    monkeypatch.setattr("al_roster.oneroster.line_keys.KNOWN_PER_TAKE", 40)
    header = "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role\n"
    lines = [f"enr-{n},cls-1,sch-1,stu-{n},student\n" for n in range(500)]
    seed, taken = 3, []
    keys = line_keys([line.encode() for line in lines], seed)
    order = np.argsort(keys)
    known = UnchangedRows(keys[order], seed, ids=None)
    keyed = KeyedLines(batches([header, *lines]), seed, known,
                       full=lambda: taken.append(keyed.found.take(rows=False)))
    rows = list(FileReader(ENTITY_BY_NAME["enrollments"], "1.1", "bulk", IssueLog()).read(
        [header, *lines], keyed=keyed))
    taken.append(keyed.found.take())
    assert not rows and len(taken) > 10
    assert max(len(t[0]) // 8 for t in taken) <= 40 + 16
    places = np.concatenate([np.frombuffer(t[0], dtype=np.int64) for t in taken])
    numbers = np.concatenate([np.frombuffer(t[1], dtype=np.int32) for t in taken])
    assert numbers.tolist() == list(range(2, 502))
    assert (order[places] == np.arange(500)).all()
