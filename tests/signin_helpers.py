"""Rosters and a live server for the sign-in tests.

Districts (all on the Prime plan with rostering, except "basic" and "off"):
- north (ClassLink tenant 456): teachers Ada (t-ada) and Grace (t-grace); students Bo (s-bo),
  Cy (s-cy), a turned-off student (s-off), one removed by a delta (s-gone); the district's
  administrator (adm-1), a school's administrator (adm-sch) and an aide (aid-1). Imported
  classes: Algebra, Biology (Bo is in both, currently), Art (Bo's enrollment ended), Future Lab
  (Bo's begins later), Band (archived); Chemistry, where Bo is enrolled too, is not imported.
- south (tenant 789): Sam (s-south), with an imported class of the same sourcedId cls-alg.
- basic (tenant 111, Basic plan) and off (tenant 222, Prime without rostering): one student each.
"""
from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import requests
from packages import write_package
from peers.loopback import live_server  # noqa: F401  (re-exported for the sign-in tests)

from al_roster.models import District, ImportedClass, database
from al_roster.models.classes import ARCHIVED
from al_roster.sync.runner import sync_package

NORTH_TENANT, SOUTH_TENANT = "456", "789"
DAY = dt.timedelta(days=1)

PEOPLE = {  # sourcedId: (role, given, family, enabled)
    "t-ada": ("teacher", "Ada", "Lovelace", True),
    "t-grace": ("teacher", "Grace", "Hopper", True),
    "s-bo": ("student", "Bo", "Pupil", True),
    "s-cy": ("student", "Cy", "Pupil", True),
    "s-off": ("student", "Otto", "Off", False),
    "s-gone": ("student", "Gus", "Gone", True),
    "adm-1": ("administrator", "Alan", "Admin", True),
    "aid-1": ("aide", "Aida", "Aide", True),
}
NORTH_CLASSES = {  # sourcedId: title
    "cls-alg": "Algebra I", "cls-bio": "Biology", "cls-art": "Art", "cls-fut": "Future Lab",
    "cls-band": "Band", "cls-chem": "Chemistry",
}
IMPORTED_NORTH = ("cls-alg", "cls-bio", "cls-art", "cls-fut", "cls-band")


def user(sourced_id: str, role: str, given: str, family: str, enabled: bool = True,
         email: str | None = None) -> dict:
    return dict(sourcedId=sourced_id, enabledUser="true" if enabled else "false",
                orgSourcedIds="sch-1", role=role, username=sourced_id.replace("-", ""),
                givenName=given, familyName=family,
                email=email or f"{given.lower()}@example.org")


def enrollment(sourced_id: str, class_id: str, user_id: str, role: str = "student",
               begin: dt.date | None = None, end: dt.date | None = None) -> dict:
    return dict(sourcedId=sourced_id, classSourcedId=class_id, schoolSourcedId="sch-1",
                userSourcedId=user_id, role=role, primary="false",
                beginDate=begin.isoformat() if begin else "",
                endDate=end.isoformat() if end else "")


def school(users: list[dict], classes: dict[str, str], enrollments: list[dict],
           today: dt.date) -> dict[str, list[dict]]:
    return {
        "orgs": [dict(sourcedId="dist-1", name="The District", type="district"),
                 dict(sourcedId="sch-1", name="School One", type="school",
                      parentSourcedId="dist-1")],
        "academicSessions": [dict(sourcedId="term-1", title="This year", type="schoolYear",
                                  startDate=(today - 100 * DAY).isoformat(),
                                  endDate=(today + 100 * DAY).isoformat(),
                                  schoolYear=str(today.year))],
        "courses": [dict(sourcedId="crs-1", title="Everything", orgSourcedId="sch-1")],
        "classes": [dict(sourcedId=s, title=t, courseSourcedId="crs-1", classType="scheduled",
                         schoolSourcedId="sch-1", termSourcedIds="term-1")
                    for s, t in classes.items()],
        "users": users,
        "enrollments": enrollments,
    }


def north_roster(today: dt.date) -> dict[str, list[dict]]:
    users = [user(s, role, given, family, enabled) for s, (role, given, family, enabled)
             in PEOPLE.items()]
    users += [user("adm-sch", "administrator", "Sid", "Schooladmin")]  # of sch-1 only
    for person in users:
        if person["sourcedId"] == "adm-1":
            person["orgSourcedIds"] = "dist-1"  # the district's administrator
    enrollments = [enrollment(f"e-ada-{c}", c, "t-ada", "teacher") for c in NORTH_CLASSES]
    enrollments += [
        enrollment("e-bo-alg", "cls-alg", "s-bo", begin=today - 50 * DAY),
        enrollment("e-bo-bio", "cls-bio", "s-bo", end=today + 50 * DAY),
        enrollment("e-bo-art", "cls-art", "s-bo", begin=today - 90 * DAY, end=today - 10 * DAY),
        enrollment("e-bo-fut", "cls-fut", "s-bo", begin=today + 10 * DAY),
        enrollment("e-bo-band", "cls-band", "s-bo"),
        enrollment("e-bo-chem", "cls-chem", "s-bo"),
        enrollment("e-cy-alg", "cls-alg", "s-cy"),
        enrollment("e-gone-alg", "cls-alg", "s-gone"),
        enrollment("e-off-alg", "cls-alg", "s-off"),
    ]
    return school(users, NORTH_CLASSES, enrollments, today)


def one_student_roster(sourced_id: str, given: str, family: str,
                       today: dt.date) -> dict[str, list[dict]]:
    return school([user(sourced_id, "student", given, family)], {"cls-alg": "Algebra I"},
                  [enrollment(f"e-{sourced_id}", "cls-alg", sourced_id)], today)


def sync_files(app, district: District, folder: Path, files: dict, *, force: bool = True,
               **package) -> None:
    """Syncs ``files`` into the district (past the deletion guard unless ``force=False``)."""
    run = sync_package(district, write_package(folder, files, **package),
                       app.extensions["al_roster"].sync_options, force=force)
    assert run.status == "applied", run.message


def setup_districts(app, tmp_path: Path, today: dt.date | None = None) -> dict[str, District]:
    """The four districts above, synced, with their imported classes."""
    today = today or dt.date.today()
    made = {
        "north": District.create(slug="north", name="North District", plan="prime",
                                 rostering_enabled=True, classlink_tenant_id=NORTH_TENANT),
        "south": District.create(slug="south", name="South District", plan="prime",
                                 rostering_enabled=True, classlink_tenant_id=SOUTH_TENANT),
        "basic": District.create(slug="basic", name="Basic District", plan="basic",
                                 classlink_tenant_id="111"),
        "off": District.create(slug="off", name="Off District", plan="prime",
                               rostering_enabled=False, classlink_tenant_id="222"),
    }
    sync_files(app, made["north"], tmp_path / "north", north_roster(today))
    gone = user("s-gone", "student", "Gus", "Gone") | dict(status="tobedeleted",
                                                           dateLastModified="2030-01-01T00:00:00.000Z")
    sync_files(app, made["north"], tmp_path / "north-delta", {"users": [gone]},
               modes={"users": "delta"})
    sync_files(app, made["south"], tmp_path / "south",
               one_student_roster("s-south", "Sam", "South", today))
    sync_files(app, made["basic"], tmp_path / "basic",
               one_student_roster("b-1", "Bea", "Basic", today))
    sync_files(app, made["off"], tmp_path / "off", one_student_roster("o-1", "Oz", "Off", today))
    for sourced_id in IMPORTED_NORTH:
        ImportedClass.create(district=made["north"], sourced_id=sourced_id,
                             title=NORTH_CLASSES[sourced_id],
                             status=ARCHIVED if sourced_id == "cls-band" else "active")
    ImportedClass.create(district=made["south"], sourced_id="cls-alg", title="Algebra I (South)")
    return made


def bind(app) -> None:
    """Make this app's database the process default: the test body runs outside the app's
    contexts, and another app made since is the default otherwise."""
    db = app.extensions["al_roster"].db
    if database.obj is not db:
        database.initialize(db)


def csrf_from(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def me(session: requests.Session, base: str) -> requests.Response:
    return session.get(base + "/roster/api/me", timeout=10)


def dev_sign_in(session: requests.Session, base: str, sourced_id: str, district: str = "north",
                next_url: str = "") -> requests.Response:
    page = session.get(f"{base}/roster/dev/login", params={"district": district}, timeout=10)
    return session.post(f"{base}/roster/dev/login", allow_redirects=False, timeout=10, data=dict(
        csrf_token=csrf_from(page.text), district=district, sourced_id=sourced_id,
        next=next_url))


def configure_classlink(app, op) -> None:
    """Points the app's ClassLink SSO at a running OpenID Connect provider peer."""
    app.config.update(AL_ROSTER_CLASSLINK_CLIENT_ID=op.client_id,
                      AL_ROSTER_CLASSLINK_CLIENT_SECRET=op.client_secret,
                      AL_ROSTER_CLASSLINK_SERVER_METADATA_URL=op.metadata_url,
                      AL_ROSTER_CLASSLINK_USERINFO_URL=op.userinfo_url)


@contextmanager
def sso_site(tmp: Path, accounts: list[dict]):
    """The reference app with the four districts, on an HTTP server, signing in through a
    real OpenID Connect provider that knows ``accounts``."""
    from conftest import make_app
    from peers.oidc_peer import require_node, run_oidc_provider
    require_node()
    app = make_app(f"sqlite:///{tmp / 'roster.sqlite3'}", tmp)
    with app.app_context():
        districts = setup_districts(app, tmp)
    with live_server(app) as base, \
            run_oidc_provider([base + "/roster/classlink/callback"], accounts) as op:
        configure_classlink(app, op)
        yield SimpleNamespace(app=app, base=base, op=op, districts=districts, tmp=tmp)
    database.close()
