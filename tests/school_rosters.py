"""A district of many small schools, for the guards that weigh a school or a term."""
from __future__ import annotations

import copy


def schools_district(schools: int = 40, students: int = 10) -> dict[str, list[dict]]:
    """``schools`` schools, each with a teacher, ``students`` students and two classes (one a
    fall class, one a spring class); every student is in both classes of their school."""
    files: dict[str, list[dict]] = {
        "orgs": [dict(sourcedId="dist", name="Spread District", type="district")],
        "academicSessions": [
            dict(sourcedId="fall", title="Fall 2027", type="semester", startDate="2020-08-15",
                 endDate="2099-01-15", schoolYear="2027"),
            dict(sourcedId="spring", title="Spring 2028", type="semester",
                 startDate="2020-08-15", endDate="2099-06-30", schoolYear="2027")],
        "courses": [], "classes": [], "users": [], "enrollments": []}
    for s in range(1, schools + 1):
        school = f"sch-{s}"
        files["orgs"].append(dict(sourcedId=school, name=f"School {s} High", type="school",
                                  parentSourcedId="dist"))
        files["courses"].append(dict(sourcedId=f"crs-{s}", title=f"Math {s}",
                                     orgSourcedId=school))
        teacher = f"tch-{s}"
        files["users"].append(dict(sourcedId=teacher, enabledUser="true", orgSourcedIds=school,
                                   role="teacher", username=teacher, givenName=f"Teacher{s}",
                                   familyName="Smith"))
        people = [teacher] + [f"stu-{s}-{i}" for i in range(1, students + 1)]
        for i, person in enumerate(people[1:], start=1):
            files["users"].append(dict(sourcedId=person, enabledUser="true",
                                       orgSourcedIds=school, role="student", username=person,
                                       givenName=f"Given{s}x{i}", familyName=f"Family{s}x{i}",
                                       grades="09"))
        for term in ("fall", "spring"):
            klass = f"cls-{s}-{term}"
            files["classes"].append(dict(sourcedId=klass, title=f"Math {s} {term}",
                                         courseSourcedId=f"crs-{s}", classType="scheduled",
                                         schoolSourcedId=school, termSourcedIds=term))
            for person in people:
                files["enrollments"].append(dict(
                    sourcedId=f"enr-{klass}-{person}", classSourcedId=klass,
                    schoolSourcedId=school, userSourcedId=person,
                    role="teacher" if person == teacher else "student"))
    return files


def without_school(files: dict, school: str) -> dict:
    """The same files with everything of one school left out (a failed export query)."""
    out = copy.deepcopy(files)
    out["orgs"] = [o for o in out["orgs"] if o["sourcedId"] != school]
    out["courses"] = [c for c in out["courses"] if c["orgSourcedId"] != school]
    out["classes"] = [c for c in out["classes"] if c["schoolSourcedId"] != school]
    out["users"] = [u for u in out["users"] if u["orgSourcedIds"] != school]
    out["enrollments"] = [e for e in out["enrollments"] if e["schoolSourcedId"] != school]
    return out


def with_new_students(files: dict, school: str, count: int) -> dict:
    """``count`` new students at ``school``, enrolled in its fall class."""
    out = copy.deepcopy(files)
    for i in range(1, count + 1):
        person = f"new-{school}-{i}"
        out["users"].append(dict(sourcedId=person, enabledUser="true", orgSourcedIds=school,
                                 role="student", username=person, givenName=f"New{i}",
                                 familyName="Arrival"))
        out["enrollments"].append(dict(sourcedId=f"enr-new-{person}",
                                       classSourcedId=f"cls-{school.split('-')[1]}-fall",
                                       schoolSourcedId=school, userSourcedId=person,
                                       role="student"))
    return out


def without_students(files: dict, gone: set[str]) -> dict:
    out = copy.deepcopy(files)
    out["users"] = [u for u in out["users"] if u["sourcedId"] not in gone]
    out["enrollments"] = [e for e in out["enrollments"] if e["userSourcedId"] not in gone]
    return out
