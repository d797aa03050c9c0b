"""The host app of tests/host.py (its own User and loader, its own layout as
AL_ROSTER_BASE_TEMPLATE) in Chromium: the four import steps, the alr:imported event's
classes, the plugin's pages inside the host layout, the console, and the menu for students."""
from __future__ import annotations

import pytest
from host import create_app
from peers.loopback import live_server
from signin_helpers import setup_districts

from al_roster.models import database
from al_roster.schema import upgrade

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)


@pytest.fixture(params=["before", "after"])
def site(request, tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "host-test", "AL_ROSTER_DEV_LOGIN": True,
                      "AL_ROSTER_DATABASE_URL": f"sqlite:///{tmp_path / 'roster.sqlite3'}",
                      "AL_ROSTER_STORAGE_DIR": str(tmp_path / "storage"),
                      "HOST_DATABASE": str(tmp_path / "host.sqlite3")}, loader=request.param)
    upgrade(app.extensions["al_roster"].db)
    with app.app_context():
        setup_districts(app, tmp_path)
    with live_server(app) as base, app.app_context():
        yield base
    database.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("response", lambda r: errors.append(r.url) if r.status >= 500 else None)
    yield page
    context.close()
    assert errors == []  # no 500 anywhere


def sign_in(page, site, name):
    page.goto(f"{site}/roster/dev/login?district=north&next=/")
    page.get_by_role("button", name=f"Sign in as {name}").click()
    expect(page.get_by_text(f"Signed in as {name} (User)")).to_be_visible()
    page.wait_for_load_state("load")


def test_the_hosts_teacher_imports_in_four_steps_and_the_page_hears_which(page, site):
    sign_in(page, site, "Ada Lovelace")
    page.evaluate("""() => { window.heard = null;
        document.addEventListener('alr:imported', e => { window.heard = e.detail; }); }""")
    page.get_by_role("button", name="Main Menu").click()  # STEP 1
    page.get_by_role("button", name="Add classes").click()  # STEP 2
    dialog = page.get_by_role("dialog", name="Add classes")
    dialog.get_by_role("button", name="Import classes from your District's SIS").click()  # 3
    dialog.get_by_label("Chemistry").check()  # STEP 4
    dialog.get_by_role("button", name="Import").click()
    expect(dialog.get_by_role("heading", name="Imported 1 class.")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    page.wait_for_function("window.heard !== null")
    heard = page.evaluate("window.heard")
    assert [(c["sourcedId"], c["title"]) for c in heard["classes"]] == [("cls-chem", "Chemistry")]
    assert isinstance(heard["classes"][0]["id"], int)
    assert [s["sourcedId"] for s in heard["classes"][0]["students"]] == ["s-bo"]


def test_the_plugins_pages_sit_in_the_host_layout_with_one_dialog_and_their_styles(page, site):
    sign_in(page, site, "Ada Lovelace")
    page.goto(f"{site}/roster/classes")
    expect(page.get_by_role("heading", name="Your classes")).to_be_visible()
    assert page.locator("#alr-import-dialog").count() == 1
    assert page.locator("script[src$='import_dialog.js']").count() == 1
    sheets = page.evaluate("[...document.styleSheets].map(s => s.href || '')")
    assert any(s.endswith("/al_roster.css") for s in sheets)
    assert any(s.endswith("/import_dialog.css") for s in sheets)
    page.get_by_role("button", name="Main Menu").first.click()
    page.get_by_role("button", name="Add classes").first.click()
    expect(page.get_by_role("dialog", name="Add classes")).to_be_visible()


def test_the_hosts_district_admin_uses_the_console(page, site):
    sign_in(page, site, "Alan Admin")
    page.goto(f"{site}/roster/admin/")
    expect(page.get_by_role("heading", name="Rostering")).to_be_visible()
    expect(page.get_by_role("link", name="South District (south)")).to_have_count(0)
    page.get_by_role("link", name="North District (north)").click()
    expect(page.get_by_role("link", name="Run 1", exact=True)).to_be_visible()


def test_every_signed_in_user_gets_the_menu(page, site):
    sign_in(page, site, "Bo Pupil")
    assert page.locator("#alr-import-dialog").count() == 0  # no import for students
    page.get_by_role("button", name="Main Menu").click()
    page.get_by_role("link", name="Your classes").click()
    expect(page.get_by_text("Algebra I")).to_be_visible()
