"""Shared by the console tests: districts with runs, accounts of each role, signing in."""
from __future__ import annotations

import copy

from packages import small_district, write_package

from al_roster.extension import roster_state
from al_roster.models import Account
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


def two_districts(tmp_path, students=10):
    north = add_district("north", "North District", plan="prime", rostering=True)
    south = add_district("south", "South District", plan="prime", rostering=True)
    files = small_district(students)
    first = sync(north, tmp_path, files, "north-1")
    sync(south, tmp_path, small_district(3, school="sch-s"), "south-1")
    return north, south, files, first


def account(district, role, sourced_id, **extra):
    return Account.create(district=district, role=role, sourced_id=sourced_id,
                          email=f"{sourced_id}@example.org", **extra)


def sign_in(client, who):
    """Signs ``who`` in (None: signs out). The test's app context is shared by requests, so
    Flask-Login's per-context cache of the user is dropped too."""
    from flask import g
    g.pop("_login_user", None)
    with client.session_transaction() as session:
        session.clear()
        if who is not None:
            session["_user_id"] = str(who.id)
            session["_fresh"] = True
        session["al_roster_csrf"] = CSRF
