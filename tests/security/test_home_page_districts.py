"""Attack: anyone opens the reference app's home page to learn which districts use it.

In production (not debug, no demo sign-in) the anonymous home page is a plain page with
the sign-in link: no district's name, plan, last run or roster counts. Only the demo
(``make run``: debug mode and AL_ROSTER_DEV_LOGIN) lists them.
"""
from __future__ import annotations

from admin_helpers import two_districts
from conftest import make_app

from al_roster.models import District


def test_anonymous_visitor_of_a_production_app_sees_no_district(app, tmp_path):
    north, south, *_ = two_districts(tmp_path)
    District.update(name="Springfield Unified").where(District.id == south.id).execute()
    app.testing = False  # production: neither debug nor testing nor demo sign-in
    assert not app.debug and not app.config["AL_ROSTER_DEV_LOGIN"]
    page = app.test_client().get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for leak in ("North District", "Springfield Unified", "north", "south", "Roster copy",
                 "Last sync", "Plan:", "rostering"):
        assert leak not in text, leak
    assert "ClassLink" in text  # how to sign in


def test_demo_app_still_lists_the_districts(db_url, tmp_path):
    demo = make_app(db_url, tmp_path, AL_ROSTER_DEV_LOGIN=True)
    with demo.app_context():
        two_districts(tmp_path)
        text = demo.test_client().get("/").get_data(as_text=True)
    assert "North District" in text and "South District" in text and "Roster copy" in text
