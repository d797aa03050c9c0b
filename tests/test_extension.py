"""The extension as a host-app developer meets it: init_app, config defaults, no surprises."""
from __future__ import annotations

import pytest
from admin_helpers import roster_person
from flask import Flask
from flask_login import LoginManager, login_user

from al_roster import ALRoster
from al_roster.models import Account, District
from al_roster.schema import upgrade


def test_init_app_sets_prefixed_defaults_and_registers_once(tmp_path):
    app = Flask(__name__, instance_path=str(tmp_path))
    roster = ALRoster()
    roster.init_app(app)
    assert app.extensions["al_roster"].db is not None
    assert app.config["AL_ROSTER_URL_PREFIX"] == "/roster"
    assert app.config["AL_ROSTER_DATABASE_URL"].startswith("sqlite:///")
    assert not hasattr(roster, "app")
    assert "al-roster" in app.cli.commands
    with pytest.raises(RuntimeError, match="already registered"):
        roster.init_app(app)


def test_host_app_keeps_its_own_user_loader(tmp_path):
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config["SECRET_KEY"] = "x"
    manager = LoginManager(app)
    host_users = {"7": "host user seven"}
    manager.user_loader(host_users.get)
    ALRoster(app)
    upgrade(app.extensions["al_roster"].db)
    with app.test_request_context():
        district = District.create(slug="d", name="D", plan="prime", rostering_enabled=True)
        roster_person(district, "teacher", "tch-1")
        account = Account.create(district=district, sourced_id="tch-1", role="teacher")
        assert account.id == 1 and account.get_id() == "alr:1"
        login_user(account)
        loader = manager._user_callback
        assert loader("7") == "host user seven"  # the host's ids still mean the host's users
        assert loader("alr:1").sourced_id == "tch-1"
        assert loader("1") is None  # never the account with the same number
