"""Who gets in, and what a sign-in does, on SQLite and PostgreSQL (the `app` fixture)."""
from __future__ import annotations

import datetime as dt
import logging
import threading

import pytest
from signin_helpers import north_roster, setup_districts, sync_files, user

from al_roster.models import Account, AccountEvent, ImportedClass, Membership, RosterUser, database
from al_roster.services.provisioning import (
    SignInRefused,
    place_student_in_classes,
    sign_in_roster_user,
)
from al_roster.signals import account_created, student_placed


@pytest.fixture
def districts(app, tmp_path):
    return setup_districts(app, tmp_path)


def memberships(district, sourced_id: str, *, active: bool = True) -> set[str]:
    query = (Membership.select(ImportedClass.sourced_id).join(ImportedClass)
             .where((Membership.district_id == district.id)
                    & (Membership.user_sourced_id == sourced_id)))
    if active:
        query = query.where(Membership.removed_at.is_null())
    return {row.imported_class.sourced_id for row in query}


@pytest.mark.parametrize(("district", "sourced_id", "role"), [
    ("north", "t-ada", "teacher"),
    ("north", "s-bo", "student"),
    ("south", "s-south", "student"),
    ("north", "adm-1", "administrator"),  # a district admin signs in to the console
])
def test_roster_people_get_an_account_with_the_rosters_role_and_names(
        districts, district, sourced_id, role):
    account = sign_in_roster_user(districts[district], sourced_id, via="sso")
    stored = Account.get_by_id(account.id)
    assert (stored.district_id, stored.sourced_id, stored.role) == (
        districts[district].id, sourced_id, role)
    assert stored.given_name and stored.family_name and stored.email
    assert stored.last_login_at is not None


REFUSALS = [  # district, sourcedId, reason
    ("north", "nobody", "not_in_roster"),
    ("north", "s-gone", "removed_from_roster"),
    ("north", "s-off", "disabled"),
    ("north", "aid-1", "role_not_served"),
    ("north", "adm-sch", "role_not_served"),  # a school administrator: not the district console
    ("north", "s-south", "not_in_roster"),  # a person of another district
    ("south", "s-bo", "not_in_roster"),
    ("north", "", "no_sourced_id"),
    ("north", None, "no_sourced_id"),
    ("basic", "b-1", "district_not_enabled"),
    ("off", "o-1", "district_not_enabled"),
]


def test_refusals_say_why_name_the_admin_make_no_account_and_are_logged(districts, caplog):
    caplog.set_level(logging.WARNING, logger="al_roster.services.provisioning")
    outcomes = []
    for district, sourced_id, _reason in REFUSALS:
        caplog.clear()
        try:
            sign_in_roster_user(districts[district], sourced_id, classlink_user_id="77",
                                via="sso")
        except SignInRefused as refused:
            logged = any(refused.reason in r.getMessage() for r in caplog.records)
            outcomes.append((district, sourced_id, refused.reason,
                             "OneRoster administrator" in refused.advice, logged))
        else:
            outcomes.append((district, sourced_id, "signed in", False, False))
    assert outcomes == [(d, s, reason, True, True) for d, s, reason in REFUSALS]
    assert Account.select().count() == 0


def test_a_roster_user_without_a_role_is_refused_clearly(districts):
    # OneRoster 1.2 keeps roles in roles.csv: a user with no role row has none.
    RosterUser.update(role=None).where(RosterUser.sourced_id == "s-cy").execute()
    with pytest.raises(SignInRefused) as refused:
        sign_in_roster_user(districts["north"], "s-cy", via="lti")
    assert refused.value.reason == "role_not_served"
    assert "The roster lists you as having no role" in refused.value.message


def test_returning_user_gets_the_same_account_with_names_from_the_roster(app, districts, tmp_path):
    first = sign_in_roster_user(districts["north"], "t-ada", classlink_user_id="1001", via="sso")
    files = north_roster(dt.date.today())
    files["users"] = [user("t-ada", "teacher", "Ada", "King", email="ada.king@example.org")
                      if row["sourcedId"] == "t-ada" else row for row in files["users"]]
    sync_files(app, districts["north"], tmp_path / "renamed", files)
    again = sign_in_roster_user(districts["north"], "t-ada", classlink_user_id="1001", via="lti")
    assert again.id == first.id
    stored = Account.get_by_id(first.id)
    assert (stored.name, stored.email) == ("Ada King", "ada.king@example.org")
    assert Account.select().count() == 1


def test_changed_sourced_id_relinks_the_classlink_users_account(app, districts, tmp_path):
    first = sign_in_roster_user(districts["north"], "t-ada", classlink_user_id="1001", via="sso")
    files = north_roster(dt.date.today())
    files["users"] = [user("t-ada-2", "teacher", "Ada", "Lovelace") if row["sourcedId"] == "t-ada"
                      else row for row in files["users"]]
    files["enrollments"] = [row | {"userSourcedId": "t-ada-2"} if row["userSourcedId"] == "t-ada"
                            else row for row in files["enrollments"]]
    sync_files(app, districts["north"], tmp_path / "changed", files)

    again = sign_in_roster_user(districts["north"], "t-ada-2", classlink_user_id="1001", via="sso")
    assert again.id == first.id
    assert Account.get_by_id(first.id).sourced_id == "t-ada-2"
    assert Account.select().count() == 1
    events = [(e.kind, e.detail) for e in AccountEvent.select().where(AccountEvent.account == first.id)]
    assert events == [("relinked", "SourcedId changed from t-ada to t-ada-2")]

    # ClassLink may go on sending the old SourcedId for days: still the same account.
    stale = sign_in_roster_user(districts["north"], "t-ada", classlink_user_id="1001", via="sso")
    assert stale.id == first.id and Account.select().count() == 1


def test_without_a_classlink_user_id_a_changed_sourced_id_is_a_different_person(districts):
    sign_in_roster_user(districts["north"], "t-ada", via="lti")
    other = sign_in_roster_user(districts["north"], "t-grace", via="lti")
    assert other.sourced_id == "t-grace" and Account.select().count() == 2


def test_student_is_placed_in_every_imported_class_with_a_current_enrollment(districts):
    sign_in_roster_user(districts["north"], "s-bo", via="sso")
    # Not: Art (ended), Future Lab (not begun), Band (archived), Chemistry (not imported),
    # nor South's class of the same sourcedId.
    assert memberships(districts["north"], "s-bo") == {"cls-alg", "cls-bio"}
    assert memberships(districts["south"], "s-bo") == set()


def test_placement_brings_back_a_removed_membership_and_leaves_others_alone(districts):
    north = districts["north"]
    biology = ImportedClass.get(district=north, sourced_id="cls-bio")
    art = ImportedClass.get(district=north, sourced_id="cls-art")
    now = dt.datetime(2030, 1, 1)
    Membership.insert_many([
        dict(imported_class=biology, district_id=north.id, user_sourced_id="s-bo",
             role="student", added_at=now, removed_at=now, removed_run_id=1),
        dict(imported_class=art, district_id=north.id, user_sourced_id="s-bo",
             role="student", added_at=now, removed_at=now, removed_run_id=1),
    ]).execute()
    sign_in_roster_user(north, "s-bo", via="sso")
    assert memberships(north, "s-bo") == {"cls-alg", "cls-bio"}
    # Art's enrollment has ended: that membership stays removed.
    assert memberships(north, "s-bo", active=False) == {"cls-alg", "cls-bio", "cls-art"}


def test_placement_follows_the_districts_calendar(districts):
    account = sign_in_roster_user(districts["north"], "s-bo", via="sso")
    later = dt.date.today() + dt.timedelta(days=20)  # Future Lab has begun
    assert [ImportedClass.get_by_id(i).sourced_id
            for i in place_student_in_classes(account, today=later)] == ["cls-fut"]


def test_teachers_are_not_placed_by_signing_in(districts):
    sign_in_roster_user(districts["north"], "t-ada", via="sso")
    assert memberships(districts["north"], "t-ada", active=False) == set()


def test_signals_account_created_once_and_student_placed_with_class_ids(app, districts):
    created, placed = [], []

    def on_created(sender, account, via, **extra):
        created.append((sender, account.sourced_id, via))

    def on_placed(sender, account, class_ids, **extra):
        placed.append((sender, account.sourced_id,
                       sorted(ImportedClass.get_by_id(i).sourced_id for i in class_ids)))

    with account_created.connected_to(on_created, app), student_placed.connected_to(on_placed, app):
        sign_in_roster_user(districts["north"], "s-bo", via="lti")
        sign_in_roster_user(districts["north"], "s-bo", via="sso")
        sign_in_roster_user(districts["north"], "t-ada", via="sso")
    assert created == [(app, "s-bo", "lti"), (app, "t-ada", "sso")]
    assert placed == [(app, "s-bo", ["cls-alg", "cls-bio"])]  # the second time: nothing new


def test_two_first_logins_at_once_make_one_account(app, districts):
    north = districts["north"]
    barrier = threading.Barrier(4)
    results, errors, created = [], [], []

    def first_login():
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                results.append(sign_in_roster_user(north, "s-cy", classlink_user_id="3003",
                                                   via="sso").id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            database.close()

    with account_created.connected_to(lambda sender, **kw: created.append(kw["account"].id), app):
        threads = [threading.Thread(target=first_login) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    assert len(set(results)) == 1 and len(results) == 4
    assert Account.select().where(Account.sourced_id == "s-cy").count() == 1
    assert created == results[:1]
    assert memberships(north, "s-cy") == {"cls-alg"}


def test_a_returning_students_launch_is_a_few_queries_whatever_their_classes(app, districts):
    north = districts["north"]
    sign_in_roster_user(north, "s-cy", via="sso")  # one class
    sign_in_roster_user(north, "s-bo", via="sso")  # two classes

    def queries_for(sourced_id: str) -> int:
        seen = []
        original = database.obj.execute_sql

        def counting(sql, params=None, *args, **kwargs):
            seen.append(sql)
            return original(sql, params, *args, **kwargs)

        database.obj.execute_sql = counting
        try:
            sign_in_roster_user(north, sourced_id, via="sso")
        finally:
            del database.obj.execute_sql
        return len(seen)

    assert queries_for("s-bo") == queries_for("s-cy") <= 6


def test_a_district_admin_signs_in_to_their_own_districts_console(app, districts):
    """A district's OneRoster administrator gets the console of their district only."""
    app.config["AL_ROSTER_DEV_LOGIN"] = True
    client = app.test_client()
    client.get("/roster/dev/login?district=north")
    with client.session_transaction() as session:
        token = session["al_roster_csrf"]
    client.post("/roster/dev/login", data={"district": "north", "sourced_id": "adm-1",
                                            "csrf_token": token, "next": "/"})
    me = client.get("/roster/api/me").get_json()
    assert me["role"] == "administrator" and me["classes"] == []
    listed = client.get("/roster/api/admin/districts").get_json()
    assert [d["slug"] for d in listed["districts"]] == ["north"]
    assert client.get("/roster/api/admin/districts/south/runs").status_code == 403
    assert client.get("/roster/api/importable-classes").status_code == 403
