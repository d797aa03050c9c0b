"""Deltas against a generated district: renamed users, and students changing classes as
pairs of a ``tobedeleted`` and a new enrollment, each row stamped with its
``dateLastModified``.
"""
from __future__ import annotations

import datetime
import itertools
import math
import os
import random
from collections.abc import Iterator

from .files import check_version, header, write_csv, write_package_manifest, write_zip
from .names import FAMILY_NAMES
from .people import person, user_row
from .shape import Cohort, District, School, SchoolYear, plan_district


def _scattered(population: int, count: int, rng: random.Random) -> Iterator[int]:
    """``count`` distinct indices of ``range(population)`` in a shuffled-looking order.

    An affine permutation ``(a*j + b) mod n`` with ``a`` coprime to ``n``: no list of the
    population, however large.
    """
    if population <= 0:
        return iter(())
    step = rng.randrange(1, population) if population > 1 else 1
    while math.gcd(step, population) != 1:
        step += 1
    offset = rng.randrange(population)
    return ((step * j + offset) % population for j in range(min(count, population)))


def modified_stamps(day: datetime.date) -> Iterator[str]:
    """Distinct ``dateLastModified`` values spread over the working day."""
    moment = datetime.datetime.combine(day, datetime.time(7, 0))
    for n in itertools.count():
        at = moment + datetime.timedelta(milliseconds=n * 1_237 % (12 * 3_600_000))
        yield at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _cohort_of(school: School, student: int) -> Cohort:
    for cohort in school.cohorts:
        if cohort.first_student <= student < cohort.first_student + cohort.size:
            return cohort
    raise LookupError(student)


def _moved_class(school: School, cohort: Cohort, section: int, slot: int,
                 rng: random.Random) -> int | None:
    """The class a student changes into: another section of the same course, or, when the
    grade has only one section, the same subject a grade up or down (acceleration)."""
    if cohort.sections > 1:
        other = (section + 1 + rng.randrange(cohort.sections - 1)) % cohort.sections
        return cohort.first_class + other * cohort.slots + slot
    others = [c for c in school.cohorts if c is not cohort and c.sections]
    if not others:
        return None
    nearest = min(others, key=lambda c: abs(c.first_student - cohort.first_student))
    return nearest.first_class + min(slot, nearest.slots - 1)


def _schedule_changes(district: District, year: SchoolYear, moves: int, rng: random.Random,
                      stamps: Iterator[str]) -> Iterator[tuple]:
    dates = (year.classes_begin, year.classes_end)
    for index in _scattered(district.students, moves, rng):
        student = index + 1
        school = district.school_of_student(student)
        cohort = _cohort_of(school, student)
        section, slot = cohort.section_of(student), rng.randrange(cohort.slots)
        target = _moved_class(school, cohort, section, slot, rng)
        if target is None:
            continue
        old = cohort.first_class + section * cohort.slots + slot
        sid, uid = school.sourced_id, f"stu-{student:07d}"
        yield (f"enr-{student:07d}-{slot}", "tobedeleted", next(stamps), f"cls-{old:06d}", sid,
               uid, "student", "", *dates)
        yield (f"enr-{student:07d}-cls-{target:06d}", "active", next(stamps),
               f"cls-{target:06d}", sid, uid, "student", "", *dates)


def _renamed_users(district: District, count: int, version: str, rng: random.Random,
                   stamps: Iterator[str]) -> Iterator[tuple]:
    """Existing users whose family name (and so mail address) changed; one in ten a teacher."""
    teachers = min(count // 10, district.teachers)
    for index in _scattered(district.students, count - teachers, rng):
        student = index + 1
        school = district.school_of_student(student)
        grade = _cohort_of(school, student).grade
        renamed = person(district, "stu", student, school.sourced_id, grade,
                         renamed=1 + rng.randrange(len(FAMILY_NAMES) - 1))
        yield user_row(renamed, version, "active", next(stamps))
    for index in _scattered(district.teachers, teachers, rng):
        school = district.school_of_teacher(index + 1)
        renamed = person(district, "tch", index + 1, school.sourced_id,
                         renamed=1 + rng.randrange(len(FAMILY_NAMES) - 1))
        yield user_row(renamed, version, "active", next(stamps))


class _CountingIterator:
    """Counts rows as they pass to the writer: a move can be skipped (a district whose only
    populated grade has one section has nowhere to move to), so the total is not known before."""

    def __init__(self, rows: Iterator[tuple]) -> None:
        self.rows, self.count = rows, 0

    def __iter__(self) -> Iterator[tuple]:
        for row in self.rows:
            self.count += 1
            yield row


def generate_delta(base_students: int, out_dir: str | os.PathLike, rows: int, *, seed: int = 0,
                   version: str = "1.1", today: datetime.date | None = None,
                   zip_path: str | os.PathLike | None = None) -> dict[str, int]:
    """Write a delta package of about ``rows`` rows against ``generate_district(base_students,
    seed=seed)``: renamed users, and schedule changes as pairs of a ``tobedeleted`` and a new
    enrollment. Which records change depends on ``seed`` and ``today``, so deltas of different
    days differ; ``today`` should fall in the base's school year.
    """
    check_version(version)
    district = plan_district(base_students, seed)
    today = today or datetime.date.today()
    year = SchoolYear.containing(today)
    rng = random.Random(f"delta:{seed}:{today.isoformat()}")
    moves = max(0, rows - rows // 3) // 2
    renames = max(0, rows - 2 * moves)
    stamps = modified_stamps(today)
    os.makedirs(out_dir, exist_ok=True)
    written = {"users": _CountingIterator(_renamed_users(district, renames, version, rng, stamps)),
               "enrollments": _CountingIterator(_schedule_changes(district, year, moves, rng,
                                                                  stamps))}
    for name, rows_of_file in written.items():
        write_csv(os.path.join(out_dir, f"{name}.csv"), header(name, version), [rows_of_file])
    counts = {name: rows_of_file.count for name, rows_of_file in written.items()}
    names = tuple(written)
    write_package_manifest(str(out_dir), version, dict.fromkeys(names, "delta"), seed)
    if zip_path is not None:
        write_zip(str(out_dir), names, str(zip_path))
    return {**counts, "total": sum(counts.values())}


