"""The reference app (plugin.py) in Chromium: a teacher imports a class, the app makes its
assignment; a student submits; the SIS drops the student (their work is hidden from the
class) and re-adds them (it is back, unchanged), all through the roster signals."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import make_app
from packages import write_package
from peers.loopback import live_server
from rosters import school

import plugin
from al_roster.services.districts import add_district
from al_roster.sync.runner import sync_package

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)

DROPPED = "enr-cls-alg1-stu-1"  # Student1's enrollment in Algebra I - Period 1


@pytest.fixture
def site(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'roster.sqlite3'}", tmp_path, AL_ROSTER_DEV_LOGIN=True)
    with app.app_context():
        district = add_district("north", "North District", plan="prime", rostering=True)
        night = iter(range(1, 100))

        def sync(drop: bool = False) -> None:
            files = school(dt.date.today())
            if drop:
                files["enrollments"] = [e for e in files["enrollments"]
                                        if e["sourcedId"] != DROPPED]
            run = sync_package(district, write_package(tmp_path / f"night-{next(night)}", files),
                               app.extensions["al_roster"].sync_options, force=True)
            assert run.status == "applied", run.message

        sync()
        with live_server(app) as base:
            yield base, sync


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, base, name):
    page.goto(f"{base}/roster/logout")
    if page.get_by_role("button", name="Sign out").count():
        page.get_by_role("button", name="Sign out").click()
    page.goto(f"{base}/roster/dev/login?district=north&next=/")
    page.get_by_role("button", name=f"Sign in as {name}").click()
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()
    page.wait_for_load_state("load")


def test_a_students_work_survives_a_drop_and_re_add(page, site):
    base, sync = site
    sign_in(page, base, "Ada Lovelace")
    page.get_by_role("button", name="Main Menu").click()
    page.get_by_role("button", name="Add classes").click()
    dialog = page.get_by_role("dialog", name="Add classes")
    dialog.get_by_role("button", name="Import classes from your District's SIS").click()
    dialog.get_by_label("Algebra I - Period 1").check()
    dialog.get_by_role("button", name="Import").click()
    expect(dialog.get_by_role("heading", name="Imported 1 class.")).to_be_visible()
    page.goto(base + "/")
    page.get_by_role("link", name="Algebra I - Period 1").click()
    expect(page.get_by_role("heading", name=plugin.FIRST_ASSIGNMENT)).to_be_visible()
    teacher_page = page.url

    sign_in(page, base, "Student1 Pupil")
    page.get_by_role("link", name="Algebra I - Period 1").click()
    page.get_by_label("Your answer").fill("Fractions, and why they work.")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("status")).to_contain_text("Submitted")

    sign_in(page, base, "Ada Lovelace")
    page.goto(teacher_page)
    expect(page.get_by_role("row", name="Student1 Pupil Fractions, and why they work.")
           ).to_be_visible()

    sync(drop=True)  # the SIS drops Student1 from the class
    page.reload()
    expect(page.get_by_text("Fractions, and why they work.")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("1 hidden")
    sign_in(page, base, "Student1 Pupil")
    expect(page.get_by_role("link", name="Algebra I - Period 1")).to_have_count(0)

    sync()  # and re-adds them
    page.reload()
    page.get_by_role("link", name="Algebra I - Period 1").click()
    expect(page.get_by_label("Your answer")).to_have_value("Fractions, and why they work.")
    sign_in(page, base, "Ada Lovelace")
    page.goto(teacher_page)
    expect(page.get_by_role("row", name="Student1 Pupil Fractions, and why they work.")
           ).to_be_visible()
    expect(page.get_by_text("hidden")).to_have_count(0)
