"""OneRoster REST records (JSON) as rows of the OneRoster CSV binding.

A REST record omits empty fields, nests references as ``{"sourcedId", "type", "href"}`` and
gives lists as arrays; the CSV flattens them to ``...SourcedId(s)`` columns and comma-joined
fields. Which files and columns exist, and in which order, is :mod:`.entities`'s to say; this
module says only where each column's value sits in the JSON record. A 1.2 user's roles become
rows of roles.csv, with a stable derived sourcedId (REST roles have none).
"""
from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from al_roster.errors import SourceError
from al_roster.oneroster.answers import clean
from al_roster.oneroster.entities import ENTITIES, ENTITY_BY_NAME, ROLES, VERSIONS

Extract = Callable[[dict], str]

class _BadValue(Exception):
    """A JSON value with no CSV form (an object where text belongs)."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    raise _BadValue(value)


def _ref_id(ref: Any) -> str:
    if isinstance(ref, dict):
        return _text(ref.get("sourcedId"))
    if isinstance(ref, str):  # a bare sourcedId, as some servers send
        return ref
    raise _BadValue(ref)


def _field(name: str, *aliases: str) -> Extract:
    def extract(record: dict) -> str:
        for key in (name, *aliases):
            if record.get(key) is not None:
                return _text(record[key])
        return ""
    return extract


def _ref(name: str) -> Extract:
    return lambda record: "" if record.get(name) is None else _ref_id(record[name])


def _refs(name: str) -> Extract:
    def extract(record: dict) -> str:
        refs = record.get(name) or []
        if not isinstance(refs, list):
            raise _BadValue(refs)
        return ",".join(_ref_id(ref) for ref in refs)
    return extract


def _user_ids(record: dict) -> str:
    ids = record.get("userIds") or []
    if not isinstance(ids, list) or not all(isinstance(i, dict) for i in ids):
        raise _BadValue(ids)
    return ",".join(f"{{{_text(i.get('type'))}:{_text(i.get('identifier'))}}}" for i in ids)


def _never(record: dict) -> str:
    # Users' passwords are not kept by this product; they do not reach the disk either.
    return ""


@dataclass(frozen=True)
class Collection:
    """A REST collection and the CSV file it becomes (same name, as in both bindings).

    The file's columns, their order and which versions have them come from
    :mod:`al_roster.oneroster.entities`, the one description of the CSV files; here is only
    how each column is read from the JSON record. Every column of the entity needs one."""

    endpoint: str
    version: str
    extracts: dict[str, Extract]
    #: 1.2: users carry their roles; they become roles.csv.
    with_roles: bool = False

    def __post_init__(self) -> None:
        missing = [c.name for c in ENTITY_BY_NAME[self.endpoint].columns(self.version)
                   if c.name not in self.extracts]
        if missing:
            raise TypeError(f"{self.endpoint} {self.version}: no JSON field for {missing}")

    @property
    def envelope(self) -> str:
        return self.endpoint

    @property
    def header(self) -> list[str]:
        return header_of(self.endpoint, self.version)

    @property
    def columns(self) -> tuple[tuple[str, Extract], ...]:
        return tuple((name, self.extracts[name]) for name in self.header[3:])


def header_of(entity: str, version: str) -> list[str]:
    return list(ENTITY_BY_NAME[entity].header(version))


_ORG = {"name": _field("name"), "type": _field("type"), "identifier": _field("identifier"),
        "parentSourcedId": _ref("parent")}
_SESSION = {"title": _field("title"), "type": _field("type"), "startDate": _field("startDate"),
            "endDate": _field("endDate"), "parentSourcedId": _ref("parent"),
            "schoolYear": _field("schoolYear")}
_COURSE = {"schoolYearSourcedId": _ref("schoolYear"), "title": _field("title"),
           "courseCode": _field("courseCode"), "grades": _field("grades"),
           "orgSourcedId": _ref("org"), "subjects": _field("subjects"),
           "subjectCodes": _field("subjectCodes")}
_CLASS = {"title": _field("title"), "grades": _field("grades"),
          "courseSourcedId": _ref("course"), "classCode": _field("classCode"),
          "classType": _field("classType"), "location": _field("location"),
          "schoolSourcedId": _ref("school"), "termSourcedIds": _refs("terms"),
          "subjects": _field("subjects"), "subjectCodes": _field("subjectCodes"),
          "periods": _field("periods")}
_USER = {
    "enabledUser": _field("enabledUser"), "orgSourcedIds": _refs("orgs"),
    "role": _field("role"), "username": _field("username"), "userIds": _user_ids,
    "givenName": _field("givenName"), "familyName": _field("familyName"),
    "middleName": _field("middleName"), "identifier": _field("identifier"),
    "email": _field("email"), "sms": _field("sms"), "phone": _field("phone"),
    "agentSourcedIds": _refs("agents"), "grades": _field("grades"), "password": _never,
    "userMasterIdentifier": _field("userMasterIdentifier"),
    # The 1.2 JSON binding says preferredFirstName/LastName where the CSV says Given/Family.
    "preferredGivenName": _field("preferredFirstName", "preferredGivenName"),
    "preferredMiddleName": _field("preferredMiddleName"),
    "preferredFamilyName": _field("preferredLastName", "preferredFamilyName"),
    "primaryOrgSourcedId": _ref("primaryOrg"), "pronouns": _field("pronouns"),
}
_ENROLLMENT = {"classSourcedId": _ref("class"), "schoolSourcedId": _ref("school"),
               "userSourcedId": _ref("user"), "role": _field("role"),
               "primary": _field("primary"), "beginDate": _field("beginDate"),
               "endDate": _field("endDate")}
_EXTRACTS = {"orgs": _ORG, "academicSessions": _SESSION, "courses": _COURSE,
             "classes": _CLASS, "users": _USER, "enrollments": _ENROLLMENT}
#: Pulled in the entities' order: each refers only to what came before, except users<->agents.
#: Roles have no collection of their own: a 1.2 user carries them.
_PULL_ORDER = tuple(entity.name for entity in ENTITIES if entity is not ROLES)
COLLECTIONS = {version: tuple(Collection(name, version, _EXTRACTS[name],
                                         with_roles=name == "users" and version == "1.2")
                              for name in _PULL_ORDER)
               for version in VERSIONS}
_BY_NAME = {(c.endpoint, c.version): c for cs in COLLECTIONS.values() for c in cs}
ORGS, ENROLLMENTS = _BY_NAME["orgs", "1.1"], _BY_NAME["enrollments", "1.1"]
USERS_V1P1, USERS_V1P2 = _BY_NAME["users", "1.1"], _BY_NAME["users", "1.2"]
ROLES_HEADER = header_of("roles", "1.2")


def collections_for(version: str) -> tuple[Collection, ...]:
    return COLLECTIONS[version]


def _status(record: dict) -> str:
    status = _text(record.get("status"))
    # 1.0 servers still say "inactive"; the 1.1/1.2 CSV word for it is "tobedeleted".
    return "tobedeleted" if status == "inactive" else status


class CsvWriter:
    """Writes one collection's pages to its CSV file (and roles.csv for 1.2 users)."""

    def __init__(self, staging: Path, spec: Collection, *, delta: bool):
        self.spec, self.delta, self.skipped = spec, delta, 0
        self.rows = {spec.endpoint: 0}
        self._files, self._writers = ExitStack(), {}
        self._open(staging, spec.endpoint, spec.header)
        if spec.with_roles:
            self._open(staging, "roles", ROLES_HEADER)

    def _open(self, staging: Path, name: str, header: list[str]) -> None:
        handle = self._files.enter_context(
            (staging / f"{name}.csv").open("w", encoding="utf-8", newline=""))
        self._writers[name] = csv.writer(handle)  # RFC 4180: CRLF, quotes where needed
        self._writers[name].writerow(header)
        self.rows[name] = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self._files.close()

    def write_records(self, records: list, *, where: str) -> None:
        for record in records:
            if not isinstance(record, dict):
                raise SourceError(f"{where}: a {self.spec.endpoint} entry is not a JSON object.")
            try:
                self._write_record(record)
            except _BadValue as exc:
                raise SourceError(
                    f"{where}: {self.spec.endpoint} record {_shown_id(record)} has a "
                    f"value with no CSV form: {clean(str(exc.args[0]))[:100]}") from None
            except UnicodeEncodeError:  # a lone surrogate ("\\ud800") decoded from JSON
                raise SourceError(
                    f"{where}: {self.spec.endpoint} record {_shown_id(record)} holds text that "
                    "is not valid Unicode (half of a UTF-16 surrogate pair).") from None

    def _write_record(self, record: dict) -> None:
        if not self.delta and _status(record) == "tobedeleted":
            # A bulk file is the current set: listing a deleted record would revive it.
            self.skipped += 1
            return
        row = record_to_row(self.spec, record, delta=self.delta)
        self._write(self.spec.endpoint, row)
        if self.spec.with_roles:
            for role_row in role_rows(record, row[:3]):
                self._write("roles", role_row)

    def _write(self, name: str, row: list[str]) -> None:
        self._writers[name].writerow(row)
        self.rows[name] += 1


def _shown_id(record: dict) -> str:
    return clean(repr(record.get("sourcedId")))[:100]


def record_to_row(spec: Collection, record: dict, *, delta: bool) -> list[str]:
    """One REST record as a row of ``spec``'s CSV file (status and date blank in bulk)."""
    head = [_text(record.get("sourcedId")), "", ""]
    if delta:
        head[1:] = [_status(record), _text(record.get("dateLastModified"))]
    return [*head, *(get(record) for _, get in spec.columns)]


def role_rows(user: dict, head: list[str]) -> Iterator[list[str]]:
    """roles.csv rows for a 1.2 user; ``head`` is the user's sourcedId, status and date."""
    roles = user.get("roles") or []
    if not isinstance(roles, list):
        raise _BadValue(roles)
    for role in roles:
        if not isinstance(role, dict):
            raise _BadValue(role)
        org = "" if role.get("org") is None else _ref_id(role["org"])
        name = _text(role.get("role"))
        profile = "" if role.get("userProfile") is None else _ref_id(role["userProfile"])
        yield [_role_sourced_id(head[0], org, name), head[1], head[2], head[0],
               _text(role.get("roleType")), name, _text(role.get("beginDate")),
               _text(role.get("endDate")), org, profile]


def _role_sourced_id(user: str, org: str, role: str) -> str:
    """REST roles have no sourcedId; derive a stable one so every pull names a role alike."""
    sourced_id = f"{user}.{org}.{role}"
    if len(sourced_id) <= 255:
        return sourced_id
    return "role." + hashlib.sha256(sourced_id.encode()).hexdigest()
