"""Class import through the JSON API and the service: what a teacher is offered, the import
with its roster, co-teachers, concurrency, and who is refused."""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from admin_helpers import roster_person
from packages import write_package
from rosters import account_for, school, sign_in

from al_roster.demo.generator import generate_district
from al_roster.errors import AccessDenied
from al_roster.models import ImportedClass, Membership, database
from al_roster.services import class_import
from al_roster.services.class_import import (
    ManagedBySis,
    change_roster,
    import_classes,
    importable_classes,
    join_by_code,
    new_term_reminder,
)
from al_roster.services.districts import add_district
from al_roster.sync.runner import sync_package

TODAY = dt.date.today()


def sync(app, district, files, folder):
    run = sync_package(district, write_package(folder, files), app.extensions["al_roster"].sync_options)
    assert run.status == "applied", run.message
    return run


@pytest.fixture
def north(app, tmp_path):
    district = add_district("north", "North District", plan="prime", rostering=True,
                            deletion_threshold=1.0)
    files = school(TODAY)
    # Student3 left Algebra I Period 2 last week; Student9 joins it next week.
    for e in files["enrollments"]:
        if e["classSourcedId"] == "cls-alg2" and e["userSourcedId"] == "stu-3":
            e["endDate"] = (TODAY - dt.timedelta(days=7)).isoformat()
    files["users"].append(dict(sourcedId="stu-9", enabledUser="true", orgSourcedIds="sch-1",
                               role="student", username="stu9", givenName="Late", familyName="Comer"))
    files["enrollments"].append(dict(sourcedId="enr-late", classSourcedId="cls-alg2",
                                     schoolSourcedId="sch-1", userSourcedId="stu-9", role="student",
                                     beginDate=(TODAY + dt.timedelta(days=7)).isoformat()))
    sync(app, district, files, tmp_path / "north")
    return district


@pytest.fixture
def ada(north):
    return account_for(north, "tch-1", "teacher")


@pytest.fixture
def grace(north):
    return account_for(north, "tch-2", "teacher")


def csrf(client) -> dict:
    """The header the popup sends: the token a page of the plugin put in the session."""
    with client.session_transaction() as session:
        return {"X-CSRF-Token": session.setdefault("al_roster_csrf", "token-from-the-page")}


def post_import(client, classes):
    return client.post("/roster/api/import", json={"classes": classes}, headers=csrf(client))


def offered(body) -> dict:
    return {c["sourcedId"]: c for t in body["terms"] for c in t["classes"]}


# -- what a teacher is offered -------------------------------------------------------------------

def test_teacher_sees_current_and_upcoming_classes_grouped_by_term(client, ada):
    sign_in(client, ada)
    body = client.get("/roster/api/importable-classes").get_json()
    assert [(t["title"], [c["title"] for c in t["classes"]]) for t in body["terms"]] == [
        ("Fall Now", ["Algebra I - Period 1", "Algebra I - Period 2", "Geometry - Period 5"]),
        ("Spring Next", ["Biology - Period 3"]),
    ]  # the past term's World History is not offered, nor Grace's Chemistry
    alg1 = offered(body)["cls-alg1"]
    assert alg1 == {"sourcedId": "cls-alg1", "title": "Algebra I - Period 1", "term": "Fall Now",
                    "course": "Algebra", "school": "North High", "period": "1", "students": 3,
                    "imported": False, "importedByColleague": False}
    # Ended and not yet started enrollments are not counted.
    assert offered(body)["cls-alg2"]["students"] == 2


def test_year_long_class_is_listed_once_under_its_current_term(app, tmp_path):
    district = add_district("lake", "Lake", plan="prime", rostering=True)
    november = dt.date(2026, 11, 20)
    generate_district(tmp_path / "gen", 60, seed=3, today=november)
    assert sync_package(district, tmp_path / "gen",
                        app.extensions["al_roster"].sync_options).status == "applied"
    teacher = account_for(district, "tch-00001", "teacher")
    groups = importable_classes(teacher, today=november)
    assert [g.title for g in groups] == ["Fall 2026"]
    titles = [c.title for c in groups[0].classes]
    assert len(titles) == len(set(titles)) > 0
    assert all(c.students > 0 and c.school for c in groups[0].classes)
    # In January the fall term has ended: the same classes are offered under Spring, and
    # the teacher is reminded that the new term has begun.
    january = dt.date(2027, 1, 20)
    groups = importable_classes(teacher, today=january)
    assert [g.title for g in groups] == ["Spring 2027"]
    assert "Spring 2027 has begun" in new_term_reminder(groups).message
    # After the school year nothing is offered.
    assert importable_classes(teacher, today=dt.date(2027, 7, 1)) == []


def test_reminder_when_a_begun_term_has_classes_not_imported(client, ada):
    sign_in(client, ada)
    reminder = client.get("/roster/api/importable-classes").get_json()["reminder"]
    assert "Fall Now has begun" in reminder["message"]
    assert "import their classes every semester" in reminder["message"]
    post_import(client, ["cls-alg1", "cls-alg2", "cls-co"])
    # Only the upcoming term is left, and it has not begun: no reminder.
    assert client.get("/roster/api/importable-classes").get_json()["reminder"] is None


def test_someone_with_no_classes_gets_the_empty_state(client, north):
    roster_person(north, "teacher", "tch-9")  # a teacher who teaches nothing in the roster
    sign_in(client, account_for(north, "tch-9", "teacher"))
    body = client.get("/roster/api/importable-classes").get_json()
    assert body["terms"] == []
    assert body["empty"]["title"] == "No classes found for you in your district's SIS"
    assert "OneRoster administrator" in body["empty"]["advice"]


def test_a_district_administrator_gets_no_list(client, north):
    roster_person(north, "districtAdministrator", "adm-9")
    sign_in(client, account_for(north, "adm-9", "administrator"))
    response = client.get("/roster/api/importable-classes")
    assert response.status_code == 403 and "for teachers" in response.get_json()["message"]


# -- importing -----------------------------------------------------------------------------------

def test_import_brings_the_roster_including_students_not_signed_in(client, ada, north):
    account_for(north, "stu-1", "student")
    sign_in(client, ada)
    response = post_import(client, ["cls-alg1", "cls-bio"])
    assert response.status_code == 200
    alg1, bio = response.get_json()["classes"]
    assert alg1["title"] == "Algebra I - Period 1" and bio["title"] == "Biology - Period 3"
    assert alg1["teachers"] == [{"sourcedId": "tch-1", "name": "Ada Lovelace", "signedIn": True}]
    assert [(s["sourcedId"], s["signedIn"]) for s in alg1["students"]] == [
        ("stu-1", True), ("stu-2", False), ("stu-3", False)]
    assert client.get(f"/roster/api/classes/{alg1['id']}").get_json() == alg1
    body = client.get("/roster/api/importable-classes").get_json()
    assert offered(body)["cls-alg1"]["imported"] and not offered(body)["cls-alg2"]["imported"]


def test_import_roster_leaves_out_ended_and_future_enrollments(client, ada):
    sign_in(client, ada)
    (alg2,) = post_import(client, ["cls-alg2"]).get_json()["classes"]
    assert [s["sourcedId"] for s in alg2["students"]] == ["stu-1", "stu-2"]


def test_import_is_idempotent(client, ada):
    sign_in(client, ada)
    first = post_import(client, ["cls-alg1", "cls-co"]).get_json()
    members = Membership.select().count()
    again = post_import(client, ["cls-co", "cls-alg1", "cls-alg1"]).get_json()
    assert sorted(c["id"] for c in again["classes"]) == sorted(c["id"] for c in first["classes"])
    assert ImportedClass.select().count() == 2 and Membership.select().count() == members


def test_co_teacher_importing_joins_the_class(client, ada, grace):
    import_classes(ada, ["cls-co"])
    sign_in(client, grace)
    listed = offered(client.get("/roster/api/importable-classes").get_json())["cls-co"]
    assert listed["imported"] is False and listed["importedByColleague"] is True
    (joined,) = post_import(client, ["cls-co"]).get_json()["classes"]
    assert ImportedClass.select().count() == 1
    assert [t["name"] for t in joined["teachers"]] == ["Grace Hopper", "Ada Lovelace"]
    assert offered(client.get("/roster/api/importable-classes").get_json())["cls-co"]["imported"]


def import_at_once(accounts, sourced_ids) -> tuple[dict, list]:
    """Each account imports in its own thread (so its own connection), all released at once."""
    results, errors = {}, []
    start = threading.Barrier(len(accounts))

    def run(account):
        try:
            start.wait()
            results[account.sourced_id] = [c.id for c in import_classes(account, sourced_ids)]
        except Exception as exc:  # reported by the caller
            errors.append(exc)
        finally:
            database.obj.close()

    threads = [threading.Thread(target=run, args=(a,)) for a in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results, errors


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_two_teachers_importing_at_once_make_one_class(app, ada, grace, monkeypatch):
    """The first import holds its transaction open a moment, so the second arrives while the
    class is not yet committed."""
    join = class_import._join_as_teacher

    def slow_join(account, classes):
        join(account, classes)
        time.sleep(0.2)

    monkeypatch.setattr(class_import, "_join_as_teacher", slow_join)
    for _ in range(3):
        ImportedClass.delete().execute()
        results, errors = import_at_once([ada, grace], ["cls-co"])
        assert errors == []
        assert results["tch-1"] == results["tch-2"] and ImportedClass.select().count() == 1
        klass = ImportedClass.get()
        members = [(m.user_sourced_id, m.role) for m in klass.memberships.order_by(
            Membership.user_sourced_id)]
        assert members == [("stu-1", "student"), ("stu-2", "student"), ("stu-3", "student"),
                           ("tch-1", "teacher"), ("tch-2", "teacher")]


# -- who is refused ------------------------------------------------------------------------------

def test_another_teachers_class_is_refused(client, ada, grace):
    sign_in(client, ada)
    response = post_import(client, ["cls-alg1", "cls-chem"])
    assert response.status_code == 403
    assert "cls-chem" in response.get_json()["message"]
    assert ImportedClass.select().count() == 0  # all or nothing


def test_a_past_class_is_refused(client, ada):
    sign_in(client, ada)
    assert post_import(client, ["cls-hist"]).status_code == 403


def test_another_districts_class_is_refused(app, client, ada, tmp_path):
    south = add_district("south", "South District", plan="prime", rostering=True)
    files = school(TODAY)
    for c in files["classes"]:
        c["sourcedId"] = c["sourcedId"].replace("cls-", "cls-s-")
    for e in files["enrollments"]:
        e["classSourcedId"] = e["classSourcedId"].replace("cls-", "cls-s-")
    sync(app, south, files, tmp_path / "south")
    sign_in(client, ada)
    assert post_import(client, ["cls-s-alg1"]).status_code == 403
    # South's own tch-1, a different person, cannot see North's class either.
    (north_class,) = import_classes(ada, ["cls-alg1"])
    south_teacher = account_for(south, "tch-1", "teacher")
    sign_in(client, south_teacher)
    # Not found, as for a class that does not exist: nothing tells South it is North's.
    elsewhere = client.get(f"/roster/api/classes/{north_class.id}")
    assert elsewhere.status_code == 404
    assert elsewhere.get_json() == client.get("/roster/api/classes/99999").get_json()
    assert client.get(f"/roster/classes/{north_class.id}").status_code == 404


def test_students_cannot_list_import_or_read_rosters(client, ada, north):
    (klass,) = import_classes(ada, ["cls-alg1"])
    sign_in(client, account_for(north, "stu-1", "student"))
    for response in (client.get("/roster/api/importable-classes"), post_import(client, ["cls-alg1"]),
                     client.get(f"/roster/api/classes/{klass.id}")):
        assert response.status_code == 403
        assert response.get_json()["error"] == "access_denied"


def test_another_teacher_cannot_read_a_roster(client, ada, grace):
    (klass,) = import_classes(ada, ["cls-alg1"])
    sign_in(client, grace)
    assert client.get(f"/roster/api/classes/{klass.id}").status_code == 403
    assert client.get("/roster/api/classes/99999").status_code == 404


def test_not_signed_in_is_401_json(client, north):
    assert client.get("/roster/api/importable-classes").status_code == 401
    response = client.get("/roster/api/classes/1")
    assert response.status_code == 401 and "ClassLink" in response.get_json()["message"]


def test_import_needs_the_csrf_token(client, ada):
    sign_in(client, ada)
    assert client.post("/roster/api/import", json={"classes": ["cls-alg1"]}).status_code == 400
    assert ImportedClass.select().count() == 0


def test_malformed_import_request_is_400(client, ada):
    sign_in(client, ada)
    response = client.post("/roster/api/import", json={"classes": "cls-alg1"}, headers=csrf(client))
    assert response.status_code == 400 and "classes" in response.get_json()["message"]


def test_district_without_rostering_cannot_import(app, tmp_path):
    basic = add_district("basic", "Basic", plan="basic")
    sync(app, basic, school(TODAY), tmp_path / "basic")
    with pytest.raises(AccessDenied, match="not enabled for your district"):
        importable_classes(account_for(basic, "tch-1", "teacher"))


def test_imported_classes_are_joined_only_through_classlink(ada):
    (klass,) = import_classes(ada, ["cls-alg1"])
    with pytest.raises(ManagedBySis) as refused:
        join_by_code(klass)
    assert refused.value.message == (
        "This class is managed by your district's SIS: sign in through ClassLink to join.")
    with pytest.raises(ManagedBySis, match="in your district's SIS"):
        change_roster(klass)


# -- the pages -----------------------------------------------------------------------------------

def test_classes_page_lists_imported_and_archived_classes(client, ada, north):
    import_classes(ada, ["cls-alg1", "cls-co"])
    ImportedClass.update(status="archived").where(ImportedClass.sourced_id == "cls-co").execute()
    sign_in(client, ada)
    page = client.get("/roster/classes").get_data(as_text=True)
    assert "Algebra I - Period 1" in page and "Geometry - Period 5" in page
    assert page.count("Archived") == 1 and 'aria-label="Main Menu"' in page
    assert "Import classes from your District's SIS" in page
    sign_in(client, account_for(north, "stu-2", "student"))
    page = client.get("/roster/classes").get_data(as_text=True)
    assert "Algebra I - Period 1" in page and "Geometry" not in page  # archived: teachers only
    assert "Add classes" not in page


def test_class_page_shows_who_has_not_signed_in(client, ada):
    (klass,) = import_classes(ada, ["cls-alg1"])
    sign_in(client, ada)
    page = client.get(f"/roster/classes/{klass.id}").get_data(as_text=True)
    assert page.count("Not signed in yet") == 3 and "Student2 Pupil" in page


def test_pages_ask_to_sign_in(client, north):
    response = client.get("/roster/classes")
    assert response.status_code == 401 and "ClassLink" in response.get_data(as_text=True)
