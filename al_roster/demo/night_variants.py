"""Another night's bulk package made from one on disk: one school left out (a failed query
in the SIS export, the classic bad file), new students arrived. For the demo and the
benchmarks; files are streamed, so a million-student package costs no memory.
"""
from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from al_roster.oneroster.entities import ENTITY_BY_NAME, VERSIONS


def school_column(name: str, header: list[str]) -> str | None:
    """The column of a file (by its header) naming the school a row belongs to: the file's
    first reference to an org (an org's own sourcedId in orgs.csv)."""
    if name == "orgs":
        return "sourcedId"
    entity = ENTITY_BY_NAME.get(name)
    if entity is None:
        return None
    refs = {c.name for v in VERSIONS for c in entity.columns(v) if c.refers_to == "orgs"}
    return next((column for column in header if column in refs), None)


def schools_in(package: str | os.PathLike) -> list[tuple[str, str]]:
    """(sourcedId, name) of the package's schools, in file order."""
    with open(Path(package) / "orgs.csv", newline="", encoding="utf-8") as source:
        return [(r["sourcedId"], r["name"]) for r in csv.DictReader(source)
                if r.get("type") == "school"]


def next_night(package: str | os.PathLike, out: str | os.PathLike, *,
               missing_school: str | None = None, new_students: int = 0,
               school_of_new: str | None = None) -> dict[str, int]:
    """Writes to ``out`` the package as another night's export: without ``missing_school``
    (every row of it, in every file), with ``new_students`` new students at
    ``school_of_new`` enrolled in its first class. Returns rows written per file."""
    source, target = Path(package), Path(out)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "manifest.csv", target / "manifest.csv")
    written = {}
    first_class: dict[str, str] = {}
    for path in sorted(source.glob("*.csv")):
        name = path.stem
        if name == "manifest":
            continue
        written[name] = _copy(path, target / path.name, name, missing_school,
                              first_class if name == "classes" else None)
    if new_students and school_of_new:
        written["users"] += _append_students(target, school_of_new, new_students,
                                             first_class.get(school_of_new))
    return written


def _not_of(column: str | None, school: str | None) -> Callable[[dict], bool]:
    if column is None or school is None:
        return lambda row: True
    return lambda row: school not in (row.get(column) or "").split(",")


def _copy(source: Path, target: Path, name: str, missing_school: str | None,
          first_class: dict[str, str] | None) -> int:
    count = 0
    with open(source, newline="", encoding="utf-8") as inp, \
            open(target, "w", newline="", encoding="utf-8") as out:
        reader = csv.DictReader(inp)
        header = list(reader.fieldnames or [])
        keep = _not_of(school_column(name, header), missing_school)
        writer = csv.DictWriter(out, fieldnames=header)
        writer.writeheader()
        for row in reader:
            if keep(row):
                writer.writerow(row)
                count += 1
                if first_class is not None:
                    first_class.setdefault(row["schoolSourcedId"], row["sourcedId"])
    return count


def _append_students(target: Path, school: str, count: int, klass: str | None) -> int:
    people = [f"new-{school}-{i}" for i in range(1, count + 1)]
    _append(target / "users.csv", [
        {"sourcedId": p, "enabledUser": "true", "orgSourcedIds": school, "role": "student",
         "username": p, "givenName": f"New{i}", "familyName": "Arrival", "grades": "09"}
        for i, p in enumerate(people, start=1)])
    if (target / "roles.csv").exists():
        _append(target / "roles.csv", [
            {"sourcedId": f"role-{p}", "userSourcedId": p, "roleType": "primary",
             "role": "student", "orgSourcedId": school} for p in people])
    if klass is not None:
        _append(target / "enrollments.csv", [
            {"sourcedId": f"enr-{p}", "classSourcedId": klass, "schoolSourcedId": school,
             "userSourcedId": p, "role": "student", "primary": "false"} for p in people])
    return count


def _append(path: Path, rows: list[dict]) -> None:
    with open(path, newline="", encoding="utf-8") as inp:
        header = next(csv.reader(inp))
    with open(path, "a", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=header, restval="", extrasaction="ignore")
        writer.writerows(rows)


def add_user(package: str | os.PathLike, row: dict, *, role_12: str | None = None) -> None:
    """Appends one person to users.csv (and, in a 1.2 package, their role to roles.csv)."""
    target = Path(package)
    _append(target / "users.csv", [row])
    if role_12 and (target / "roles.csv").exists():
        _append(target / "roles.csv", [{
            "sourcedId": f"rol-{row['sourcedId']}", "userSourcedId": row["sourcedId"],
            "roleType": "primary", "role": role_12,
            "orgSourcedId": row["orgSourcedIds"].split(",")[0]}])


def largest_shares(package: str | os.PathLike) -> dict[str, float]:
    """Per school, the largest share it holds of any one file's rows (courses, classes,
    users, enrollments): leaving out the school with the smallest passes every
    district-wide guard."""
    shares: dict[str, float] = {}
    for name in ("courses", "classes", "users", "enrollments"):
        counts: dict[str, int] = {}
        with open(Path(package) / f"{name}.csv", newline="", encoding="utf-8") as source:
            reader = csv.DictReader(source)
            column = school_column(name, list(reader.fieldnames or []))
            for row in reader:
                key = (row.get(column) or "") if column else ""
                counts[key] = counts.get(key, 0) + 1
        total = sum(counts.values()) or 1
        for key, count in counts.items():
            shares[key] = max(shares.get(key, 0.0), count / total)
    return shares
