"""The people of a made-up district: a user as a function of its kind and index, and their
``users.csv`` and ``roles.csv`` rows.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from .names import FAMILY_NAMES, FAMILY_SLUGS, GIVEN_NAMES, GIVEN_SLUGS, name_hash
from .shape import District, School


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


def person(district: District, prefix: str, index: int, org: str, grade: str = "",
            renamed: int = 0) -> Person:
    """A user as a function of its kind and index; ``renamed`` shifts the family name."""
    h = name_hash(district.seed, _SALT[prefix], index)
    gi, fi = h % len(GIVEN_NAMES), (h >> 8) % len(FAMILY_NAMES)
    new_fi = (fi + renamed) % len(FAMILY_NAMES)
    middle = GIVEN_NAMES[(h >> 16) % len(GIVEN_NAMES)] if h % 3 == 0 else ""
    given, gslug = GIVEN_NAMES[gi], GIVEN_SLUGS[gi]
    ldap = f"{{LDAP:{LDAP_BASE[prefix] + index}}}"
    if prefix == "stu":
        sourced_id = f"stu-{index:07d}"
        username = f"{gslug}.{FAMILY_SLUGS[fi]}{index}"
        email = f"{gslug}.{FAMILY_SLUGS[new_fi]}{index}@students.{district.domain}"
        return Person(sourced_id, "student", "student", org, given, FAMILY_NAMES[new_fi],
                      middle, username, email, f"S{index:07d}", f"{ldap},{{SIS:S{index:07d}}}",
                      grade)
    sourced_id = f"tch-{index:05d}" if prefix == "tch" else f"{prefix}-{index:04d}"
    compact = sourced_id.replace("-", "")
    role, role_12 = {"tch": ("teacher", "teacher"), "aid": ("aide", "aide")}.get(
        prefix, ("administrator", "principal" if index else "districtAdministrator"))
    return Person(sourced_id, role, role_12, org, given, FAMILY_NAMES[new_fi], middle,
                  f"{gslug[0]}{FAMILY_SLUGS[fi]}.{compact}",
                  f"{gslug}.{FAMILY_SLUGS[new_fi]}.{compact}@{district.domain}",
                  compact.upper(), ldap)


def _people_of(district: District, school: School) -> Iterator[Person]:
    org = school.sourced_id
    yield person(district, "adm", school.number, org)
    yield person(district, "aid", school.number, org)
    for teacher in range(school.first_teacher, school.first_teacher + school.teachers):
        yield person(district, "tch", teacher, org)
    for cohort in school.cohorts:
        for student in range(cohort.first_student, cohort.first_student + cohort.size):
            yield person(district, "stu", student, org, cohort.grade)


def people(district: District) -> Iterator[Person]:
    yield person(district, "adm", 0, "org-0000")
    for school in district.schools:
        yield from _people_of(district, school)


def user_row(p: Person, version: str, status: str = "", modified: str = "") -> tuple:
    if version == "1.1":
        return (p.sourced_id, status, modified, "true", p.org, p.role, p.username, p.user_ids,
                p.given, p.family, p.middle, p.identifier, p.email, "", "", "", p.grade, "")
    return (p.sourced_id, status, modified, "true", p.username, p.user_ids, p.given, p.family,
            p.middle, p.identifier, p.email, "", "", "", p.grade, "", "", "", "", "", p.org, "")


def role_row(p: Person) -> tuple:
    return (f"rol-{p.sourced_id}", "", "", p.sourced_id, "primary", p.role_12, "", "", p.org, "")

