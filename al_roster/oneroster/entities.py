"""The OneRoster rostering entities this product keeps, as the CSV binding describes them.

OneRoster 1.1 and 1.2 CSV binding (1EdTech): every file starts with
``sourcedId,status,dateLastModified``; the columns after those are listed here in spec
order. A column's ``kind`` says how its values are checked and normalised, ``required``
whether a present record must have it, and ``refers_to`` which entity its sourcedIds point at.
``stored=False`` columns are read (so the header is understood) but never kept: passwords.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ORG_TYPES = frozenset({"department", "school", "district", "local", "state", "national"})
SESSION_TYPES = frozenset({"gradingPeriod", "semester", "schoolYear", "term"})
CLASS_TYPES = frozenset({"homeroom", "scheduled"})
USER_ROLES_V1P1 = frozenset({
    "administrator", "aide", "guardian", "parent", "proctor", "relative", "student", "teacher",
})
USER_ROLES_V1P2 = frozenset({
    "aide", "counselor", "districtAdministrator", "guardian", "parent", "principal", "proctor",
    "relative", "siteAdministrator", "student", "systemAdministrator", "teacher",
})
ENROLLMENT_ROLES = frozenset({"administrator", "proctor", "student", "teacher"})
ROLE_TYPES = frozenset({"primary", "secondary"})

#: Files of each version the manifest may name; only ENTITIES below are read.
KNOWN_FILES = {
    "1.1": (
        "academicSessions", "categories", "classes", "classResources", "courses",
        "courseResources", "demographics", "enrollments", "lineItems", "orgs", "resources",
        "results", "users",
    ),
}
KNOWN_FILES["1.2"] = KNOWN_FILES["1.1"] + (
    "roles", "userProfiles", "userResources", "scoreScales", "lineItemScoreScales",
    "resultScoreScales", "lineItemLearningObjectiveIds", "resultLearningObjectiveIds",
)
VERSIONS = tuple(KNOWN_FILES)
LEADING_COLUMNS = ("sourcedId", "status", "dateLastModified")


@dataclass(frozen=True)
class Column:
    """One CSV column after the three leading ones."""

    name: str
    kind: str = "text"  # text | id | ids | bool | date | year | enum | list
    required: bool = False
    vocab: frozenset[str] | None = None
    refers_to: str | None = None
    stored: bool = True

    @property
    def attr(self) -> str:
        """The column's name in the database: ``orgSourcedIds`` -> ``org_sourced_ids``."""
        return "".join("_" + c.lower() if c.isupper() else c for c in self.name)


@dataclass(frozen=True)
class Entity:
    """One OneRoster file and the roster-copy table that mirrors it."""

    name: str  # the file stem and the JSON key: "academicSessions"
    columns_by_version: dict[str, tuple[Column, ...]] = field(hash=False)

    def columns(self, version: str) -> tuple[Column, ...]:
        return self.columns_by_version[version]

    def stored_columns(self, version: str) -> tuple[Column, ...]:
        return tuple(c for c in self.columns(version) if c.stored)

    def header(self, version: str) -> tuple[str, ...]:
        """The file's header row in spec order, the three leading columns first."""
        return LEADING_COLUMNS + tuple(c.name for c in self.columns(version))

    @property
    def file_name(self) -> str:
        return self.name + ".csv"


def _same(columns: tuple[Column, ...]) -> dict[str, tuple[Column, ...]]:
    return {"1.1": columns, "1.2": columns}


ORGS = Entity("orgs", _same((
    Column("name", required=True),
    Column("type", "enum", True, ORG_TYPES),
    Column("identifier"),
    Column("parentSourcedId", "id", refers_to="orgs"),
)))

ACADEMIC_SESSIONS = Entity("academicSessions", _same((
    Column("title", required=True),
    Column("type", "enum", True, SESSION_TYPES),
    Column("startDate", "date", True),
    Column("endDate", "date", True),
    Column("parentSourcedId", "id", refers_to="academicSessions"),
    Column("schoolYear", "year", True),
)))

COURSES = Entity("courses", _same((
    Column("schoolYearSourcedId", "id", refers_to="academicSessions"),
    Column("title", required=True),
    Column("courseCode"),
    Column("grades", "list"),
    Column("orgSourcedId", "id", True, refers_to="orgs"),
    Column("subjects", "list"),
    Column("subjectCodes", "list"),
)))

CLASSES = Entity("classes", _same((
    Column("title", required=True),
    Column("grades", "list"),
    Column("courseSourcedId", "id", True, refers_to="courses"),
    Column("classCode"),
    Column("classType", "enum", True, CLASS_TYPES),
    Column("location"),
    Column("schoolSourcedId", "id", True, refers_to="orgs"),
    Column("termSourcedIds", "ids", True, refers_to="academicSessions"),
    Column("subjects", "list"),
    Column("subjectCodes", "list"),
    Column("periods", "list"),
)))

_USER_COMMON_HEAD = (Column("enabledUser", "bool", True),)
_USER_NAMES = (
    Column("username", required=True),
    Column("userIds", "list"),
    Column("givenName", required=True),
    Column("familyName", required=True),
    Column("middleName"),
    Column("identifier"),
    Column("email"),
    Column("sms"),
    Column("phone"),
    Column("agentSourcedIds", "ids", refers_to="users"),
    Column("grades", "list"),
    Column("password", stored=False),
)
USERS = Entity("users", {
    "1.1": _USER_COMMON_HEAD + (
        Column("orgSourcedIds", "ids", True, refers_to="orgs"),
        Column("role", "enum", True, USER_ROLES_V1P1),
    ) + _USER_NAMES,
    "1.2": _USER_COMMON_HEAD + _USER_NAMES + (
        Column("userMasterIdentifier"),
        Column("preferredGivenName"),
        Column("preferredMiddleName"),
        Column("preferredFamilyName"),
        Column("primaryOrgSourcedId", "id", refers_to="orgs"),
        Column("pronouns"),
    ),
})

ROLES = Entity("roles", {
    "1.1": (),
    "1.2": (
        Column("userSourcedId", "id", True, refers_to="users"),
        Column("roleType", "enum", True, ROLE_TYPES),
        Column("role", "enum", True, USER_ROLES_V1P2),
        Column("beginDate", "date"),
        Column("endDate", "date"),
        Column("orgSourcedId", "id", True, refers_to="orgs"),
        Column("userProfileSourcedId", "id"),
    ),
})

ENROLLMENTS = Entity("enrollments", _same((
    Column("classSourcedId", "id", True, refers_to="classes"),
    Column("schoolSourcedId", "id", True, refers_to="orgs"),
    Column("userSourcedId", "id", True, refers_to="users"),
    Column("role", "enum", True, ENROLLMENT_ROLES),
    Column("primary", "bool"),
    Column("beginDate", "date"),
    Column("endDate", "date"),
)))

#: The order files are applied and checked in: each entity refers only to those before it
#: (or to itself), so a reference can be checked as soon as its file is staged.
ENTITIES: tuple[Entity, ...] = (
    ORGS, ACADEMIC_SESSIONS, COURSES, CLASSES, USERS, ROLES, ENROLLMENTS,
)
ENTITY_BY_NAME = {e.name: e for e in ENTITIES}


def entities_for(version: str) -> tuple[Entity, ...]:
    """The entities a package of this version can carry (roles only from 1.2)."""
    return tuple(e for e in ENTITIES if e.columns(version))


def all_stored_columns(entity: Entity) -> tuple[Column, ...]:
    """Every stored column across versions, in a stable order: the roster table's shape."""
    seen: dict[str, Column] = {}
    for version in VERSIONS:
        for column in entity.stored_columns(version):
            seen.setdefault(column.attr, column)
    return tuple(seen.values())


def names_itself(name: str) -> bool:
    """Whether rows of ``name`` name other records of it by a checked reference (an org
    its parent org, a term its school year): their file's rows are then the targets of
    its own checks, while it is read."""
    return any(column.refers_to == name and column.kind == "id"
               for column in all_stored_columns(ENTITY_BY_NAME[name]))
