"""Item 10: the dev sign-in cannot be switched on in production; item 11: the console's
one-button forms cannot be clickjacked from another site."""
from __future__ import annotations

import pytest
from flask import Flask
from peers.loopback import live_server

from al_roster.models import Account, database
from security.attack import dev_sign_in, district, roster, sync


def test_dev_sign_in_is_refused_once_the_app_leaves_testing_mode(app, tmp_path):
    app.config["AL_ROSTER_DEV_LOGIN"] = True
    north = district("north")
    sync(app, north, tmp_path / "north", roster(("t-ada", "teacher", "ada@north.example")))
    app.testing = False  # configured after start-up: the blueprint's check has passed
    client = app.test_client()
    assert client.get("/roster/dev/login?district=north").status_code == 404
    answer = dev_sign_in(client, "north", "t-ada")
    assert answer.status_code == 404
    assert client.get("/roster/api/me").status_code == 401
    assert not Account.select().exists()


def test_the_plugins_pages_refuse_to_be_framed(client):
    for url in ("/roster/admin/", "/roster/logout", "/roster/api/me", "/roster/classes"):
        headers = client.get(url).headers
        assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), url
        assert headers.get("X-Frame-Options") == "DENY", url


def test_named_origins_may_frame_the_pages_and_no_one_else(app, client):
    app.config["AL_ROSTER_FRAME_ANCESTORS"] = "https://lms.example.org"
    headers = client.get("/roster/logout").headers
    assert headers["Content-Security-Policy"] == "frame-ancestors https://lms.example.org"
    assert "X-Frame-Options" not in headers


@pytest.mark.browser
def test_another_site_framing_the_console_shows_nothing_of_it(sqlite_app, browser):
    """A page on another origin frames the plugin's sign-out page (a one-button form when
    signed in): Chromium must refuse to render any of it."""
    attacker = Flask("attacker")
    database.obj.close()
    with live_server(sqlite_app) as target, live_server(attacker) as evil:
        framed = target + "/roster/logout"
        attacker.add_url_rule("/", "bait", lambda: (
            f'<h1>Win a prize</h1><iframe src="{framed}" width="600" height="400"></iframe>'))
        page = browser.new_page()
        page.goto(evil.replace("127.0.0.1", "localhost") + "/", wait_until="load")
        frame = next(f for f in page.frames if f is not page.main_frame)
        assert "Sign out" not in frame.content()
        page.close()
