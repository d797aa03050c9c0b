"""In Chromium: staff review a held run and approve it; the lookup finds a student."""
from __future__ import annotations

import pytest
from admin_helpers import account, half_dropped, sync, two_districts

pytestmark = pytest.mark.browser


def test_staff_review_and_lookup(live, tmp_path, browser):
    from playwright.sync_api import expect
    app, base = live
    north, _, files, _ = two_districts(tmp_path, console_people=True)
    north.hold_whole_runs = True  # a run held whole
    north.save()
    held = sync(north, tmp_path, half_dropped(files)[0], "north-2")
    staff = account(north, "teacher", "staff-1", is_staff=True)
    from al_roster.models import database
    database.obj.close()
    page = browser.new_page()
    page.goto(f"{base}/test-sign-in/{staff.id}")
    page.goto(f"{base}/roster/admin/")
    page.get_by_role("link", name=f"Run {held.id} of north: HELD").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("HELD")
    page.get_by_label("File", exact=True).select_option("users")
    page.get_by_label("Change", exact=True).select_option("removed")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("table", name="Changes")).to_contain_text("stu-1")
    page.get_by_role("button", name="Approve and apply").click()
    expect(page.get_by_role("status")).to_contain_text(f"Run {held.id} is now applied")
    expect(page.get_by_role("button", name="Undo this run")).to_be_visible()

    page.get_by_role("link", name="Roster lookup").click()
    page.get_by_label("Name, sourcedId, username or e-mail").fill("Student7")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name="Student7 Pupil").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("stu-7")
    expect(page.locator("body")).to_contain_text("Not signed in yet.")
