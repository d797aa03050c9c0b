"""The extension as a host-app developer meets it: init_app, config defaults, no surprises."""
from __future__ import annotations

from pathlib import Path

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


@pytest.mark.parametrize("order", ["roster first", "host loader after", "manager after"])
def test_the_host_may_set_up_flask_login_before_or_after_the_extension(tmp_path, order):
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="x", TESTING=True)
    host_users = {"7": "host user seven"}
    if order == "manager after":
        ALRoster(app)
        LoginManager(app).user_loader(host_users.get)
    elif order == "host loader after":
        manager = LoginManager(app)
        ALRoster(app)
        manager.user_loader(host_users.get)
    else:
        ALRoster(app)
    upgrade(app.extensions["al_roster"].db)

    @app.get("/who")
    def who():
        from flask_login import current_user
        return str(getattr(current_user, "sourced_id", current_user))

    @app.get("/sign-in/<user_id>")
    def sign_in(user_id):
        from al_roster.models import Account as A
        login_user(A.get_by_id(int(user_id)))
        return "ok"

    with app.app_context():
        district = District.create(slug="d", name="D", plan="prime", rostering_enabled=True)
        roster_person(district, "teacher", "tch-1")
        account = Account.create(district=district, sourced_id="tch-1", role="teacher")
    client = app.test_client()
    client.get(f"/sign-in/{account.id}")
    assert client.get("/who").get_data(as_text=True) == "tch-1"  # no ValueError on 'alr:1'
    if order != "roster first":
        with client.session_transaction() as session:
            session["_user_id"] = "7"
        assert client.get("/who").get_data(as_text=True) == "host user seven"


def test_a_json_client_gets_the_csrf_token_and_class_ids_from_api_me(tmp_path):
    from conftest import make_app
    from security.attack import dev_sign_in

    from al_roster.models import ImportedClass, Membership
    app = make_app(f"sqlite:///{tmp_path / 'r.sqlite3'}", tmp_path, AL_ROSTER_DEV_LOGIN=True)
    with app.app_context():
        district = District.create(slug="d", name="D", plan="prime", rostering_enabled=True)
        roster_person(district, "teacher", "tch-1")
        algebra = ImportedClass.create(district=district, sourced_id="cls-1", title="Algebra")
        Membership.create(imported_class=algebra, district_id=district.id,
                          user_sourced_id="tch-1", role="teacher")
        client = app.test_client()
        dev_sign_in(client, "d", "tch-1")
        me = client.get("/roster/api/me").get_json()
        assert me["classes"] == [{"id": algebra.id, "sourcedId": "cls-1", "title": "Algebra"}]
        refused = client.post("/roster/api/import", json={"classes": []})
        assert refused.status_code == 400
        sent = client.post("/roster/api/import", json={"classes": []},
                           headers={"X-CSRF-Token": me["csrfToken"]})
        assert sent.status_code != 400, sent.get_data(as_text=True)


def test_a_host_hook_that_returns_no_user_refuses_the_sign_in(tmp_path):
    from security.attack import dev_sign_in

    from al_roster.models import database
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="x", TESTING=True, AL_ROSTER_DEV_LOGIN=True)
    LoginManager(app).user_loader(lambda user_id: None)
    seen = []
    ALRoster(app, user_for_account=lambda account: seen.append(account.sourced_id))
    upgrade(app.extensions["al_roster"].db)
    with app.app_context():
        district = District.create(slug="d", name="D", plan="prime", rostering_enabled=True)
        roster_person(district, "teacher", "tch-1")
        client = app.test_client()
        answer = dev_sign_in(client, "d", "tch-1")
        assert answer.status_code == 403 and "did not accept your sign-in" in answer.get_data(
            as_text=True)
        assert seen == ["tch-1"]  # asked once, with the account
        assert client.get("/roster/api/me").status_code == 401  # nobody signed in
    database.close()


def test_the_web_app_does_not_load_what_only_a_sync_needs(tmp_path):
    """numpy (the keys of unchanged rows) is imported by the first sync that needs it, not
    by every web process of the host app."""
    import subprocess
    import sys
    script = ("import sys\nfrom plugin import create_app\n"
              f"create_app({{'AL_ROSTER_DATABASE_URL': 'sqlite:///{tmp_path}/x.db', "
              f"'AL_ROSTER_STORAGE_DIR': '{tmp_path}'}})\n"
              "print('numpy' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=str(Path(__file__).resolve().parents[1]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"
