"""Item 2: a host app's own users are never taken for roster accounts.

The host app has its own users and user loader. Its user "1" is an ordinary member; the
plugin's staff list names account 1 (a real support account). The host user must not get the
console because his id or e-mail happen to match, nor because he carries a ``role`` or
``district_id`` attribute of the host's own meaning. The host's documented hook decides for
host users.
"""
from __future__ import annotations

import pytest
from flask import Flask
from flask_login import LoginManager, UserMixin, login_user

from al_roster import ALRoster
from al_roster.models import Account, District
from al_roster.schema import upgrade


class HostUser(UserMixin):
    def __init__(self, user_id: str, email: str, role: str = "member", support: bool = False):
        self.id, self.email, self.role, self.support = user_id, email, role, support
        self.district_id = 1


HOST_USERS = {
    "1": HostUser("1", "support@vendor.example"),
    "2": HostUser("2", "head@host.example", role="administrator"),
    "3": HostUser("3", "helpdesk@host.example", support=True),
}


def host_app(tmp_path, **roster_options) -> Flask:
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="host-secret", TESTING=True, AL_ROSTER_STAFF="1")
    manager = LoginManager(app)
    manager.user_loader(HOST_USERS.get)
    ALRoster(app, **roster_options)
    upgrade(app.extensions["al_roster"].db)

    @app.get("/host-login/<user_id>")
    def host_login(user_id):
        login_user(HOST_USERS[user_id])
        return "signed in"

    with app.app_context():
        north = District.create(slug="north", name="North", plan="prime", rostering_enabled=True)
        Account.create(district=north, sourced_id="sup-1", role="teacher",
                       email="support@vendor.example")
    return app


@pytest.mark.parametrize("user_id", ["1", "2"])
def test_a_host_user_matching_a_staff_account_or_named_admin_gets_no_console(tmp_path, user_id):
    app = host_app(tmp_path)
    client = app.test_client()
    client.get(f"/host-login/{user_id}")
    for url in ("/roster/api/admin/districts", "/roster/api/admin/districts/north/runs",
                "/roster/admin/"):
        assert client.get(url).status_code == 403, url


def test_the_hosts_hook_decides_which_of_its_users_are_staff(tmp_path):
    app = host_app(tmp_path, is_staff=lambda user: getattr(user, "support", False))
    helpdesk, member = app.test_client(), app.test_client()
    helpdesk.get("/host-login/3")
    member.get("/host-login/1")
    listed = helpdesk.get("/roster/api/admin/districts")
    assert listed.status_code == 200 and [d["slug"] for d in listed.get_json()["districts"]] \
        == ["north"]
    assert member.get("/roster/api/admin/districts").status_code == 403
