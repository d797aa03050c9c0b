"""The synthetic district generator: spec-shaped files, references that resolve, a realistic
timetable, byte-for-byte determinism, and deltas that only touch what the base defines."""
from __future__ import annotations

import collections
import csv
import datetime
import re
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from al_roster.demo.generator import generate_delta, generate_district

TODAY = datetime.date(2026, 11, 20)  # in the fall semester of 2026-27

# Written out from the spec tables rather than imported, so a wrong constant in the
# generator cannot make its own test pass.
COMMON = ["sourcedId", "status", "dateLastModified"]
SPEC_HEADERS = {
    "orgs": COMMON + ["name", "type", "identifier", "parentSourcedId"],
    "academicSessions": COMMON + ["title", "type", "startDate", "endDate", "parentSourcedId",
                                  "schoolYear"],
    "courses": COMMON + ["schoolYearSourcedId", "title", "courseCode", "grades", "orgSourcedId",
                         "subjects", "subjectCodes"],
    "classes": COMMON + ["title", "grades", "courseSourcedId", "classCode", "classType",
                         "location", "schoolSourcedId", "termSourcedIds", "subjects",
                         "subjectCodes", "periods"],
    "enrollments": COMMON + ["classSourcedId", "schoolSourcedId", "userSourcedId", "role",
                             "primary", "beginDate", "endDate"],
    "roles": COMMON + ["userSourcedId", "roleType", "role", "beginDate", "endDate",
                       "orgSourcedId", "userProfileSourcedId"],
}
USERS_HEADERS = {
    "1.1": COMMON + ["enabledUser", "orgSourcedIds", "role", "username", "userIds",
                     "givenName", "familyName", "middleName", "identifier", "email", "sms",
                     "phone", "agentSourcedIds", "grades", "password"],
    "1.2": COMMON + ["enabledUser", "username", "userIds", "givenName", "familyName",
                     "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds",
                     "grades", "password", "userMasterIdentifier", "preferredGivenName",
                     "preferredMiddleName", "preferredFamilyName", "primaryOrgSourcedId",
                     "pronouns"],
}
FILES_11 = ["academicSessions", "categories", "classes", "classResources", "courses",
            "courseResources", "demographics", "enrollments", "lineItems", "orgs", "resources",
            "results", "users"]
FILES_12 = FILES_11 + ["roles", "userProfiles", "userResources", "scoreScales",
                       "lineItemScoreScales", "resultScoreScales",
                       "lineItemLearningObjectiveIds", "resultLearningObjectiveIds"]
SOURCED_ID = re.compile(r"^[0-9A-Za-z./@_-]{1,255}$")
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Package:
    """A written package read back with the csv module."""

    def __init__(self, folder: Path, version: str, counts: dict, zip_path: Path | None = None):
        self.folder, self.version, self.counts, self.zip_path = folder, version, counts, zip_path
        self.manifest = dict(read_rows(folder / "manifest.csv", header=False))
        self.headers, self.rows = {}, {}
        for name in ("orgs", "academicSessions", "courses", "classes", "users", "roles",
                     "enrollments"):
            if (folder / f"{name}.csv").exists():
                header, *rows = read_rows(folder / f"{name}.csv")
                self.headers[name] = header
                self.rows[name] = [dict(zip(header, row, strict=True)) for row in rows]

    def ids(self, name: str) -> set[str]:
        return {row["sourcedId"] for row in self.rows[name]}

    def by_id(self, name: str) -> dict[str, dict]:
        return {row["sourcedId"]: row for row in self.rows[name]}


def read_rows(path: Path, header: bool = True) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows if header else rows[1:]


def split(value: str) -> list[str]:
    return value.split(",") if value else []


@pytest.fixture(scope="module", params=["1.1", "1.2"])
def package(request, tmp_path_factory) -> Package:
    folder = tmp_path_factory.mktemp(f"district-{request.param}")
    zip_path = folder.parent / f"{folder.name}.zip"
    counts = generate_district(folder, 2000, seed=3, version=request.param, today=TODAY,
                               zip_path=zip_path)
    return Package(folder, request.param, counts, zip_path)


# --- shape ---------------------------------------------------------------------------------

def test_headers_follow_the_spec_order(package):
    for name, header in package.headers.items():
        expected = USERS_HEADERS[package.version] if name == "users" else SPEC_HEADERS[name]
        assert header == expected, name


def test_manifest_marks_the_written_files_bulk_and_the_rest_absent(package):
    written = {"orgs", "academicSessions", "courses", "classes", "users", "enrollments"}
    if package.version == "1.2":
        written.add("roles")
    assert package.manifest["manifest.version"] == "1.0"
    assert package.manifest["oneroster.version"] == package.version
    for name in FILES_12 if package.version == "1.2" else FILES_11:
        assert package.manifest[f"file.{name}"] == ("bulk" if name in written else "absent")
    assert set(package.rows) == written


def test_counts_match_the_files(package):
    assert {name: len(rows) for name, rows in package.rows.items()} == {
        name: n for name, n in package.counts.items() if name != "total"}
    assert package.counts["total"] == sum(len(rows) for rows in package.rows.values())


def test_bulk_rows_have_no_status_and_valid_ids(package):
    for name, rows in package.rows.items():
        for row in rows:
            assert row["status"] == row["dateLastModified"] == "", name
            assert SOURCED_ID.match(row["sourcedId"]), row
        assert len(package.ids(name)) == len(rows), f"duplicate sourcedId in {name}"


def test_values_with_commas_are_quoted(package):
    raw = (package.folder / "classes.csv").read_text(encoding="utf-8")
    assert re.search(r'"Room \d+, Annex"', raw)
    assert any(row["location"].endswith(", Annex") for row in package.rows["classes"])


# --- references ----------------------------------------------------------------------------

def test_every_reference_resolves(package):
    orgs, schools = package.ids("orgs"), {
        row["sourcedId"] for row in package.rows["orgs"] if row["type"] == "school"}
    sessions, courses = package.by_id("academicSessions"), package.by_id("courses")
    classes, users = package.by_id("classes"), package.ids("users")
    for row in package.rows["orgs"]:
        assert row["parentSourcedId"] in orgs | {""}
    for row in package.rows["courses"]:
        assert row["orgSourcedId"] in schools
        assert sessions[row["schoolYearSourcedId"]]["type"] == "schoolYear"
    for row in package.rows["classes"]:
        assert courses[row["courseSourcedId"]]["orgSourcedId"] == row["schoolSourcedId"]
        assert all(sessions[t]["type"] == "semester" for t in split(row["termSourcedIds"]))
    for row in package.rows["enrollments"]:
        assert row["userSourcedId"] in users
        assert classes[row["classSourcedId"]]["schoolSourcedId"] == row["schoolSourcedId"]
    if package.version == "1.1":
        assert all(set(split(row["orgSourcedIds"])) <= orgs for row in package.rows["users"])
    else:
        assert all(row["primaryOrgSourcedId"] in orgs for row in package.rows["users"])
        assert all(row["userSourcedId"] in users and row["orgSourcedId"] in orgs
                   for row in package.rows["roles"])


def test_roles_file_only_in_1_2_with_one_primary_role_per_user(package):
    if package.version == "1.1":
        assert "roles" not in package.rows  # 1.1 keeps the role in users.csv
        return
    roles = collections.Counter(row["userSourcedId"] for row in package.rows["roles"])
    assert set(roles) == package.ids("users") and set(roles.values()) == {1}
    assert {row["roleType"] for row in package.rows["roles"]} == {"primary"}
    assert {row["role"] for row in package.rows["roles"]} == {
        "districtAdministrator", "principal", "aide", "teacher", "student"}


# --- a realistic district ------------------------------------------------------------------

def test_schools_of_each_level_under_the_district(package):
    orgs = package.rows["orgs"]
    assert [row["type"] for row in orgs].count("district") == 1
    schools = [row for row in orgs if row["type"] == "school"]
    assert len(schools) == 3  # about one per 700 students
    assert {row["parentSourcedId"] for row in schools} == {"org-0000"}
    grades = collections.defaultdict(set)
    for row in package.rows["classes"]:
        grades[row["schoolSourcedId"]].add(row["grades"])
    assert sorted(map(sorted, grades.values())) == [
        ["01", "02", "03", "04", "05", "KG"], ["06", "07", "08"], ["09", "10", "11", "12"]]


def test_sessions_make_the_fall_term_current(package):
    sessions = package.by_id("academicSessions")
    assert sessions["yr-2027"]["schoolYear"] == "2027"
    fall, spring = sessions["trm-2027-fall"], sessions["trm-2027-spring"]
    assert (fall["startDate"], fall["endDate"]) == ("2026-08-15", "2027-01-15")
    assert (spring["startDate"], spring["endDate"]) == ("2027-01-16", "2027-06-10")
    assert fall["startDate"] <= TODAY.isoformat() <= fall["endDate"] < spring["startDate"]
    assert {s["parentSourcedId"] for s in (fall, spring)} == {"yr-2027"}


def test_every_student_has_six_or_seven_current_classes(package):
    students = {row["sourcedId"] for row in package.rows["users"]
                if row["sourcedId"].startswith("stu-")}
    assert len(students) == 2000
    per_student = collections.Counter()
    for row in package.rows["enrollments"]:
        if row["role"] == "student":
            per_student[row["userSourcedId"]] += 1
            assert row["beginDate"] <= TODAY.isoformat() <= row["endDate"]
    assert set(per_student) == students
    assert set(per_student.values()) <= {6, 7}


def test_class_sizes_are_about_28(package):
    sizes = collections.Counter(row["classSourcedId"] for row in package.rows["enrollments"]
                                if row["role"] == "student")
    assert set(sizes) == package.ids("classes")
    assert 24 <= sum(sizes.values()) / len(sizes) <= 32
    assert 18 <= min(sizes.values()) and max(sizes.values()) <= 42


def test_teachers_co_teachers_and_loads(package):
    teachers = collections.defaultdict(list)
    for row in package.rows["enrollments"]:
        if row["role"] == "teacher":
            teachers[row["classSourcedId"]].append(row["primary"])
    assert set(teachers) == package.ids("classes")
    assert all(flags in (["true"], ["true", "false"]) for flags in teachers.values())
    co_taught = sum(len(flags) == 2 for flags in teachers.values()) / len(teachers)
    assert 0.05 <= co_taught <= 0.2
    loads = collections.Counter(row["userSourcedId"] for row in package.rows["enrollments"]
                                if row["role"] == "teacher")
    assert 4.5 <= sum(loads.values()) / len(loads) <= 7 and max(loads.values()) <= 7
    roles = collections.Counter(row["sourcedId"][:3] for row in package.rows["users"])
    assert roles["adm"] == 4 and roles["aid"] == 3 and roles["tch"] == len(loads)


def test_nobody_has_two_classes_in_one_period(package):
    periods = {row["sourcedId"]: row["periods"] for row in package.rows["classes"]}
    busy = collections.defaultdict(list)
    for row in package.rows["enrollments"]:
        busy[row["userSourcedId"]].append(periods[row["classSourcedId"]])
    assert all(len(set(slots)) == len(slots) for slots in busy.values())


def test_users_are_varied_unique_and_well_formed(package):
    users = package.rows["users"]
    for field in ("sourcedId", "username", "email", "identifier", "userIds"):
        assert len({row[field] for row in users}) == len(users), field
    names = {row["givenName"] for row in users} | {row["familyName"] for row in users}
    assert {"José", "Zoë", "Nguyễn", "O'Brien"} & names
    assert any(not name.isascii() for name in names)
    for row in users:
        assert row["enabledUser"] == "true"
        assert row["username"].isascii() and re.match(r"^[a-z0-9.]+@[a-z0-9.]+$", row["email"])
        assert re.match(r"^\{LDAP:\d+\}(,\{SIS:S\d{7}\})?$", row["userIds"])
        assert bool(row["grades"]) == row["sourcedId"].startswith("stu-")
    if package.version == "1.1":
        assert {row["role"] for row in users} == {"administrator", "aide", "teacher", "student"}


def test_zip_holds_the_package(package):
    with zipfile.ZipFile(package.zip_path) as zf:
        names = set(zf.namelist())
        assert names == {f"{name}.csv" for name in package.rows} | {"manifest.csv"}
        for name in names:
            assert zf.read(name) == (package.folder / name).read_bytes()


# --- determinism and sizes -----------------------------------------------------------------

def package_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_same_arguments_give_the_same_bytes(tmp_path, version):
    for run in ("a", "b"):
        generate_district(tmp_path / run, 700, seed=9, version=version, today=TODAY,
                          zip_path=tmp_path / f"{run}.zip")
    assert package_bytes(tmp_path / "a") == package_bytes(tmp_path / "b")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    generate_district(tmp_path / "c", 700, seed=10, version=version, today=TODAY)
    assert package_bytes(tmp_path / "a") != package_bytes(tmp_path / "c")


@pytest.mark.parametrize("students", [1, 13, 300, 1100])
def test_small_districts_stay_consistent(tmp_path, students):
    counts = generate_district(tmp_path, students, today=TODAY)
    small = Package(tmp_path, "1.1", counts)
    test_every_reference_resolves(small)
    test_nobody_has_two_classes_in_one_period(small)
    enrolled = {row["userSourcedId"] for row in small.rows["enrollments"]}
    assert sum(user.startswith("stu-") for user in enrolled) == students


def test_unknown_version_and_empty_district_are_refused(tmp_path):
    with pytest.raises(ValueError, match="version"):
        generate_district(tmp_path, 100, version="1.0")
    with pytest.raises(ValueError, match="student"):
        generate_district(tmp_path, 0)


def test_memory_does_not_grow_with_the_district(tmp_path):
    peaks = []
    for students in (2000, 20000):
        tracemalloc.start()
        generate_district(tmp_path / str(students), students, today=TODAY)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 2 * peaks[0] + 1_000_000


# --- deltas --------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["1.1", "1.2"])
def base_and_delta(request, tmp_path_factory) -> tuple[Package, Package]:
    root = tmp_path_factory.mktemp(f"delta-{request.param}")
    version = request.param
    base = Package(root / "base", version, generate_district(
        root / "base", 1500, seed=5, version=version, today=TODAY))
    delta_counts = generate_delta(1500, root / "delta", 300, seed=5, version=version,
                                  today=TODAY + datetime.timedelta(days=1),
                                  zip_path=root / "delta.zip")
    return base, Package(root / "delta", version, delta_counts, root / "delta.zip")


def test_delta_manifest_and_headers(base_and_delta):
    _, delta = base_and_delta
    files = FILES_12 if delta.version == "1.2" else FILES_11
    for name in files:
        expected = "delta" if name in ("users", "enrollments") else "absent"
        assert delta.manifest[f"file.{name}"] == expected
    assert set(delta.rows) == {"users", "enrollments"}
    assert delta.headers["users"] == USERS_HEADERS[delta.version]
    assert delta.headers["enrollments"] == SPEC_HEADERS["enrollments"]
    with zipfile.ZipFile(delta.zip_path) as zf:
        assert set(zf.namelist()) == {"manifest.csv", "users.csv", "enrollments.csv"}


def test_delta_has_about_the_rows_asked_for(base_and_delta):
    _, delta = base_and_delta
    assert delta.counts["total"] == len(delta.rows["users"]) + len(delta.rows["enrollments"])
    assert 290 <= delta.counts["total"] <= 300
    assert len(delta.rows["users"]) >= 50 and len(delta.rows["enrollments"]) >= 150


def test_delta_rows_carry_status_and_time(base_and_delta):
    _, delta = base_and_delta
    for rows in delta.rows.values():
        for row in rows:
            assert DATETIME.match(row["dateLastModified"])
            assert row["dateLastModified"].startswith("2026-11-21")
    assert {row["status"] for row in delta.rows["users"]} == {"active"}
    assert {row["status"] for row in delta.rows["enrollments"]} == {"active", "tobedeleted"}


def test_delta_renames_existing_users(base_and_delta):
    base, delta = base_and_delta
    users = base.by_id("users")
    assert any(row["sourcedId"].startswith("tch-") for row in delta.rows["users"])
    for row in delta.rows["users"]:
        before = users[row["sourcedId"]]
        assert row["familyName"] != before["familyName"] and row["email"] != before["email"]
        assert row["username"] == before["username"] and row["givenName"] == before["givenName"]


def test_delta_references_only_base_ids(base_and_delta):
    base, delta = base_and_delta
    enrollments, classes = base.by_id("enrollments"), base.by_id("classes")
    users = base.ids("users")
    for row in delta.rows["enrollments"]:
        assert row["userSourcedId"] in users and row["role"] == "student"
        assert classes[row["classSourcedId"]]["schoolSourcedId"] == row["schoolSourcedId"]
        if row["status"] == "tobedeleted":
            old = enrollments[row["sourcedId"]]
            assert (old["userSourcedId"], old["classSourcedId"]) == (
                row["userSourcedId"], row["classSourcedId"])
        else:
            assert row["sourcedId"] not in enrollments


def test_applying_the_delta_keeps_every_schedule_whole(base_and_delta):
    base, delta = base_and_delta
    current = base.by_id("enrollments")
    for row in delta.rows["enrollments"]:
        if row["status"] == "tobedeleted":
            del current[row["sourcedId"]]
        else:
            current[row["sourcedId"]] = row
    schedules = collections.defaultdict(list)
    for row in current.values():
        if row["role"] == "student":
            schedules[row["userSourcedId"]].append(row["classSourcedId"])
    assert all(len(set(classes)) == len(classes) in (6, 7) for classes in schedules.values())


def test_same_delta_arguments_give_the_same_bytes(tmp_path):
    for run in ("a", "b"):
        generate_delta(800, tmp_path / run, 120, seed=2, version="1.2", today=TODAY)
    assert package_bytes(tmp_path / "a") == package_bytes(tmp_path / "b")
