"""Synthetic OneRoster districts: a complete CSV bulk package, and deltas against it.

Writes the CSV binding of 1EdTech OneRoster 1.1 or 1.2
(https://www.imsglobal.org/oneroster-v11-final-csv-tables,
https://www.imsglobal.org/spec/oneroster/v1p2/bind/csv) for a made-up district of any size,
so that imports, syncs and their speed can be exercised without real student data.

Everything is a function of ``(students, seed, version, today)``: the same arguments give
byte-identical files, and every sourcedId is derived from an index so other code can
predict it:

- ``org-0000`` is the district, ``org-0001`` ... its schools;
- ``yr-2027`` is the 2026-27 school year, ``trm-2027-fall`` and ``trm-2027-spring`` its semesters;
- ``crs-000001`` ..., ``cls-000001`` ..., ``stu-0000001`` ..., ``tch-00001`` ...;
- ``adm-0000`` the district administrator, ``adm-<school>`` principals, ``aid-<school>`` aides;
- ``enr-<student>-<slot>`` a student's enrollment in the class of one slot of the day,
  ``enr-t<class>-1`` / ``-2`` a class's teacher and co-teacher, ``rol-<user>`` a 1.2 role.

Classes are year-long (both semesters in ``termSourcedIds``); the students of one section of
a grade share their six (elementary) or seven classes, so every student has 6-7 current
enrollments. Periods are staggered so neither students nor teachers have two classes at once.

Rows are streamed section by section, so memory stays flat whatever the district size.
Measured on one core (CPython 3.11, bulk 1.1): 100,000 students (0.8 million rows) in 1.9 s;
1,000,000 students (8.2 million rows, 760 MB of CSV) in 20 s, about 50,000 students/s or
410,000 rows/s, with a peak RSS of 20 MB. The zip adds about a quarter (deflate). A delta
of 100,000 rows against a 1,000,000-student base takes about a second.
"""
from __future__ import annotations

import bisect
import csv
import datetime
import functools
import itertools
import math
import os
import random
import shutil
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from al_roster.oneroster.entities import KNOWN_FILES
from al_roster.oneroster.manifest import write_manifest

CLASS_SIZE = 28
STUDENTS_PER_SCHOOL = 700
# A teacher's classes of one subject sit in consecutive sections, whose periods differ as long
# as a teacher has no more classes than there are periods in the day (six or seven).
MAX_TEACHER_LOAD = 6
# Every tenth section is an inclusion section: a co-teacher joins all of its classes.
CO_TEACHER_EVERY = 10

COMMON = ("sourcedId", "status", "dateLastModified")
COLUMNS = {
    "orgs": ("name", "type", "identifier", "parentSourcedId"),
    "academicSessions": ("title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear"),
    "courses": ("schoolYearSourcedId", "title", "courseCode", "grades", "orgSourcedId",
                "subjects", "subjectCodes"),
    "classes": ("title", "grades", "courseSourcedId", "classCode", "classType", "location",
                "schoolSourcedId", "termSourcedIds", "subjects", "subjectCodes", "periods"),
    "enrollments": ("classSourcedId", "schoolSourcedId", "userSourcedId", "role", "primary",
                    "beginDate", "endDate"),
    "roles": ("userSourcedId", "roleType", "role", "beginDate", "endDate", "orgSourcedId",
              "userProfileSourcedId"),
}
USERS_COLUMNS = {
    "1.1": ("enabledUser", "orgSourcedIds", "role", "username", "userIds", "givenName",
            "familyName", "middleName", "identifier", "email", "sms", "phone",
            "agentSourcedIds", "grades", "password"),
    "1.2": ("enabledUser", "username", "userIds", "givenName", "familyName", "middleName",
            "identifier", "email", "sms", "phone", "agentSourcedIds", "grades", "password",
            "userMasterIdentifier", "preferredGivenName", "preferredMiddleName",
            "preferredFamilyName", "primaryOrgSourcedId", "pronouns"),
}
# The order files are written in: what is referenced before what refers to it.
BULK_FILES = {
    "1.1": ("orgs", "academicSessions", "courses", "classes", "users", "enrollments"),
    "1.2": ("orgs", "academicSessions", "courses", "classes", "users", "roles", "enrollments"),
}


def header(name: str, version: str) -> tuple[str, ...]:
    """The spec-ordered header row of one CSV file."""
    return COMMON + (USERS_COLUMNS[version] if name == "users" else COLUMNS[name])


# --- names -------------------------------------------------------------------------------

GIVEN_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofía", "José", "Zoë", "Chloé",
    "Aaliyah", "Jayden", "Mía", "Lucas", "Amara", "Ethan", "Fatima", "Muhammad", "Priya",
    "Arjun", "Mei", "Hiroshi", "Yuki", "Seo-yeon", "Min-jun", "Anaïs", "Renée", "Björn",
    "Søren", "Łukasz", "Siobhán", "Aoife", "Ngozi", "Chidi", "Kwame", "Imani", "Dmitri",
    "Camila", "Santiago", "Valentina", "Diego", "Isabella", "Gabriel", "Elena", "Inês",
    "Đức", "Quỳnh", "Oluwaseun", "Leilani", "Kai", "Malia", "Jürgen", "Aiyana", "Dakota",
    "Jean-Luc", "Mary Ann", "D'Andre", "Þóra", "Çağlar", "Noémie",
)
FAMILY_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Martínez", "Rodríguez",
    "Hernández", "López", "González", "Pérez", "Sánchez", "Nguyễn", "Trần", "Lê", "Phạm",
    "Đặng", "Kim", "Lee", "Park", "Chen", "Wang", "Zhang", "Patel", "Shah", "Singh", "Khan",
    "Ahmed", "O'Brien", "O'Connor", "McDonald", "MacLeod", "D'Angelo", "Müller", "Schröder",
    "Kowalczyk", "Wójcik", "Nowak", "Jørgensen", "Ólafsdóttir", "Ivanova", "Okafor",
    "Adeyemi", "Mensah", "Van der Berg", "De la Cruz", "Smith-Jones", "St. James", "Begay",
    "Yazzie", "Kealoha", "Cohen", "Rossi", "Dubois", "Lefèvre", "Nakamura", "Tanaka",
    "Haddad", "Yılmaz", "Öztürk", "Çelik", "Kuznetsov",
)
PLACES = ("Lakeside", "Cedar Valley", "Riverside", "Maple Grove", "Pine Ridge", "Española Valley",
          "Red Rock", "Harbor Point", "Prairie View", "Mānoa")
NAMESAKES = (
    "Abraham Lincoln", "César Chávez", "Maya Angelou", "Sojourner Truth", "Roberto Clemente",
    "Ellen Ochoa", "Dolores Huerta", "Sally Ride", "Frederick Douglass", "Harriet Tubman",
    "Sequoyah", "Patsy Mink", "Mae Jemison", "Thurgood Marshall", "Rosa Parks",
    "Jackie Robinson", "Amelia Earhart", "Booker T. Washington", "Sonia Sotomayor", "Hillcrest",
    "Westview", "Riverbend", "Oak Grove", "Maple Heights", "Lakeview", "Sunnyside",
    "Meadowbrook", "Eastside", "Northgate", "Cedar Creek", "Willow Springs", "Bayside",
    "Highland", "Fairview", "Valle Verde", "Las Lomas", "Mesa Vista",
)
# NFKD leaves these letters whole; usernames and mail addresses must be plain ASCII.
_ASCII_LETTERS = str.maketrans({"Đ": "D", "đ": "d", "Ł": "L", "ł": "l", "Ø": "O", "ø": "o",
                                "ı": "i", "ß": "ss", "Þ": "Th", "þ": "th", "Æ": "Ae", "æ": "ae"})


def ascii_slug(name: str) -> str:
    """``"Nguyễn" -> "nguyen"``, ``"O'Brien" -> "obrien"``: a name as a login or mail part."""
    plain = unicodedata.normalize("NFKD", name.translate(_ASCII_LETTERS))
    return "".join(c for c in plain if c.isascii() and c.isalnum()).lower()


_GIVEN_SLUGS = tuple(map(ascii_slug, GIVEN_NAMES))
_FAMILY_SLUGS = tuple(map(ascii_slug, FAMILY_NAMES))


def _name_hash(seed: int, salt: int, index: int) -> int:
    # A cheap integer mix: names must follow from the index alone (a delta re-derives a user
    # without replaying a random stream), yet look unrelated between neighbours.
    h = (index * 0x9E3779B1 + seed * 0x85EBCA6B + salt * 0xC2B2AE35) & 0xFFFFFFFF
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & 0xFFFFFFFF
    return h ^ (h >> 12)


# --- the plan of a district ----------------------------------------------------------------

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


# --- people ------------------------------------------------------------------------------

class Person(NamedTuple):
    sourced_id: str
    role: str  # 1.1 users.role
    role_12: str  # 1.2 roles.role
    org: str
    given: str
    family: str
    middle: str
    username: str
    email: str
    identifier: str
    user_ids: str
    grade: str = ""


# Disjoint LDAP uidNumber ranges per kind of user.
LDAP_BASE = {"stu": 10_000_000, "tch": 5_000_000, "adm": 4_000_000, "aid": 4_500_000}
_SALT = {"stu": 1, "tch": 2, "adm": 3, "aid": 4}


def _person(district: District, prefix: str, index: int, org: str, grade: str = "",
            renamed: int = 0) -> Person:
    """A user as a function of its kind and index; ``renamed`` shifts the family name."""
    h = _name_hash(district.seed, _SALT[prefix], index)
    gi, fi = h % len(GIVEN_NAMES), (h >> 8) % len(FAMILY_NAMES)
    new_fi = (fi + renamed) % len(FAMILY_NAMES)
    middle = GIVEN_NAMES[(h >> 16) % len(GIVEN_NAMES)] if h % 3 == 0 else ""
    given, gslug = GIVEN_NAMES[gi], _GIVEN_SLUGS[gi]
    ldap = f"{{LDAP:{LDAP_BASE[prefix] + index}}}"
    if prefix == "stu":
        sourced_id = f"stu-{index:07d}"
        username = f"{gslug}.{_FAMILY_SLUGS[fi]}{index}"
        email = f"{gslug}.{_FAMILY_SLUGS[new_fi]}{index}@students.{district.domain}"
        return Person(sourced_id, "student", "student", org, given, FAMILY_NAMES[new_fi],
                      middle, username, email, f"S{index:07d}", f"{ldap},{{SIS:S{index:07d}}}",
                      grade)
    sourced_id = f"tch-{index:05d}" if prefix == "tch" else f"{prefix}-{index:04d}"
    compact = sourced_id.replace("-", "")
    role, role_12 = {"tch": ("teacher", "teacher"), "aid": ("aide", "aide")}.get(
        prefix, ("administrator", "principal" if index else "districtAdministrator"))
    return Person(sourced_id, role, role_12, org, given, FAMILY_NAMES[new_fi], middle,
                  f"{gslug[0]}{_FAMILY_SLUGS[fi]}.{compact}",
                  f"{gslug}.{_FAMILY_SLUGS[new_fi]}.{compact}@{district.domain}",
                  compact.upper(), ldap)


def _people_of(district: District, school: School) -> Iterator[Person]:
    org = school.sourced_id
    yield _person(district, "adm", school.number, org)
    yield _person(district, "aid", school.number, org)
    for teacher in range(school.first_teacher, school.first_teacher + school.teachers):
        yield _person(district, "tch", teacher, org)
    for cohort in school.cohorts:
        for student in range(cohort.first_student, cohort.first_student + cohort.size):
            yield _person(district, "stu", student, org, cohort.grade)


def _people(district: District) -> Iterator[Person]:
    yield _person(district, "adm", 0, "org-0000")
    for school in district.schools:
        yield from _people_of(district, school)


def _user_row(p: Person, version: str, status: str = "", modified: str = "") -> tuple:
    if version == "1.1":
        return (p.sourced_id, status, modified, "true", p.org, p.role, p.username, p.user_ids,
                p.given, p.family, p.middle, p.identifier, p.email, "", "", "", p.grade, "")
    return (p.sourced_id, status, modified, "true", p.username, p.user_ids, p.given, p.family,
            p.middle, p.identifier, p.email, "", "", "", p.grade, "", "", "", "", "", p.org, "")


def _role_row(p: Person) -> tuple:
    return (f"rol-{p.sourced_id}", "", "", p.sourced_id, "primary", p.role_12, "", "", p.org, "")


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


# --- bulk rows -----------------------------------------------------------------------------

def _org_rows(district: District) -> Iterator[tuple]:
    code = f"D{district.seed:04d}"
    yield ("org-0000", "", "", district.name, "district", code, "")
    for school in district.schools:
        yield (school.sourced_id, "", "", school.name, "school",
               f"{code}-S{school.number:04d}", "org-0000")


def _course_title(level: str, slot: int, grade: str) -> tuple[str, str, str]:
    code, subject, titles = SUBJECTS[level][slot]
    if isinstance(titles, str):
        label = "Kindergarten" if grade == "KG" else f"Grade {int(grade)}"
        return f"{code}{grade}", subject, titles.format(grade=label)
    return f"{code}{grade}", subject, titles[LEVEL_GRADES[level].index(grade)]


def _course_rows(district: District, year: SchoolYear) -> Iterator[tuple]:
    for school in district.schools:
        for cohort in school.cohorts:
            for slot in range(cohort.slots):
                code, subject, title = _course_title(cohort.level, slot, cohort.grade)
                yield (f"crs-{cohort.first_course + slot:06d}", "", "", year.sourced_id, title,
                       code, cohort.grade, school.sourced_id, subject, "")


def _sections(district: District) -> Iterator[tuple[School, Band, Cohort, int]]:
    for school in district.schools:
        for band in school.bands:
            for cohort in band.cohorts:
                for section in range(cohort.sections):
                    yield school, band, cohort, section


def _room(school: School, teacher: int) -> str:
    number = teacher - school.first_teacher + 101
    # Some rooms are in an annex: a location with a comma, which the CSV must quote.
    return f"Room {number}, Annex" if number % 12 == 0 else f"Room {number}"


def _class_rows(district: District, year: SchoolYear) -> Iterator[tuple]:
    for school, band, cohort, section in _sections(district):
        r = cohort.band_offset + section
        for slot in range(cohort.slots):
            code, subject, title = _course_title(cohort.level, slot, cohort.grade)
            period = (slot + r) % cohort.slots + 1
            yield (f"cls-{cohort.first_class + section * cohort.slots + slot:06d}", "", "",
                   f"{title} - Period {period}", cohort.grade,
                   f"crs-{cohort.first_course + slot:06d}", f"{code}-{section + 1:02d}",
                   "scheduled", _room(school, band.teacher(slot, r)), school.sourced_id,
                   year.terms, subject, "", str(period))


def _teacher_enrollments(band: Band, cohort: Cohort, section: int, school_id: str,
                         dates: tuple[str, str]) -> list[tuple]:
    r, rows = cohort.band_offset + section, []
    co_teacher = band.co_teacher(r)
    for slot in range(cohort.slots):
        klass = cohort.first_class + section * cohort.slots + slot
        rows.append((f"enr-t{klass:06d}-1", "", "", f"cls-{klass:06d}", school_id,
                     f"tch-{band.teacher(slot, r):05d}", "teacher", "true", *dates))
        if co_teacher is not None:
            rows.append((f"enr-t{klass:06d}-2", "", "", f"cls-{klass:06d}", school_id,
                         f"tch-{co_teacher:05d}", "teacher", "false", *dates))
    return rows


def _enrollment_batches(district: District, year: SchoolYear) -> Iterator[Iterable[tuple]]:
    begin, end = year.classes_begin, year.classes_end
    for school, band, cohort, section in _sections(district):
        sid = school.sourced_id
        yield _teacher_enrollments(band, cohort, section, sid, (begin, end))
        first = cohort.first_class + section * cohort.slots
        classes = [(str(slot), f"cls-{first + slot:06d}") for slot in range(cohort.slots)]
        # The hot loop of the whole module (most rows are here): one generator expression,
        # no calls per row.
        yield ((f"enr-{n}-{slot}", "", "", cid, sid, f"stu-{n}", "student", "", begin, end)
               for n in map("{:07d}".format, cohort.students_of(section))
               for slot, cid in classes)


# --- writing -------------------------------------------------------------------------------

def _write_csv(path: str, columns: Iterable[str], batches: Iterable[Iterable[tuple]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for batch in batches:
            writer.writerows(batch)


def _write_zip(out_dir: str, names: Iterable[str], zip_path: str) -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ["manifest", *names]:
            path = os.path.join(out_dir, f"{name}.csv")
            # A fixed timestamp keeps the zip byte-identical between runs; the known size
            # lets zipfile switch to zip64 for files over 2 GiB.
            info = zipfile.ZipInfo(f"{name}.csv", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            info.file_size = os.path.getsize(path)
            with open(path, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def _check_version(version: str) -> None:
    if version not in KNOWN_FILES:
        raise ValueError(f"OneRoster version {version!r} is not supported (1.1 or 1.2).")


def generate_district(out_dir: str | os.PathLike, students: int, *, seed: int = 0,
                      version: str = "1.1", today: datetime.date | None = None,
                      zip_path: str | os.PathLike | None = None) -> dict[str, int]:
    """Write a bulk OneRoster CSV package for a district of ``students`` students.

    Returns the number of rows per file and their ``total`` (the manifest not counted).
    """
    _check_version(version)
    district = plan_district(students, seed)
    year = SchoolYear.containing(today or datetime.date.today())
    os.makedirs(out_dir, exist_ok=True)
    batches = {
        "orgs": [_org_rows(district)],
        "academicSessions": [year.session_rows()],
        "courses": [_course_rows(district, year)],
        "classes": [_class_rows(district, year)],
        "users": [(_user_row(p, version) for p in _people(district))],
        "roles": [map(_role_row, _people(district))],
        "enrollments": _enrollment_batches(district, year),
    }
    names = BULK_FILES[version]
    for name in names:
        _write_csv(os.path.join(out_dir, f"{name}.csv"), header(name, version), batches[name])
    _write_manifest(out_dir, version, dict.fromkeys(names, "bulk"), seed)
    if zip_path is not None:
        _write_zip(str(out_dir), names, str(zip_path))
    counts = {name: district.counts[name] for name in names}
    return {**counts, "total": sum(counts.values())}


# --- delta ---------------------------------------------------------------------------------

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


def _stamps(day: datetime.date) -> Iterator[str]:
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
        person = _person(district, "stu", student, school.sourced_id, grade,
                         renamed=1 + rng.randrange(len(FAMILY_NAMES) - 1))
        yield _user_row(person, version, "active", next(stamps))
    for index in _scattered(district.teachers, teachers, rng):
        school = district.school_of_teacher(index + 1)
        person = _person(district, "tch", index + 1, school.sourced_id,
                         renamed=1 + rng.randrange(len(FAMILY_NAMES) - 1))
        yield _user_row(person, version, "active", next(stamps))


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
    _check_version(version)
    district = plan_district(base_students, seed)
    today = today or datetime.date.today()
    year = SchoolYear.containing(today)
    rng = random.Random(f"delta:{seed}:{today.isoformat()}")
    moves = max(0, rows - rows // 3) // 2
    renames = max(0, rows - 2 * moves)
    stamps = _stamps(today)
    os.makedirs(out_dir, exist_ok=True)
    written = {"users": _CountingIterator(_renamed_users(district, renames, version, rng, stamps)),
               "enrollments": _CountingIterator(_schedule_changes(district, year, moves, rng,
                                                                  stamps))}
    for name, rows_of_file in written.items():
        _write_csv(os.path.join(out_dir, f"{name}.csv"), header(name, version), [rows_of_file])
    counts = {name: rows_of_file.count for name, rows_of_file in written.items()}
    names = tuple(written)
    _write_manifest(str(out_dir), version, dict.fromkeys(names, "delta"), seed)
    if zip_path is not None:
        _write_zip(str(out_dir), names, str(zip_path))
    return {**counts, "total": sum(counts.values())}


def _write_manifest(out_dir, version: str, modes: dict[str, str], seed: int) -> None:
    write_manifest(out_dir, version, modes, system_name="al_roster district generator",
                   system_code=f"seed-{seed}")
