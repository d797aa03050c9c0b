""""Someone missing or wrong?" in a real browser (Chromium through Playwright), on a desktop
and a 390 px phone, with the keyboard only: ask, read the answer, copy the message; and
axe-core finds nothing on the page."""
from __future__ import annotations

import copy
import datetime as dt
import re
from types import SimpleNamespace

import pytest
from conftest import make_app
from packages import write_package
from peers.axe_checker import axe_violations
from peers.loopback import live_server
from rosters import account_for, school

from al_roster.services.class_import import import_classes
from al_roster.services.districts import add_district
from al_roster.sync.runner import sync_package

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)

SCREENS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def site(tmp_path):
    """Ada has imported Algebra I - Period 1 (three students, none signed in); Zoe is in
    Grace's Chemistry only."""
    app = make_app(f"sqlite:///{tmp_path / 'roster.sqlite3'}", tmp_path, AL_ROSTER_DEV_LOGIN=True)
    with app.app_context():
        district = add_district("north", "North District", plan="prime", rostering=True,
                                deletion_threshold=1.0)
        files = school(dt.date.today())
        files["users"].append(dict(sourcedId="stu-zoe", enabledUser="true", orgSourcedIds="sch-1",
                                   role="student", username="zoe", givenName="Zoe",
                                   familyName="Other"))
        files["enrollments"].append(dict(sourcedId="enr-zoe", classSourcedId="cls-chem",
                                         schoolSourcedId="sch-1", userSourcedId="stu-zoe",
                                         role="student", primary="false"))
        run = sync_package(district, write_package(tmp_path / "package", files),
                           app.extensions["al_roster"].sync_options)
        assert run.status == "applied", run.message
        klass = import_classes(account_for(district, "tch-1", "teacher"), ["cls-alg1"])[0]
    with live_server(app) as base, app.app_context():
        yield SimpleNamespace(base=base, class_id=klass.id, app=app, district=district,
                              files=files, tmp_path=tmp_path)


@pytest.fixture(params=list(SCREENS))
def page(browser, request):
    context = browser.new_context(viewport=SCREENS[request.param])
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.screen_name = request.param
    yield page
    context.close()


def press_tab_until(page, locator, most=60):
    """Tab through the page until ``locator`` has the focus, as a keyboard user would."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if locator.evaluate("node => node === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {locator}")


def sign_in_with_keyboard(page, base, name):
    page.goto(f"{base}/roster/dev/login?district=north&next=/")
    press_tab_until(page, page.get_by_role("button", name=f"Sign in as {name}"))
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()


def fits_the_screen(page):
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_teacher_asks_reads_and_copies_the_message_with_the_keyboard(page, site):
    base, class_id = site.base, site.class_id
    sign_in_with_keyboard(page, base, "Ada Lovelace")
    page.goto(f"{base}/roster/classes/{class_id}")
    expect(page.get_by_role("heading", name="Someone missing or wrong?")).to_be_visible()
    fits_the_screen(page)

    box = page.get_by_label("Student's name, username, e-mail or ID")
    press_tab_until(page, box)
    page.keyboard.type("Zoe Other")
    page.keyboard.press("Enter")
    title = page.get_by_role("heading", name="What the roster says about “Zoe Other”")
    expect(title).to_be_focused()  # read out first
    answer = page.get_by_role("paragraph").get_by_text(
        "Your district's file lists “Zoe Other” as a student, but not in Algebra I - Period 1.")
    expect(answer).to_be_visible()
    expect(page.get_by_text("Chemistry")).to_have_count(0)  # never her other classes
    expect(page.get_by_text("Your district's OneRoster administrator")).to_be_visible()
    message = page.get_by_label("Message ready to send")
    expect(message).to_have_value(
        re.compile(r"Class: Algebra I - Period 1 \(cls-alg1\)\n"
                                 r"Student \(as typed\): Zoe Other\n"))
    fits_the_screen(page)

    press_tab_until(page, page.get_by_role("button", name="Copy message"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == message.input_value()
    assert "Reference for support: Q-" in copied
    assert axe_violations(page) == []


def test_a_teacher_picks_a_student_not_signed_in_yet_with_the_keyboard(page, site):
    base, class_id = site.base, site.class_id
    sign_in_with_keyboard(page, base, "Ada Lovelace")
    page.goto(f"{base}/roster/classes/{class_id}")
    assert axe_violations(page) == []
    press_tab_until(page, page.get_by_role("link", name="Ask why Student2 Pupil is not signed in"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="What the roster says about “stu-2”")).to_be_focused()
    expect(page.get_by_role("paragraph").get_by_text(
        "Student2 Pupil is on this class's roster but has not signed in yet: they join by "
        "opening the app from ClassLink")).to_be_visible()
    expect(page.get_by_text("The app's support team.")).to_be_visible()
    fits_the_screen(page)
    assert axe_violations(page) == []


def test_an_archived_class_offers_the_import_popup_by_keyboard(page, site):
    base, class_id = site.base, site.class_id
    files = copy.deepcopy(site.files)
    files["classes"] = [c for c in files["classes"] if c["sourcedId"] != "cls-alg1"]
    files["enrollments"] = [e for e in files["enrollments"] if e["classSourcedId"] != "cls-alg1"]
    run = sync_package(site.district, write_package(site.tmp_path / "removed", files),
                       site.app.extensions["al_roster"].sync_options)
    assert run.status == "applied", run.message
    sign_in_with_keyboard(page, base, "Ada Lovelace")
    page.goto(f"{base}/roster/classes/{class_id}")
    press_tab_until(page, page.get_by_label("Student's name, username, e-mail or ID"))
    page.keyboard.type("Student1 Pupil")
    page.keyboard.press("Enter")
    expect(page.get_by_role("paragraph").get_by_text(
        "Algebra I - Period 1 is archived")).to_be_visible()
    opener = page.get_by_role("button", name="Import your most recent classes")
    press_tab_until(page, opener)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Add classes")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    assert axe_violations(page) == []
