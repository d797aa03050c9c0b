"""The review of a run applied with a school's removals held, in Chromium at desktop width
and at 390 px (a phone): names, the breakdown by school and term, counts that agree, the
chart, and nothing cut off; and the JSON the page is drawn from."""
from __future__ import annotations

import pytest
from admin_helpers import CSRF, account, sign_in, sync
from school_rosters import schools_district, with_new_students, without_school

from al_roster.services.districts import add_district


def dropped_school(tmp_path):
    district = add_district("spread", "Spread District", plan="prime", rostering=True)
    files = schools_district()
    sync(district, tmp_path, files, "night-1")
    run = sync(district, tmp_path, with_new_students(without_school(files, "sch-1"), "sch-2", 3),
               "night-2")
    assert run.status == "partial"
    return district, run


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_a_reviewer_reads_people_places_and_counts(live, tmp_path, browser, width):
    from playwright.sync_api import expect
    _, base = live
    district, run = dropped_school(tmp_path)
    staff = account(district, "teacher", "tch-2", is_staff=True)
    from al_roster.models import database
    database.obj.close()
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(f"{base}/test-sign-in/{staff.id}")
    page.goto(f"{base}/roster/admin/runs/{run.id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("APPLIED, REMOVALS HELD")
    expect(page.locator(".alr-trips")).to_contain_text(
        "School 1 High: 22 of 22 enrollments would be removed")
    plan = page.get_by_role("table", name="Plan")
    expect(plan.locator("tr", has_text="enrollments")).to_contain_text("22")
    expect(page.get_by_role("table", name="enrollments by schools")).to_contain_text(
        "School 1 High")
    expect(page.locator(".alr-teachers")).to_contain_text("Teacher1 Smith")
    expect(page.locator("svg[role=img]").first).to_be_visible()
    page.get_by_label("File", exact=True).select_option("classes")
    page.get_by_label("Change", exact=True).select_option("held_removal")
    page.get_by_role("button", name="Show").click()
    changes = page.get_by_role("table", name="Changes")
    expect(changes).to_contain_text("Math 1 fall")
    expect(changes).to_contain_text("School 1 High")
    # Nothing is cut off: the page never scrolls sideways; wide tables scroll in their box.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a {width}px screen"
    for box in page.locator(".alr-scroll").all():
        assert box.evaluate("b => getComputedStyle(b).overflowX") == "auto"


def test_the_review_json_carries_the_same_data(app, client, tmp_path):
    district, run = dropped_school(tmp_path)
    sign_in(client, account(district, "teacher", "tch-2", is_staff=True))
    data = client.get(f"/roster/api/admin/runs/{run.id}?entity=enrollments&kind=held_removal",
                      headers={"X-CSRF-Token": CSRF}).get_json()
    review = data["review"]
    assert data["status"] == "partial" and review["statusLabel"] == "applied, removals held"
    assert review["plan"]["enrollments"]["held_removals"] == 22
    assert data["changes"]["totals"]["enrollments"]["held_removal"] == 22
    schools = review["breakdown"]["enrollments"]["schools"]
    assert schools[0] == {"key": "sch-1", "name": "School 1 High", "present": 22, "removed": 22}
    assert {t["name"] for t in review["teachers"]} == {"Teacher1 Smith"}
    assert [p["present"] for p in review["history"]["users"]] == [440, 443]
    row = data["changes"]["changes"][0]
    assert row["school"] == "School 1 High" and " in Math 1 " in row["name"], row
