"""The four steps in a real browser (Chromium through Playwright) against the reference app:
STEP 1 open the "Main Menu", STEP 2 click "+", STEP 3 select "Import classes from your
District's SIS", STEP 4 check classes and click "Import"; then rosters, students, co-teachers,
the keyboard and a phone-sized screen."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import make_app
from packages import write_package
from peers.loopback import live_server
from rosters import school

from al_roster.models import ImportedClass
from al_roster.services.districts import add_district
from al_roster.sync.runner import sync_package

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)  # a loaded machine is slow, not broken

PHONE = {"width": 375, "height": 667}


@pytest.fixture
def site(tmp_path):
    """The reference app with a synced district, served on loopback."""
    app = make_app(f"sqlite:///{tmp_path / 'roster.sqlite3'}", tmp_path, AL_ROSTER_DEV_LOGIN=True)
    with app.app_context():
        district = add_district("north", "North District", plan="prime", rostering=True)
        files = school(dt.date.today())
        files["users"].append(dict(sourcedId="tch-3", enabledUser="true", orgSourcedIds="sch-1",
                                   role="teacher", username="tch3", givenName="Katherine",
                                   familyName="Johnson"))
        run = sync_package(district, write_package(tmp_path / "package", files),
                           app.extensions["al_roster"].sync_options)
        assert run.status == "applied", run.message
    with live_server(app) as base, app.app_context():
        yield base


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, site, name):
    """The demo sign-in: the same provisioning as a ClassLink sign-in, then the home page."""
    page.goto(f"{site}/roster/dev/login?district=north&next=/")
    page.get_by_role("button", name=f"Sign in as {name}").click()
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()
    page.wait_for_load_state("load")  # the menu's script is in: a click now opens the menu


def sign_out(page, site):
    page.goto(f"{site}/roster/logout")
    page.get_by_role("button", name="Sign out").click()
    # Back home before anything else: a later navigation must not race the sign-out.
    expect(page.get_by_role("link", name="Sign in (demo)")).to_be_visible()


def open_import_popup(page):
    page.get_by_role("button", name="Main Menu").click()  # STEP 1
    page.get_by_role("button", name="Add classes").click()  # STEP 2: the "+"
    dialog = page.get_by_role("dialog", name="Add classes")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Import classes from your District's SIS").click()  # STEP 3
    return dialog


def record_status(page):
    """Keeps every text the popup's live status region shows, to see progress go by."""
    page.evaluate("""() => {
        window.alrStatuses = [];
        const status = document.querySelector('[data-alr-status]');
        new MutationObserver(() => window.alrStatuses.push(status.textContent))
            .observe(status, {childList: true, characterData: true, subtree: true});
    }""")


def test_teacher_imports_classes_and_students_find_them(page, site):
    sign_in(page, site, "Ada Lovelace")
    dialog = open_import_popup(page)
    now = dialog.get_by_role("group", name="Fall Now")
    expect(now).to_be_visible()
    expect(dialog.get_by_role("group", name="Spring Next")).to_be_visible()
    expect(dialog.get_by_text("World History")).to_have_count(0)  # a past term
    expect(dialog.get_by_text("Fall Now has begun")).to_be_visible()  # the new-term reminder
    expect(now.get_by_text("Algebra · North High · Period 1 · 3 students")).to_be_visible()

    record_status(page)
    dialog.get_by_label("Algebra I - Period 1").check()  # STEP 4
    dialog.get_by_label("Geometry - Period 5").check()
    dialog.get_by_role("button", name="Import").click()
    expect(dialog.get_by_role("heading", name="Imported 2 classes.")).to_be_visible()
    assert "Importing 2 classes…" in page.evaluate("window.alrStatuses")
    imported = dialog.get_by_role("checkbox", name="Algebra I - Period 1")
    expect(imported).to_be_checked()
    expect(imported).to_be_disabled()
    expect(dialog.get_by_label("Algebra I - Period 1")).to_have_accessible_name(
        "Algebra I - Period 1 Imported")
    expect(dialog.get_by_text("Algebra I - Period 1: 3 students, 3 not signed in yet")).to_be_visible()

    dialog.get_by_role("link", name="Algebra I - Period 1").click()
    expect(page.get_by_role("heading", name="Algebra I - Period 1")).to_be_visible()
    expect(page.get_by_role("cell", name="Not signed in yet")).to_have_count(3)
    expect(page.get_by_role("row", name="Student2 Pupil Not signed in yet")).to_be_visible()

    sign_out(page, site)
    sign_in(page, site, "Student1 Pupil")
    page.get_by_role("button", name="Main Menu").click()
    expect(page.get_by_role("button", name="Add classes")).to_have_count(0)  # no import for students
    page.get_by_role("link", name="Your classes").click()
    expect(page.get_by_text("Algebra I - Period 1")).to_be_visible()
    expect(page.get_by_text("Geometry - Period 5")).to_be_visible()
    response = page.request.get(f"{site}/roster/api/importable-classes")
    assert response.status == 403  # no list, whatever the route

    sign_out(page, site)
    sign_in(page, site, "Ada Lovelace")
    page.goto(f"{site}/roster/classes")
    page.get_by_role("link", name="Algebra I - Period 1").click()
    expect(page.get_by_role("row", name="Student1 Pupil Signed in")).to_be_visible()
    expect(page.get_by_role("cell", name="Not signed in yet")).to_have_count(2)


def test_co_teacher_import_joins_the_class(page, site):
    sign_in(page, site, "Ada Lovelace")
    dialog = open_import_popup(page)
    dialog.get_by_label("Geometry - Period 5").check()
    dialog.get_by_role("button", name="Import").click()
    expect(dialog.get_by_role("heading", name="Imported 1 class.")).to_be_visible()
    sign_out(page, site)

    sign_in(page, site, "Grace Hopper")
    dialog = open_import_popup(page)
    expect(dialog.get_by_text("Already imported by a colleague")).to_be_visible()
    dialog.get_by_label("Geometry - Period 5").check()
    dialog.get_by_role("button", name="Import").click()
    expect(dialog.get_by_role("heading", name="Imported 1 class.")).to_be_visible()
    dialog.get_by_role("link", name="Geometry - Period 5").click()
    teachers = page.get_by_role("list", name="Teachers")
    expect(teachers.get_by_role("listitem")).to_have_text(["Grace Hopper", "Ada Lovelace"])
    assert ImportedClass.select().count() == 1


def test_teacher_without_classes_sees_what_to_do(page, site):
    sign_in(page, site, "Katherine Johnson")
    dialog = open_import_popup(page)
    expect(dialog.get_by_role("heading", name="No classes found for you in your district's SIS")
           ).to_be_visible()
    expect(dialog.get_by_text("ask your district's OneRoster administrator")).to_be_visible()
    expect(dialog.get_by_role("button", name="Import")).to_be_hidden()


def test_keyboard_focus_moves_in_is_trapped_and_returns(page, site):
    sign_in(page, site, "Ada Lovelace")
    page.get_by_role("button", name="Main Menu").focus()
    page.keyboard.press("Enter")
    plus = page.get_by_role("button", name="Add classes")
    plus.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Add classes")
    option = dialog.get_by_role("button", name="Import classes from your District's SIS")
    expect(option).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("group", name="Fall Now")).to_be_visible()
    inside = "el => el.contains(document.activeElement)"
    for key in ["Tab"] * 8 + ["Shift+Tab"] * 8:
        page.keyboard.press(key)
        assert dialog.evaluate(inside), f"focus left the dialog after {key}"
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(plus).to_be_focused()


def test_phone_sized_screen(browser, site):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        sign_in(page, site, "Ada Lovelace")
        dialog = open_import_popup(page)
        box = dialog.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        label = dialog.get_by_label("Biology - Period 3")
        label.check()
        assert label.bounding_box()["width"] >= 20  # big enough to tap
        dialog.get_by_role("button", name="Import").tap()
        expect(dialog.get_by_role("heading", name="Imported 1 class.")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()
