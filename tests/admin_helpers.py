"""Shared by the console tests: districts with runs, accounts of each role, signing in."""
from __future__ import annotations

import copy

from packages import small_district, write_package

from al_roster.extension import roster_state
from al_roster.models import Account, RosterUser, database, partitions
from al_roster.services import sessions
from al_roster.services.districts import add_district
from al_roster.sync.runner import sync_package

CSRF = "test-csrf-token"


def sync(district, tmp_path, files, name):
    package = write_package(tmp_path / name, files)
    return sync_package(district, package, roster_state().sync_options, source="cli")


def half_dropped(files):
    dropped = copy.deepcopy(files)
    students = [u for u in dropped["users"] if u["role"] == "student"]
    gone = {u["sourcedId"] for u in students[: len(students) // 2]}
    dropped["users"] = [u for u in dropped["users"] if u["sourcedId"] not in gone]
    dropped["enrollments"] = [e for e in dropped["enrollments"] if e["userSourcedId"] not in gone]
    return dropped, gone


def two_districts(tmp_path, students=10, *, console_people=False):
    """North (``students`` students) and south (3). With ``console_people``, each roster also
    lists the people the console tests sign in as: a district administrator (adm-1 in north,
    adm-s in south) and a teacher (staff-1)."""
    north = add_district("north", "North District", plan="prime", rostering=True)
    south = add_district("south", "South District", plan="prime", rostering=True)
    files, south_files = small_district(students), small_district(3, school="sch-s")
    if console_people:
        files, south_files = (with_console_people(files, "adm-1"),
                              with_console_people(south_files, "adm-s"))
    first = sync(north, tmp_path, files, "north-1")
    sync(south, tmp_path, south_files, "south-1")
    return north, south, files, first


def holding_whole_runs(district):
    """The district holds a whole run for review when a guard trips (the setting for districts
    that want nothing applied before someone looks), as tests of held packages need."""
    district.hold_whole_runs = True
    district.save()
    return district


def with_console_people(files, admin):
    files["orgs"].append(dict(sourcedId=DISTRICT_ORG, name="The District", type="district"))
    for sourced_id, role, org in ((admin, "administrator", DISTRICT_ORG),
                                  ("staff-1", "teacher", files["orgs"][0]["sourcedId"])):
        files["users"].append(dict(sourcedId=sourced_id, enabledUser="true", orgSourcedIds=org,
                                   role=role, username=sourced_id, givenName=sourced_id.title(),
                                   familyName="Person"))
    return files


DISTRICT_ORG = "org-district"


def account(district, role, sourced_id, **extra):
    """The account a first sign-in of this roster person made."""
    extra.setdefault("roster_admin", role == "administrator")
    return Account.create(district=district, role=role, sourced_id=sourced_id,
                          email=f"{sourced_id}@example.org", **extra)


def roster_person(district, role, sourced_id, *, orgs="sch-1"):
    """A present, enabled roster user written straight into the copy (gone at the next bulk
    sync of users, which does not list them)."""
    partitions.ensure_partition(database.obj, RosterUser._meta.table_name, district.id)
    RosterUser.insert(district_id=district.id, sourced_id=sourced_id, role=role,
                      enabled_user=True, org_sourced_ids=orgs,
                      username=sourced_id, given_name=sourced_id.title(), family_name="Person",
                      email=f"{sourced_id}@example.org", row_hash=0, first_run_id=0,
                      last_run_id=0).on_conflict_ignore().execute()


def sign_in(client, who):
    """Signs ``who`` in (None: signs out). The test's app context is shared by requests, so
    Flask-Login's per-context cache of the user is dropped too."""
    from flask import g
    g.pop("_login_user", None)
    with client.session_transaction() as session:
        session.clear()
        if who is not None:
            session["_user_id"] = who.get_id()
            session["_fresh"] = True
            session[sessions.SESSION_KEY] = sessions.stamp(Account.get_by_id(who.id))
        session["al_roster_csrf"] = CSRF
