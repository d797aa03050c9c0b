"""The demo `make run` sets up: two nights, the second held by the per-school guard with
its new students applied, and a dev sign-in that lists the district administrators."""
from __future__ import annotations

import pytest
from conftest import make_app

from al_roster.demo.district import DEMO_SLUG, load_demo_district
from al_roster.models import District, RosterUser, SyncRun
from al_roster.models.runs import APPLIED, PARTIAL


@pytest.fixture
def demo_app(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'demo.sqlite3'}", tmp_path, AL_ROSTER_DEV_LOGIN=True)
    with app.app_context():
        options = app.extensions["al_roster"].sync_options
        load_demo_district(8000, tmp_path / "demo-package", options)
        yield app


def test_the_demos_second_night_is_held_by_the_school_guard(demo_app):
    district = District.get(District.slug == DEMO_SLUG)
    first, second = list(SyncRun.select().where(SyncRun.district == district)
                         .order_by(SyncRun.id))
    assert first.status == APPLIED and second.status == PARTIAL
    trips = second.counts["guard"]["trips"]
    assert trips and all(t["scope"] == "school" for t in trips)
    assert second.counts["users"]["created"] == 5  # the new students are in
    assert RosterUser.select().where((RosterUser.district_id == district.id)
                                     & RosterUser.sourced_id.startswith("new-")
                                     & RosterUser.removed_run_id.is_null()).count() == 5


def test_setting_the_demo_up_again_keeps_its_two_runs(demo_app, tmp_path):
    load_demo_district(8000, tmp_path / "demo-package", demo_app.extensions["al_roster"]
                       .sync_options)
    assert SyncRun.select().count() == 2


def test_dev_sign_in_lists_the_district_administrators(demo_app):
    page = demo_app.test_client().get("/roster/dev/login").get_data(as_text=True)
    assert "District administrators" in page
    admins = page.split("District administrators", 1)[1].split("Teachers", 1)[0]
    assert admins.count("Sign in as") == 2


def test_the_home_page_says_what_to_try(demo_app):
    page = demo_app.test_client().get("/").get_data(as_text=True)
    second = SyncRun.select().order_by(SyncRun.id.desc()).first()
    assert f"review run {second.id}" in page and "district administrator" in page
