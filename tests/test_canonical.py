"""Canonical lines are read with one match: the rows and issues must be exactly those of the
full per-field checks, for real files, for every awkward value, in bulk and delta files."""
from __future__ import annotations

import csv
import io
import random
import re
import sys
import unicodedata
from types import SimpleNamespace

import pytest
from conftest import SAMPLES

from al_roster.demo.generator import generate_district
from al_roster.oneroster import canonical
from al_roster.oneroster.entities import ENTITY_BY_NAME, entities_for
from al_roster.oneroster.issues import IssueLog
from al_roster.oneroster.package import CsvPackage
from al_roster.oneroster.rows import FileReader

#: A canonical pattern that matches no line.
NO_LINE = SimpleNamespace(row=lambda line, text: None)


def read(entity, version, mode, lines, fast=True):
    issues = IssueLog()
    reader = FileReader(entity, version, mode, issues)
    if not fast:  # every line through the csv module and the full checks
        compile_patterns = reader._compile_fast_path

        def matching_no_line(names):
            compile_patterns(names)
            reader._bare = reader._every = reader._some = NO_LINE

        reader._compile_fast_path = matching_no_line
    rows = list(reader.read(iter(lines)))
    return rows, [i.to_dict() for i in issues.items]


def assert_same_both_ways(entity, version, mode, lines):
    fast = read(entity, version, mode, lines)
    slow = read(entity, version, mode, lines, fast=False)
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    return fast[0]


def sample_packages():
    yield SAMPLES / "roster-hub-1.1-bulk"
    yield from sorted((SAMPLES / "moodle-enrol-oneroster").glob("*.zip"))


@pytest.mark.samples
@pytest.mark.parametrize("path", list(sample_packages()), ids=lambda p: p.name)
def test_sample_files_read_the_same_either_way(path):
    with CsvPackage(path) as package:
        for entity, mode in package.entities():
            lines = list(package.text_lines(entity.file_name))
            assert_same_both_ways(entity, package.version, mode, lines)


def _generated(tmp_path, version="1.1"):
    folder = tmp_path / f"district-{version}"
    generate_district(folder, 200, seed=7, version=version)
    return {path.stem: path.read_text("utf-8") for path in folder.glob("*.csv")}


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


def _write(rows, quote_all=False):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n",
               quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(rows)
    return buffer.getvalue().splitlines(keepends=True)


def test_well_formed_lines_take_the_fast_path_bare_or_quoted(tmp_path):
    files = _generated(tmp_path)
    for name in ("users", "classes", "enrollments"):
        entity = ENTITY_BY_NAME[name]
        for quote_all in (False, True):
            lines = _write(_rows(files[name]), quote_all)
            reader = FileReader(entity, "1.1", "bulk", IssueLog())
            list(reader.read(iter(lines[:1])))
            slow = [line for line in lines[1:] if reader._fast_row(0, line) is None]
            assert slow == [], f"{name}: {slow[:2]}"
            if quote_all:  # every field quoted: the pattern for such lines, the faster one
                assert all(reader._every.row(0, line) for line in lines[1:])
            mixed = [line for line in lines[1:] if '"' in line and not line.startswith('"')]
            assert all(reader._some.row(0, line) for line in mixed)
            assert not any(reader._every.row(0, line) for line in mixed)
            assert_same_both_ways(entity, "1.1", "bulk", lines)


def test_column_order_and_quoting_do_not_change_a_row_or_its_hash(tmp_path):
    rows = _rows(_generated(tmp_path)["users"])
    order = list(range(len(rows[0])))
    random.Random(3).shuffle(order)
    shuffled = [[row[i] for i in order] for row in rows]
    entity = ENTITY_BY_NAME["users"]
    plain = read(entity, "1.1", "bulk", _write(rows))[0]
    assert read(entity, "1.1", "bulk", _write(shuffled, quote_all=True))[0] == plain


def test_solid_characters_are_those_no_check_trims_or_refuses():
    """What may start a fast value or make up a fast sourcedId: no white space (str.strip's
    sense), no control character, no comma, quote or backslash; everything else."""
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    solid = set(re.findall(canonical.SOLID, every))
    expected = {c for c in every if not c.isspace() and c not in ',"\\'
                and unicodedata.category(c) != "Cc"}
    assert solid == expected


#: Values that must not be taken as canonical, or must be read exactly as the checks read them.
AWKWARD = [
    " padded", "padded ", "\tpadded", "padded\u00a0", "\u3000padded", "in\u3000side", "a\\b",
    "with\x1fseparator", "with\x1eseparator", "", "TRUE", "False", "Student", "STUDENT",
    "2026-02-29", "2024-02-29", "2026-02-28", "0000-01-01", "2026-13-01", "2026-04-31",
    "2026-4-01", "26-04-01", "x y", "a,b", " a , b ", "a,,b", "a,", "id/with.ok@chars_-",
    "x" * 256, "x" * 255, "ünïcödé", "quote\"inside", "multi\nline", "2026-11-27T10:00:00Z",
    "2026-11-27T10:00:00.123+01:00", "2026-11-27 10:00", "active", "tobedeleted", "inactive",
    "Active", "١٢٣٤", "2026",
    # ids as SISes write them, booleans and dates as districts write them
    "stü-13", "{CLS:0007}", "a:b", "{LDAP:12},{LTI:15}", "x" * 254 + "ü", "c1\x85ctl", "c1\x9f",
    "nb\u00a0sp", "\u00a0", "{a}, {b}", "1", "0", "yes", "No", "Y", "2026-08-15T00:00:00Z",
    "2022-03-15T01:30:00.0000000+00:00", "2026-08-15 00:00:00.000", "2026-02-30T00:00:00Z",
    "2026-08-15T25:00:00Z", "08/15/2026", "2026-08-15T00:00", "\u2028lead", "trail\u205f",
    "\x80c1", "mid\u2009space", "\U0001f600-id",
]


def _mutated_lines(lines, rng, mutations):
    header, body = lines[0], [list(r) for r in _rows("".join(lines[1:]))]
    width = len(next(csv.reader([header])))
    out = []
    for row in body:
        for _ in range(rng.randint(0, mutations)):
            row[rng.randrange(width)] = rng.choice(AWKWARD)
        quoting = rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=rng.choice(["\n", "\r\n"]), quoting=quoting).writerow(
            row[: rng.choice([width, width, width, width - 1, width + 1])])
        out.append(buffer.getvalue())
        if rng.random() < 0.02:
            out.append(rng.choice(["\n", "\r\n", ",,,\n"]))
    return [header] + out


@pytest.mark.parametrize("version", ["1.1", "1.2"])
@pytest.mark.parametrize("mode", ["bulk", "delta"])
def test_awkward_values_read_the_same_either_way(tmp_path, version, mode):
    files = _generated(tmp_path, version)
    rng = random.Random(f"{version}{mode}")
    kept = fast = slow = 0
    for entity in entities_for(version):
        header_and_rows = files[entity.name].splitlines(keepends=True)
        if mode == "delta":  # deltas name a status on each row
            rows = _rows("".join(header_and_rows))
            status = rows[0].index("status")
            for row in rows[1:]:
                row[status] = rng.choice(["active", "active", "tobedeleted"])
            header_and_rows = _write(rows)
        header = header_and_rows[0].rstrip("\r\n") + ",metadata.note\n"
        body = [line.rstrip("\r\n") + rng.choice([",", ",", ",note"]) + "\n"
                for line in header_and_rows[1:400]]
        lines = _mutated_lines([header, *body], rng, mutations=2)
        kept += len(assert_same_both_ways(entity, version, mode, lines))
        reader = FileReader(entity, version, mode, IssueLog())
        list(reader.read(iter(lines[:1])))
        matched = sum(reader._fast_row(0, line) is not None for line in lines[1:])
        fast, slow = fast + matched, slow + len(lines) - 1 - matched
    assert kept > 400 and fast > 100 and slow > 300, (kept, fast, slow)  # both paths exercised
