"""The shape of a made-up district: schools, grades, sections, teachers and the school year,
as index ranges without any rows.

Every sourcedId the generator writes follows from these indices (see
:mod:`al_roster.demo.generator`), so rows can be streamed and deltas re-derive records.
"""
from __future__ import annotations

import bisect
import datetime
import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from .names import NAMESAKES, PLACES, ascii_slug

CLASS_SIZE = 28
STUDENTS_PER_SCHOOL = 700
# A teacher's classes of one subject sit in consecutive sections, whose periods differ as long
# as a teacher has no more classes than there are periods in the day (six or seven).
MAX_TEACHER_LOAD = 6
# Every tenth section is an inclusion section: a co-teacher joins all of its classes.
CO_TEACHER_EVERY = 10


LEVEL_GRADES = {
    "elementary": ("KG", "01", "02", "03", "04", "05"),
    "middle": ("06", "07", "08"),
    "high": ("09", "10", "11", "12"),
}
# (code, subject, title): a title is a format for every grade or one title per grade.
SUBJECTS = {
    "elementary": (
        ("ELA", "English Language Arts", "English Language Arts, {grade}"),
        ("MATH", "Mathematics", "Mathematics, {grade}"),
        ("SCI", "Science", "Science, {grade}"),
        ("SS", "Social Studies", "Social Studies, {grade}"),
        ("MUS", "Music", "Music, {grade}"),
        ("PE", "Physical Education", "Physical Education, {grade}"),
    ),
    "middle": (
        ("ELA", "English Language Arts", "English {grade}"),
        ("MATH", "Mathematics", "Math {grade}"),
        ("SCI", "Science", "Science {grade}"),
        ("SS", "Social Studies", "Social Studies {grade}"),
        ("SPAN", "World Languages", "Spanish {grade}"),
        ("PE", "Physical Education", "Health and PE {grade}"),
        ("ART", "Visual Arts", "Art {grade}"),
    ),
    "high": (
        ("ENG", "English Language Arts",
         ("English 9", "English 10", "American Literature", "British Literature")),
        ("MATH", "Mathematics", ("Algebra I", "Geometry", "Algebra II", "Precalculus")),
        ("SCI", "Science", ("Biology", "Chemistry", "Physics", "Environmental Science")),
        ("SS", "Social Studies",
         ("World History", "U.S. History", "Government and Economics", "Psychology")),
        ("WL", "World Languages",
         ("Spanish I", "Spanish II", "Spanish III", "Español para hispanohablantes")),
        ("PE", "Physical Education",
         ("Health and PE 9", "PE 10", "Lifetime Fitness", "Yoga and Wellness")),
        ("CS", "Computer Science", ("Intro to Computer Science", "Web Design",
                                    "AP Computer Science Principles", "AP Computer Science A")),
    ),
}
SCHOOL_KINDS = {
    "elementary": ("Elementary School", ("elementary",)),
    "middle": ("Middle School", ("middle",)),
    "high": ("High School", ("high",)),
    "secondary": ("Junior/Senior High School", ("middle", "high")),
    "k12": ("School", ("elementary", "middle", "high")),
}


@dataclass(frozen=True)
class Cohort:
    """The students of one grade in one school, split into sections of about 28."""

    grade: str
    level: str
    first_student: int
    size: int
    sections: int
    band_offset: int  # sections of earlier grades in the band: staggers periods and teachers
    first_course: int
    first_class: int

    @property
    def slots(self) -> int:
        return len(SUBJECTS[self.level])

    def students_of(self, section: int) -> range:
        lo = -(-section * self.size // self.sections)
        hi = -(-(section + 1) * self.size // self.sections)
        return range(self.first_student + lo, self.first_student + hi)

    def section_of(self, student: int) -> int:
        return (student - self.first_student) * self.sections // self.size


@dataclass(frozen=True)
class Band:
    """The grades of one school level (elementary, middle, high) and their teachers."""

    level: str
    cohorts: tuple[Cohort, ...]
    sections: int
    chunks: int  # teachers per subject
    first_teacher: int

    def teacher(self, slot: int, section: int) -> int:
        return self.first_teacher + slot * self.chunks + section * self.chunks // self.sections

    def co_teacher(self, section: int) -> int | None:
        if section % CO_TEACHER_EVERY:
            return None
        return (self.first_teacher + self.chunks * len(SUBJECTS[self.level])
                + section // CO_TEACHER_EVERY)


@dataclass(frozen=True)
class School:
    number: int
    name: str
    bands: tuple[Band, ...]
    first_student: int
    first_teacher: int
    teachers: int

    @property
    def sourced_id(self) -> str:
        return f"org-{self.number:04d}"

    @property
    def cohorts(self) -> Iterator[Cohort]:
        return (cohort for band in self.bands for cohort in band.cohorts)


@dataclass(frozen=True)
class District:
    seed: int
    name: str
    domain: str
    schools: tuple[School, ...]
    students: int
    teachers: int
    counts: dict[str, int]

    @functools.cached_property
    def _student_starts(self) -> list[int]:
        return [school.first_student for school in self.schools]

    @functools.cached_property
    def _teacher_starts(self) -> list[int]:
        return [school.first_teacher for school in self.schools]

    def school_of_student(self, student: int) -> School:
        return self.schools[bisect.bisect_right(self._student_starts, student) - 1]

    def school_of_teacher(self, teacher: int) -> School:
        return self.schools[bisect.bisect_right(self._teacher_starts, teacher) - 1]


def _school_kinds(schools: int) -> list[str]:
    if schools == 1:
        return ["k12"]
    if schools == 2:
        return ["elementary", "secondary"]
    high = max(1, round(schools * 0.2))
    middle = max(1, round(schools * 0.25))
    return ["elementary"] * (schools - high - middle) + ["middle"] * middle + ["high"] * high


def _school_sizes(students: int, kinds: list[str]) -> list[int]:
    # Students per grade are even across the district, so a school's share is its number of
    # grades divided by the number of schools of its kind (high schools come out largest).
    weights = [Fraction(sum(len(LEVEL_GRADES[lv]) for lv in SCHOOL_KINDS[kind][1]),
                        kinds.count(kind)) for kind in kinds]
    total, bounds, running = sum(weights), [0], Fraction(0)
    for weight in weights:
        running += weight
        bounds.append(int(students * running / total))
    return [hi - lo for lo, hi in itertools.pairwise(bounds)]


class _Counters:
    """Running global indices while a district is planned."""

    def __init__(self) -> None:
        self.student = self.teacher = self.course = self.klass = 1
        self.enrollments = 0


def _plan_band(level: str, sizes: list[int], at: _Counters) -> Band:
    cohorts, offset = [], 0
    for grade, size in zip(LEVEL_GRADES[level], sizes, strict=True):
        sections = max(1, (size + CLASS_SIZE // 2) // CLASS_SIZE) if size else 0
        cohort = Cohort(grade, level, at.student, size, sections, offset, at.course, at.klass)
        cohorts.append(cohort)
        offset += sections
        at.student += size
        at.course += cohort.slots
        at.klass += sections * cohort.slots
        at.enrollments += size * cohort.slots + sections * cohort.slots
    slots = len(SUBJECTS[level])
    chunks = -(-offset // MAX_TEACHER_LOAD)
    co_teachers = -(-offset // CO_TEACHER_EVERY)
    at.enrollments += co_teachers * slots
    band = Band(level, tuple(cohorts), offset, chunks, at.teacher)
    at.teacher += slots * chunks + co_teachers
    return band


def _plan_school(number: int, kind: str, size: int, seed: int, at: _Counters) -> School:
    label, levels = SCHOOL_KINDS[kind]
    grades = [grade for level in levels for grade in LEVEL_GRADES[level]]
    sizes = [size * (g + 1) // len(grades) - size * g // len(grades) for g in range(len(grades))]
    first_student, first_teacher = at.student, at.teacher
    bands, start = [], 0
    for level in levels:
        count = len(LEVEL_GRADES[level])
        bands.append(_plan_band(level, sizes[start:start + count], at))
        start += count
    cycle, pick = divmod(number - 1 + seed, len(NAMESAKES))
    name = f"{NAMESAKES[pick]} {label}" + (f" - Campus {cycle + 1}" if cycle else "")
    return School(number, name, tuple(bands), first_student, first_teacher,
                  at.teacher - first_teacher)


def plan_district(students: int, seed: int = 0) -> District:
    """Schools, grades, sections and index ranges of a district, without any rows."""
    if students < 1:
        raise ValueError("A district needs at least one student.")
    kinds = _school_kinds(max(1, round(students / STUDENTS_PER_SCHOOL)))
    at = _Counters()
    schools = tuple(_plan_school(number, kind, size, seed, at) for number, (kind, size)
                    in enumerate(zip(kinds, _school_sizes(students, kinds), strict=True), start=1))
    users = students + (at.teacher - 1) + 1 + 2 * len(schools)
    counts = {"orgs": 1 + len(schools), "academicSessions": 3, "courses": at.course - 1,
              "classes": at.klass - 1, "users": users, "roles": users,
              "enrollments": at.enrollments}
    place = PLACES[seed % len(PLACES)]
    return District(seed, f"{place} Unified School District", f"{ascii_slug(place)}.example.org",
                    schools, students, at.teacher - 1, counts)



# --- calendar ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SchoolYear:
    """The school year containing a date: July 1 to June 30, two semesters inside."""

    end_year: int

    @classmethod
    def containing(cls, day: datetime.date) -> SchoolYear:
        return cls(day.year + 1 if day.month >= 7 else day.year)

    @property
    def sourced_id(self) -> str:
        return f"yr-{self.end_year}"

    @property
    def terms(self) -> str:
        return f"trm-{self.end_year}-fall,trm-{self.end_year}-spring"

    @property
    def classes_begin(self) -> str:
        return f"{self.end_year - 1}-08-15"

    @property
    def classes_end(self) -> str:
        return f"{self.end_year}-06-10"

    def session_rows(self) -> list[tuple]:
        start, end, year = self.end_year - 1, self.end_year, str(self.end_year)
        return [
            (self.sourced_id, "", "", f"{start}-{end}", "schoolYear", f"{start}-07-01",
             f"{end}-06-30", "", year),
            (f"trm-{end}-fall", "", "", f"Fall {start}", "semester", f"{start}-08-15",
             f"{end}-01-15", self.sourced_id, year),
            (f"trm-{end}-spring", "", "", f"Spring {end}", "semester", f"{end}-01-16",
             f"{end}-06-10", self.sourced_id, year),
        ]


