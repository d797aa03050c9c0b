"""OneRoster 1.2 roles: a person keeps every role the roster gives them, and undo puts the
user's role back with the roles it restores.

Each test is a night a district had: a 1.2 package (users without a role column, one
roles.csv row per user, org and role), then sign-in, the console and class import."""
from __future__ import annotations

import pytest
from packages import write_package
from security.attack import dev_sign_in, forget_loaded_user

from al_roster.models import Account, ImportedClass, Membership, RosterUser
from al_roster.services.districts import add_district
from al_roster.sync.review import undo_run
from al_roster.sync.runner import sync_package


def user(sourced_id: str, given: str) -> dict:
    return dict(sourcedId=sourced_id, enabledUser="true", username=sourced_id,
                givenName=given, familyName="Person", email=f"{sourced_id}@x.example")


def role(user_id: str, role_name: str, org: str, role_type: str = "primary") -> dict:
    return dict(sourcedId=f"r-{user_id}-{org}-{role_name}", userSourcedId=user_id,
                roleType=role_type, role=role_name, orgSourcedId=org)


def package(roles: list[dict]) -> dict[str, list[dict]]:
    people = [user("t-1", "Tess"), user("s-1", "Sam"), user("p-1", "Pat"), user("d-1", "Dee")]
    return {
        "orgs": [dict(sourcedId="dist", name="District", type="district"),
                 dict(sourcedId="sch-a", name="School A", type="school", parentSourcedId="dist"),
                 dict(sourcedId="sch-b", name="School B", type="school", parentSourcedId="dist")],
        "academicSessions": [dict(sourcedId="term", title="Year", type="schoolYear",
                                  startDate="2020-08-01", endDate="2099-06-30",
                                  schoolYear="2099")],
        "courses": [dict(sourcedId="crs", title="Algebra", orgSourcedId="sch-a")],
        "classes": [dict(sourcedId="cls-1", title="Algebra I", courseSourcedId="crs",
                         classType="scheduled", schoolSourcedId="sch-a", termSourcedIds="term")],
        "users": people,
        "roles": roles,
        "enrollments": [
            dict(sourcedId=f"e-{u}", classSourcedId="cls-1", schoolSourcedId="sch-a",
                 userSourcedId=u, role=r, primary="false")
            for u, r in (("t-1", "teacher"), ("s-1", "student"), ("p-1", "teacher"),
                         ("d-1", "teacher"))],
    }


BASE_ROLES = [
    role("t-1", "teacher", "sch-a"),
    role("s-1", "student", "sch-a"),
    # Pat teaches at A (secondary) and is B's principal-level administrator (primary).
    role("p-1", "siteAdministrator", "sch-b"), role("p-1", "teacher", "sch-a", "secondary"),
    # Dee teaches at A (primary) and administers the whole district (secondary).
    role("d-1", "teacher", "sch-a"), role("d-1", "districtAdministrator", "dist", "secondary"),
]


@pytest.fixture
def district(app, tmp_path):
    app.config["AL_ROSTER_DEV_LOGIN"] = True
    north = add_district("north", "North", plan="prime", rostering=True, deletion_threshold=1.0)
    ImportedClass.create(district=north, sourced_id="cls-1", title="Algebra I")
    return north


def sync(app, district, folder, roles):
    run = sync_package(district, write_package(folder, package(roles), version="1.2"),
                       app.extensions["al_roster"].sync_options)
    assert run.status == "applied", run.message
    return run


def stored_role(sourced_id: str) -> str:
    return RosterUser.get(RosterUser.sourced_id == sourced_id).role


def me(client) -> dict:
    forget_loaded_user()
    return client.get("/roster/api/me").get_json()


def test_undoing_a_roles_run_puts_the_users_role_back(app, district, tmp_path):
    sync(app, district, tmp_path / "night-1", BASE_ROLES)
    # Night 2's roles bulk turns the student s-1 into a teacher; support undoes it.
    wrong = [r if r["userSourcedId"] != "s-1" else role("s-1", "teacher", "sch-a")
             for r in BASE_ROLES]
    night_2 = sync(app, district, tmp_path / "night-2", wrong)
    assert stored_role("s-1") == "teacher"
    undo_run(night_2, app.extensions["al_roster"].sync_options, by="support")
    assert stored_role("s-1") == "student"
    client = app.test_client()
    dev_sign_in(client, "north", "s-1")
    assert me(client)["role"] == "student"
    assert Membership.select().where(Membership.user_sourced_id == "s-1").count() == 1
    # The same original files again change nothing and keep the role right.
    sync(app, district, tmp_path / "night-3", BASE_ROLES)
    assert stored_role("s-1") == "student"


def test_a_teacher_who_is_also_a_schools_administrator_signs_in_as_a_teacher(
        app, district, tmp_path):
    sync(app, district, tmp_path / "night-1", BASE_ROLES)
    assert stored_role("p-1") == "teacher"
    client = app.test_client()
    dev_sign_in(client, "north", "p-1")
    assert me(client)["role"] == "teacher"
    forget_loaded_user()
    assert client.get("/roster/api/importable-classes").status_code == 200
    forget_loaded_user()
    assert client.get("/roster/api/admin/districts").status_code == 403  # a school's admin


def test_a_teacher_who_administers_the_district_teaches_and_sees_the_console(
        app, district, tmp_path):
    sync(app, district, tmp_path / "night-1", BASE_ROLES)
    client = app.test_client()
    dev_sign_in(client, "north", "d-1")
    assert me(client)["role"] == "teacher"
    forget_loaded_user()
    assert client.get("/roster/api/importable-classes").status_code == 200
    forget_loaded_user()
    listed = client.get("/roster/api/admin/districts")
    assert listed.status_code == 200 and [d["slug"] for d in listed.get_json()["districts"]] \
        == ["north"]
    # The district takes the administrator role away: the console goes at the next request.
    sync(app, district, tmp_path / "night-2",
         [r for r in BASE_ROLES if r["role"] != "districtAdministrator"])
    forget_loaded_user()
    assert client.get("/roster/api/admin/districts").status_code == 401
    dev_sign_in(client, "north", "d-1")
    forget_loaded_user()
    assert client.get("/roster/api/admin/districts").status_code == 403
    assert not Account.get(Account.sourced_id == "d-1").roster_admin
