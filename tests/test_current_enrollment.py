"""One rule for a current student enrollment, read three ways: the SQL sign-in and the
reconciliation run, the peewee condition the import counts with, and the Python "why"
weighs. On a table of cases all three give the same verdict, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest

from al_roster.models import Enrollment, database, partitions
from al_roster.models.current import CURRENT, CURRENT_STUDENT

DAY = dt.date(2030, 3, 15)
BEFORE, AFTER = DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1)

CASES = [
    # (name, role, removed, begin, end, current student enrollment on DAY)
    ("open-ended", "student", None, None, None, True),
    ("within its dates", "student", None, BEFORE, AFTER, True),
    ("begins on the day", "student", None, DAY, None, True),
    ("ends on the day", "student", None, None, DAY, True),
    ("one-day enrollment", "student", None, DAY, DAY, True),
    ("ended the day before", "student", None, None, BEFORE, False),
    ("begins the day after", "student", None, AFTER, None, False),
    ("removed", "student", 7, None, None, False),
    ("removed, dates current", "student", 7, BEFORE, AFTER, False),
    ("a teacher's", "teacher", None, None, None, False),
    ("an aide's", "aide", None, BEFORE, AFTER, False),
    ("ended a year ago", "student", None, dt.date(2029, 1, 1), dt.date(2029, 6, 30), False),
]


@pytest.fixture
def enrollments(app):
    partitions.ensure_partition(database.obj, Enrollment._meta.table_name, 1)
    for i, (_name, role, removed, begin, end, _current) in enumerate(CASES):
        Enrollment.create(district_id=1, sourced_id=f"enr-{i}", class_sourced_id="cls-1",
                          user_sourced_id=f"u-{i}", role=role, begin_date=begin, end_date=end,
                          removed_run_id=removed, row_hash=0, first_run_id=1, last_run_id=1)
    return {e.sourced_id: e for e in Enrollment.select()}


def test_sql_peewee_and_python_agree(enrollments):
    table, p = Enrollment._meta.table_name, database.param
    by_sql = {r[0] for r in database.execute_sql(
        f'SELECT e.sourced_id FROM "{table}" e WHERE {CURRENT_STUDENT.sql("e", p)}',
        CURRENT_STUDENT.params(DAY)).fetchall()}
    by_peewee = {e.sourced_id for e in
                 Enrollment.select().where(CURRENT_STUDENT.condition(Enrollment, DAY))}
    by_python = {s for s, e in enrollments.items() if CURRENT_STUDENT.holds(e, DAY)}
    expected = {f"enr-{i}" for i, case in enumerate(CASES) if case[-1]}
    names = {f"enr-{i}": case[0] for i, case in enumerate(CASES)}
    assert sorted(names[s] for s in by_sql) == sorted(names[s] for s in expected)
    assert by_peewee == expected
    assert by_python == expected


def test_python_names_what_failed(enrollments):
    failing = {CASES[int(s.split("-")[1])][0]: CURRENT.failing(e, DAY)
               for s, e in enrollments.items()}
    assert failing["ended the day before"] == ["ended"]
    assert failing["begins the day after"] == ["not_begun"]
    assert failing["removed, dates current"] == ["removed"]
    assert failing["a teacher's"] == []  # current, but not a student's
    assert CURRENT_STUDENT.failing(enrollments["enr-9"], DAY) == ["not_a_student"]
