"""Writing small OneRoster packages for tests: rows as dicts, headers in spec order."""
from __future__ import annotations

import csv
import zipfile
from pathlib import Path

from al_roster.oneroster.entities import ENTITY_BY_NAME
from al_roster.oneroster.manifest import write_manifest


def write_package(folder: Path, files: dict[str, list[dict]], *, version: str = "1.1",
                  modes: dict[str, str] | None = None, zip_to: Path | None = None) -> Path:
    """Writes manifest.csv and one CSV per entity; returns the folder (or the zip)."""
    folder.mkdir(parents=True, exist_ok=True)
    modes = {name: (modes or {}).get(name, "bulk") for name in files}
    write_manifest(folder, version, modes)
    for name, rows in files.items():
        header = ENTITY_BY_NAME[name].header(version)
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=header, extrasaction="raise")
            writer.writeheader()
            writer.writerows(rows)
    if zip_to is None:
        return folder
    with zipfile.ZipFile(zip_to, "w") as archive:
        for path in folder.iterdir():
            archive.write(path, path.name)
    return zip_to


def small_district(students: int = 4, *, school: str = "sch-1", term_end: str = "2099-06-30",
                   class_title: str = "Algebra I") -> dict[str, list[dict]]:
    """One school, one term, one course, one class, a teacher and N students."""
    users = [dict(sourcedId="tch-1", enabledUser="true", orgSourcedIds=school, role="teacher",
                  username="tch1", givenName="Ada", familyName="Lovelace", email="ada@example.org")]
    users += [dict(sourcedId=f"stu-{i}", enabledUser="true", orgSourcedIds=school, role="student",
                   username=f"stu{i}", givenName=f"Student{i}", familyName="Pupil")
              for i in range(1, students + 1)]
    enrollments = [dict(sourcedId="enr-t1", classSourcedId="cls-1", schoolSourcedId=school,
                        userSourcedId="tch-1", role="teacher", primary="true")]
    enrollments += [dict(sourcedId=f"enr-{i}", classSourcedId="cls-1", schoolSourcedId=school,
                         userSourcedId=f"stu-{i}", role="student", primary="false")
                    for i in range(1, students + 1)]
    return {
        "orgs": [dict(sourcedId=school, name="North High, Main Campus", type="school")],
        "academicSessions": [dict(sourcedId="term-1", title="Fall", type="semester",
                                  startDate="2020-08-15", endDate=term_end, schoolYear="2027")],
        "courses": [dict(sourcedId="crs-1", title="Algebra", orgSourcedId=school)],
        "classes": [dict(sourcedId="cls-1", title=class_title, courseSourcedId="crs-1",
                         classType="scheduled", schoolSourcedId=school, termSourcedIds="term-1",
                         periods="1")],
        "users": users,
        "enrollments": enrollments,
    }
