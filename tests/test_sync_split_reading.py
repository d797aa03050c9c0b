"""The biggest files are read in two parts at once, by two reading processes: the copy, the
run's issues, counts and row hashes are exactly those of reading each file in one piece.

Each test syncs the same nights into two districts, one read in the sync's own process,
the other in two parts (forced here for every file, however small), on SQLite and
PostgreSQL, and compares everything a support engineer or a teacher could see. Files
whose parts would not read as the whole (a quote the cut cannot see, a failing part, a
part with too many issues to hold) are read again in one piece, with the same outcome.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import random

import pytest
from packages import write_package
from rosters import school
from test_sync_reading_process import copy_of, messy, next_night, sample_packages, seen

from al_roster.demo.generator import generate_district
from al_roster.oneroster import split_reading
from al_roster.services.districts import add_district
from al_roster.sync import staging
from al_roster.sync.runner import sync_package

TODAY = dt.date.today()


@pytest.fixture
def two_ways(app, monkeypatch, caplog):
    """sync(night) -> (run read here, run read in two parts), into two districts;
    ``sync.parts`` counts the files read in two parts, ``sync.abandoned`` those read
    again in one piece."""
    here = add_district("here", "Read Here", deletion_threshold=1.0)
    parts = add_district("parts", "Read In Parts", deletion_threshold=1.0)
    options = app.extensions["al_roster"].sync_options
    monkeypatch.setattr(staging, "_two_cores", lambda: True)
    caplog.set_level(logging.INFO, logger="al_roster.sync.staging")
    split = []

    class Cut(split_reading._Cut):  # each file read in two parts, and where it was cut
        def __init__(self):
            super().__init__()
            split.append(self)
    monkeypatch.setattr(split_reading, "_Cut", Cut)

    def sync(package):
        monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 1 << 62)
        first = sync_package(here, package, options)
        assert not split
        monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(staging, "SPLIT_MIN_BYTES", 0)
        caplog.clear()
        second = sync_package(parts, package, options)
        sync.parts = len(split)
        sync.cuts = sum(c.at is not None for c in split)
        sync.abandoned = sum("did not split" in r.getMessage() for r in caplog.records)
        split.clear()
        return first, second

    sync.districts, sync.options = (here, parts), options
    return sync


def same(sync, package) -> dict:
    here, parts = sync(package)
    assert sync.parts, "no file was read in two parts"
    assert seen(here) == seen(parts)
    assert copy_of(sync.districts[0]) == copy_of(sync.districts[1])
    return seen(here)


def test_messy_nights_read_in_two_parts_as_in_one(two_ways, tmp_path):
    files = messy(TODAY)
    for n in range(40):  # enough rows that a cut falls between the odd ones
        files["users"].append(dict(files["users"][3], sourcedId=f"stu-more-{n}",
                                   familyName="Long\nName" if n == 20 else f"Family {n}"))
    files["users"].append(dict(files["users"][3], sourcedId="bad id\x02"))
    files["users"].append(dict(files["users"][0], givenName="Again"))  # first in part one
    first = same(two_ways, write_package(tmp_path / "one", files))
    assert first["status"] == "applied" and first["errors"] and first["warnings"]
    assert two_ways.abandoned == 0 and two_ways.cuts >= 3
    night = same(two_ways, next_night(tmp_path / "two", files))
    assert night["counts"]["users"]["updated"] == 1
    assert night["counts"]["enrollments"]["deleted"] == 1


def test_a_generated_district_re_exported_quoted_and_as_1_2(two_ways, tmp_path):
    generate_district(tmp_path / "gen", 300, seed=5, zip_path=tmp_path / "gen.zip")
    assert same(two_ways, tmp_path / "gen.zip")["counts"]["enrollments"]["created"] > 1000
    assert two_ways.cuts >= 4 and two_ways.abandoned == 0
    quoted = tmp_path / "quoted"
    quoted.mkdir()
    for path in (tmp_path / "gen").glob("*.csv"):
        with open(path, newline="", encoding="utf-8") as inp, \
                open(quoted / path.name, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, quoting=csv.QUOTE_ALL)
            for n, row in enumerate(csv.reader(inp)):
                if path.stem == "enrollments" and n % 50 == 3:
                    continue
                writer.writerow(row)
    counts = same(two_ways, quoted)["counts"]
    assert counts["enrollments"]["deleted"] > 10 and counts["users"]["unchanged"] > 300
    generate_district(tmp_path / "v12", 200, seed=6, version="1.2")
    same(two_ways, tmp_path / "v12")


def test_a_quote_the_cut_cannot_see_reads_the_file_again_whole(two_ways, tmp_path):
    """An unquoted O"Brien pairs the quotes wrongly, so the only line break the cut may
    take is inside a quoted value: the first part ends in that value, and the file is read
    again in one piece."""
    files = school(TODAY, students=60)
    users = files["users"]
    users[3]["familyName"] = 'O"Brien'
    for user in users[40:]:
        user["familyName"] = "Two\nLines"
    folder = write_package(tmp_path / "one", files)
    text = (folder / "users.csv").read_text()
    (folder / "users.csv").write_text(text.replace('"O""Brien"', 'O"Brien'))
    assert 'O"Brien,' in (folder / "users.csv").read_text()
    result = same(two_ways, folder)
    assert result["status"] == "applied" and two_ways.abandoned == 1


def test_quotes_that_miscount_the_records_read_the_file_again_whole(two_ways, tmp_path):
    """Two unquoted names with a quote each (O"Brien, D"Arcy) pair up, so the cut falls
    where a record ends, but the records between them were counted as one: the second
    part would be misnumbered, and the file is read again in one piece."""
    files = school(TODAY, students=60)
    files["users"][3]["familyName"] = 'O"Brien'
    files["users"][8]["familyName"] = 'D"Arcy'
    folder = write_package(tmp_path / "one", files)
    text = (folder / "users.csv").read_text()
    text = text.replace('"O""Brien"', 'O"Brien').replace('"D""Arcy"', 'D"Arcy')
    (folder / "users.csv").write_text(text)
    result = same(two_ways, folder)
    assert result["status"] == "applied" and two_ways.abandoned == 1


def test_a_failing_part_or_too_many_issues_read_again_whole(two_ways, tmp_path, monkeypatch):
    files = school(TODAY, students=30)
    folder = write_package(tmp_path / "bad", files)
    data = (folder / "enrollments.csv").read_bytes()
    (folder / "enrollments.csv").write_bytes(data + b"enr-z,,,cls-alg1,sch-1,\xff\xfe,x\n")
    rejected = same(two_ways, folder)
    assert rejected["status"] == "rejected" and "UTF-8" in rejected["message"]
    assert two_ways.abandoned == 1
    monkeypatch.setattr(split_reading, "MAX_WAITING_CALLS", 3)
    for n, user in enumerate(files["users"][20:]):
        user["sourcedId"] = f"bad id {n}\x01"  # each row an error of its own
    night = same(two_ways, write_package(tmp_path / "many", files))
    assert night["errors"] >= 10 and two_ways.abandoned == 1


@pytest.mark.samples
def test_the_public_samples_read_in_two_parts_as_in_one(two_ways, tmp_path):
    outcomes = [same(two_ways, path)["status"] for path in sample_packages()]
    assert outcomes[0] == "applied" and len(outcomes) > 1


def test_a_file_without_a_place_to_cut_is_read_by_the_first_part(two_ways, tmp_path):
    files = school(TODAY, students=5)
    folder = write_package(tmp_path / "one", files)
    users = folder / "users.csv"
    users.write_bytes(users.read_bytes().replace(b"\r\n", b"\r"))  # no line feed at all
    same(two_ways, folder)
    assert two_ways.parts > two_ways.cuts  # users.csv: read in two, but never cut


def test_enrollments_read_again_whole_on_a_night_their_rows_are_held(two_ways, tmp_path):
    """A second night, the copy's enrollments held by their lines as they are read: two
    unquoted quotes miscount the second part's records, so its lines were numbered wrong
    and the file is read again in one piece. What the parts matched is forgotten: each
    row is held once, by its right line, as reading it here does."""
    files = school(TODAY, students=30)
    enrollments = files["enrollments"]
    enrollments[3]["sourcedId"] = 'enr-3"a'
    enrollments[8]["sourcedId"] = 'enr-8"b'
    folder = write_package(tmp_path / "one", files)
    path = folder / "enrollments.csv"
    text = path.read_text().replace('"enr-3""a"', 'enr-3"a').replace('"enr-8""b"', 'enr-8"b')
    path.write_text(text)
    same(two_ways, folder)
    night = tmp_path / "two"
    night.mkdir()
    for each in folder.glob("*.csv"):  # the same files, written afresh: read, not skipped
        (night / each.name).write_text(each.read_text().replace("\r\n", "\n"))
    result = same(two_ways, night)
    assert two_ways.abandoned == 1 and result["errors"] == 0
    assert result["counts"]["enrollments"]["unchanged"] == len(enrollments)


def test_records_are_counted_as_the_csv_module_ends_them():
    """The second part's first record number: the records ending in each block the file
    comes in (whole lines of paired quotes looked at all at once), as csv ends them."""
    rng = random.Random(7)
    for _ in range(300):
        rows = [["".join(rng.choice('ab,"\n') if rng.random() < 0.05 else rng.choice("ab ")
                         for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 4))]
                for _ in range(rng.randint(1, 40))]
        out = io.StringIO()
        csv.writer(out, quoting=rng.choice([csv.QUOTE_ALL, csv.QUOTE_MINIMAL]),
                   lineterminator="\n").writerows(rows)
        data = out.getvalue().encode()
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(0, 6))))
        records, quotes, start = 0, 0, 0
        for end in [*cuts, len(data)]:
            counted, quotes = split_reading._records(data[start:end], quotes)
            records, start = records + counted, end
        assert records == len(rows) and quotes == data.count(b'"')
