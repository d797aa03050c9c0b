"""The Flask extension: ``ALRoster(app)`` or ``ALRoster()`` then ``init_app(app)``."""
from __future__ import annotations

import os
from pathlib import Path

from flask import (
    Flask,
    appcontext_popped,
    appcontext_pushed,
    current_app,
    has_request_context,
    session,
)
from flask_login import user_logged_in, user_logged_out

from .cli import cli
from .models import Account, bind_database
from .models.base import enter_database, leave_database
from .services import notifications, roster_events, sessions
from .services.access import StaffHook, StaffPolicy, parse_staff_setting
from .services.host_users import AccountForUser, HostUsers, UserForAccount
from .services.retention import Retention, undo_refusal
from .settings import DEFAULTS, from_environment, roster_state, use_standalone_app  # noqa: F401
from .sync import events as event_log
from .sync.runner import SyncOptions
from .web import register_web
from .web.framing import frame_ancestors


class ALRoster:
    """OneRoster rostering through ClassLink for a Flask app.

    Keeps nothing of the app: per-app state lives in ``app.extensions["al_roster"]``.
    """

    def __init__(self, app: Flask | None = None, *, is_staff: StaffHook | None = None,
                 user_for_account: UserForAccount | None = None,
                 account_for_user: AccountForUser | None = None):
        self._hooks = dict(is_staff=is_staff, user_for_account=user_for_account,
                           account_for_user=account_for_user)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, is_staff: StaffHook | None = None,
                 user_for_account: UserForAccount | None = None,
                 account_for_user: AccountForUser | None = None) -> None:
        """Registers the extension on ``app``.

        ``is_staff``, if given, is the host app's rule for support staff: called with the
        signed-in user (the host's own user or an al_roster Account), true for staff. Staff
        are otherwise only the accounts granted by id (``al-roster staff grant``,
        AL_ROSTER_STAFF), never anyone matched by e-mail.

        ``user_for_account`` and ``account_for_user`` let the host log in its own user after
        a ClassLink or LTI sign-in (:mod:`al_roster.services.host_users`).

        Configuration: the ``AL_ROSTER_*`` keys, each with its default and what it does in
        :data:`al_roster.settings.DEFAULTS` (the one list of them).
        """
        if "al_roster" in app.extensions:
            raise RuntimeError("ALRoster is already registered on this app.")
        _apply_defaults(app)
        parse_staff_setting(app.config["AL_ROSTER_STAFF"])  # an e-mail there stops start-up
        frame_ancestors(app.config["AL_ROSTER_FRAME_ANCESTORS"])
        host_users = HostUsers(user_for_account or self._hooks["user_for_account"],
                               account_for_user or self._hooks["account_for_user"])
        state = RosterState(app.config, is_staff or self._hooks["is_staff"], host_users)
        app.extensions["al_roster"] = state
        app.cli.add_command(cli, "al-roster")
        register_web(app, state)
        _bind_per_app(app)
        event_log.on_commit(roster_events.announce)  # signals after every commit, any process
        _install_login_manager(app)


class RosterState:
    """What the extension knows about one app: its settings and database."""

    def __init__(self, config, is_staff: StaffHook | None = None,
                 host_users: HostUsers | None = None):
        self.config = config
        self.db = bind_database(config["AL_ROSTER_DATABASE_URL"],
                                connect_timeout=config.get("AL_ROSTER_DATABASE_CONNECT_TIMEOUT"))
        self.is_staff_hook = is_staff
        self.host_users = host_users or HostUsers()

    @property
    def staff(self) -> StaffPolicy:
        """Who is staff: account ids granted by the operator, and the host app's hook."""
        return StaffPolicy.from_setting(self.config["AL_ROSTER_STAFF"], self.is_staff_hook,
                                        self.host_users.account_of)

    def setting(self, key: str):
        return self.config[key]

    @property
    def sync_options(self) -> SyncOptions:
        config = self.config
        return SyncOptions(
            storage_dir=Path(config["AL_ROSTER_STORAGE_DIR"]),
            max_package_bytes=int(config["AL_ROSTER_MAX_PACKAGE_BYTES"]),
            after_run=lambda run: notifications.notify_run(run, config),
            after_look=lambda district, done: notifications.resend_unsent(district, config,
                                                                          done=done),
            undo_refusal=lambda run: undo_refusal(run, Retention.from_config(config)))


def standalone_app() -> Flask:
    """An app carrying only al_roster, configured from the AL_ROSTER_* environment."""
    instance = os.path.abspath(os.environ.get("AL_ROSTER_INSTANCE_PATH", "instance"))
    app = Flask("al_roster_cli", instance_path=instance)
    app.config.update(from_environment())
    ALRoster(app)
    return app


use_standalone_app(standalone_app)


def _apply_defaults(app: Flask) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if not app.config["AL_ROSTER_DATABASE_URL"]:
        path = os.path.join(app.instance_path, "al_roster.sqlite3")
        app.config["AL_ROSTER_DATABASE_URL"] = f"sqlite:///{path}"
    if not app.config["AL_ROSTER_STORAGE_DIR"]:
        app.config["AL_ROSTER_STORAGE_DIR"] = os.path.join(app.instance_path, "al_roster")


def _bind_per_app(app: Flask) -> None:
    """The models use this app's database in each of its app contexts (requests, CLI
    commands, jobs), whatever other app of the process was initialised since; its
    connection goes back at the end of each."""
    app.teardown_appcontext(_close_database)
    appcontext_pushed.connect(_enter_app_database, app, weak=False)
    appcontext_popped.connect(_leave_app_database, app, weak=False)


def _enter_app_database(app: Flask, **extra) -> None:
    enter_database(app.extensions["al_roster"].db, id(app))


def _leave_app_database(app: Flask, **extra) -> None:
    leave_database(id(app))


def _close_database(exc) -> None:
    state = current_app.extensions["al_roster"]
    if not state.db.is_closed() and not state.db.in_transaction():
        state.db.close()


def _install_login_manager(app: Flask) -> None:
    """Accounts sign in through Flask-Login. A host app with its own manager and user loader
    keeps them: account ids carry a prefix, so its loader sees only its own users' ids.

    The host may make its LoginManager, or register its loader, before or after
    ``ALRoster(app)``: each request first checks that the loader in place is ours, wrapping
    whatever the host registered since. An account is loaded only from a session its sign-in
    stamped, and only while that session lives (:mod:`al_roster.services.sessions`)."""
    from flask_login import LoginManager

    if getattr(app, "login_manager", None) is None:
        LoginManager().init_app(app)
    _wrap_user_loader(app.login_manager)

    @app.before_request
    def _keep_the_account_loader() -> None:
        manager = getattr(app, "login_manager", None)
        if manager is not None and not getattr(manager._user_callback, "al_roster", False):
            _wrap_user_loader(manager)


def _wrap_user_loader(manager) -> None:
    from .models.accounts import ACCOUNT_ID_PREFIX

    host_loader = manager._user_callback

    def load_user(user_id: str):
        if user_id.startswith(ACCOUNT_ID_PREFIX):
            user_id = user_id[len(ACCOUNT_ID_PREFIX):]
        elif host_loader is not None:
            return _host_user_still_signed_in(host_loader(user_id))
        if not user_id.isdigit() or not has_request_context():
            return None
        return sessions.account_for_session(
            int(user_id), session.get(sessions.SESSION_KEY),
            lifetime_hours=float(current_app.config["AL_ROSTER_SESSION_HOURS"]))

    load_user.al_roster = True
    manager.user_loader(load_user)


def _host_user_still_signed_in(user):
    """A host user the plugin's sign-in logged in is signed in while the Account's session
    lives (logout anywhere, AL_ROSTER_SESSION_HOURS, the roster); others are the host's."""
    stamp = session.get(sessions.SESSION_KEY) if has_request_context() else None
    if user is None or not isinstance(stamp, dict) or not isinstance(stamp.get("account"), int):
        return user
    account = sessions.account_for_session(
        stamp["account"], stamp,
        lifetime_hours=float(current_app.config["AL_ROSTER_SESSION_HOURS"]))
    return user if account is not None else None


@user_logged_in.connect
def _stamp_session(app, user=None, **extra) -> None:
    """Any sign-in of an account (the plugin's or the host's own ``login_user``) is stamped."""
    if isinstance(user, Account) and "al_roster" in app.extensions:
        session[sessions.SESSION_KEY] = sessions.stamp(user)


@user_logged_out.connect
def _end_sessions(app, user=None, **extra) -> None:
    """Any logout of an account (or of a host user the plugin's sign-in logged in) ends
    every copy of its sessions."""
    if "al_roster" not in app.extensions:
        return
    stamp = session.get(sessions.SESSION_KEY)
    if not isinstance(user, Account) and isinstance(stamp, dict) and isinstance(
            stamp.get("account"), int):
        user = Account.get_or_none(Account.id == stamp["account"])
    if isinstance(user, Account):
        sessions.end_all_sessions(user)
        session.pop(sessions.SESSION_KEY, None)
