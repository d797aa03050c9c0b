"""Attack: a request value or a district's data carries a line break, to forge a log line.

Support reads these logs to answer "why could X not sign in". A value anyone can send (the
SSO callback's ``error``), and values a district's file or ClassLink tenant sets (SourcedIds)
are logged on one line, escaped and cut to a bounded length.
"""
from __future__ import annotations

import logging

import pytest
from admin_helpers import two_districts

from al_roster.logsafe import for_log
from al_roster.models import RosterUser
from al_roster.services.provisioning import SignInRefused, sign_in_roster_user

FAKE = "2026-12-01 08:00:00 INFO al_roster.services.provisioning signed in: account=1 staff"


def lines_logged(caplog) -> list[str]:
    return [line for record in caplog.records for line in record.getMessage().splitlines()]


@pytest.fixture
def sso_app(app):
    app.config.update(AL_ROSTER_CLASSLINK_CLIENT_ID="app", AL_ROSTER_CLASSLINK_CLIENT_SECRET="s")
    return app


def test_sso_callback_error_cannot_forge_a_log_line(sso_app, client, caplog):
    caplog.set_level(logging.INFO, logger="al_roster")
    answer = client.get("/roster/classlink/callback?error=x%0d%0a" + FAKE.replace(" ", "%20")
                        + "%1b[2J%e2%80%ae")
    assert answer.status_code == 400
    assert len(caplog.records) == 1
    assert len(lines_logged(caplog)) == 1
    line = lines_logged(caplog)[0]
    assert "x\\r\\n" + FAKE in line and "\x1b" not in line and "\u202e" not in line


def test_sso_callback_error_is_cut_short(sso_app, client, caplog):
    client.get("/roster/classlink/callback", query_string={"error": "A" * 100_000})
    assert len(caplog.records) == 1 and len(caplog.records[0].getMessage()) < 600


def test_a_districts_sourced_id_cannot_forge_a_log_line(app, tmp_path, caplog):
    north, *_ = two_districts(tmp_path)
    planted = f"stu-1\n{FAKE}"
    RosterUser.update(sourced_id=planted).where(
        (RosterUser.district_id == north.id) & (RosterUser.sourced_id == "stu-1")).execute()
    caplog.set_level(logging.INFO, logger="al_roster")
    with app.test_request_context():
        sign_in_roster_user(north, planted, via="sso")
        with pytest.raises(SignInRefused):  # a SourcedId ClassLink sent, not in the roster
            sign_in_roster_user(north, f"nobody\r\n{FAKE}", classlink_user_id="9\n9", via="sso")
    assert len(lines_logged(caplog)) == len(caplog.records) == 2
    assert all(FAKE in line and not line.startswith("2026") for line in lines_logged(caplog))


def test_for_log_keeps_text_readable():
    assert for_log("Ada Lovelace, Zoë") == "Ada Lovelace, Zoë"
    assert for_log("a\nb\tc\x00\u2028") == "a\\nb\\tc\\x00\\u2028"
    assert for_log("x" * 10, limit=4) == "xxxx...(10 characters)"
    assert for_log(None) == "None"
