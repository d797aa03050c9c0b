"""The demo district `make run` shows: generated, synced, ready to sign in to.

Two nights: the first loads the district (with two district administrators, so the support
console has someone to sign in as); on the second the export leaves one small school out
while five new students arrive. The per-school guard holds that school's removals and the
new students are applied: the console's review of run 2 is the thing to try.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..models import District, SyncRun
from ..models.runs import AWAITING_REVIEW
from ..sync.runner import SyncOptions, sync_package
from .generator import generate_district
from .night_variants import add_user, largest_shares, next_night, schools_in

DEMO_SLUG = "demo"
DEMO_TENANT = "demo-tenant"
SEED = 7
NEW_STUDENTS = 5
#: The second district administrator (the generator writes adm-0000).
SECOND_ADMIN = {"sourcedId": "adm-demo-2", "enabledUser": "true", "orgSourcedIds": "org-0000",
                "role": "administrator", "username": "grace.admin", "givenName": "Grace",
                "familyName": "Hopper", "email": "grace.hopper@demo.example.org"}


def load_demo_district(students: int, package_dir: Path, options: SyncOptions) -> SyncRun:
    """Sets the demo up once (both nights) and returns its second night's run; set up
    already, it is left as it is."""
    district, _ = District.get_or_create(
        slug=DEMO_SLUG, defaults=dict(name="Demo Unified School District", plan="prime",
                                      rostering_enabled=True,
                                      classlink_tenant_id=DEMO_TENANT))
    waiting = review_run(district)
    if waiting is not None:
        return waiting
    package_dir = Path(package_dir)
    shutil.rmtree(package_dir, ignore_errors=True)
    generate_district(package_dir, students, seed=SEED)
    add_user(package_dir, SECOND_ADMIN, role_12="districtAdministrator")
    first = sync_package(district, package_dir, options, source="demo")
    missing, arrivals = _schools(package_dir)
    if missing is None:  # a one-school district: nothing to leave out
        return first
    night = package_dir.with_name(package_dir.name + "-night-2")
    shutil.rmtree(night, ignore_errors=True)
    next_night(package_dir, night, missing_school=missing, new_students=NEW_STUDENTS,
               school_of_new=arrivals)
    return sync_package(district, night, options, source="demo")


def _schools(package_dir: Path) -> tuple[str | None, str | None]:
    """(the school the second night leaves out, the one its new students arrive at): the
    school holding the smallest share of every file, and the one holding the largest."""
    schools = {sourced_id for sourced_id, _ in schools_in(package_dir)}
    shares = {k: v for k, v in largest_shares(package_dir).items() if k in schools}
    if len(shares) < 2:
        return None, None
    ranked = sorted(shares, key=lambda k: (shares[k], k))
    return ranked[0], ranked[-1]


def review_run(district: District) -> SyncRun | None:
    """The demo's run waiting for review, if any."""
    return (SyncRun.select().where((SyncRun.district == district)
                                   & SyncRun.status.in_(AWAITING_REVIEW))
            .order_by(SyncRun.id.desc()).first())


def what_to_try(district: District) -> str | None:
    """The home page's pointer to the demo's held run."""
    run = review_run(district)
    if run is None:
        return None
    return (f"Try it: sign in as a district administrator and review run {run.id}. The "
            "second night's export left a school out; its new students are already in "
            "place, and the school's removals wait for your decision (approve, reject, or "
            "undo the applied part).")
