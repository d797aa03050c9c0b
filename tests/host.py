"""A host app built from the README alone: its own ``User`` table and Flask-Login loader
(registered before or after ``ALRoster``), its own layout as AL_ROSTER_BASE_TEMPLATE, its
user logged in after a ClassLink or LTI sign-in, and receivers that keep its own copy of the
classes the plugin reports. ``flask --app host:create_app ...`` runs it (tests/ on the path).

Its tables live in their own SQLite file (HOST_DATABASE, beside the roster's by default).
"""
from __future__ import annotations

import os

import peewee
from flask import Flask, render_template
from flask_login import LoginManager, UserMixin
from jinja2 import DictLoader

from al_roster import ALRoster, api

host_db = peewee.DatabaseProxy()


class User(UserMixin, peewee.Model):
    name = peewee.TextField()
    #: The plugin's documented link: the roster Account this user signs in as.
    roster_account_id = peewee.IntegerField(unique=True)

    class Meta:
        database = host_db
        table_name = "host_user"


class Course(peewee.Model):
    """The host's own record of a class the plugin reported (its receivers write it)."""
    roster_class_id = peewee.IntegerField(unique=True)
    title = peewee.TextField()
    students = peewee.IntegerField(default=0)

    class Meta:
        database = host_db
        table_name = "host_course"


LAYOUT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{% block title %}Host{% endblock %}</title></head><body>
{% from "al_roster/import_dialog.html" import add_classes_button, import_dialog with context %}
<nav aria-label="Main Menu">
  <button type="button" aria-expanded="false" aria-controls="host-menu"
          data-alr-menu-toggle>Main Menu</button>
  <ul id="host-menu" hidden>
    <li>{{ add_classes_button() }}</li>
    <li><a href="{{ url_for('al_roster.classes_page') }}">Your classes</a></li>
  </ul>
</nav>
{% if current_user.is_authenticated %}
<p>Signed in as {{ current_user.name }} ({{ current_user.__class__.__name__ }})</p>{% endif %}
<main>{% block content %}{% endblock %}</main>
{{ import_dialog() }}
</body></html>"""
HOME = """{% extends "host/layout.html" %}{% block content %}<h1>Host home</h1>{% endblock %}"""


def user_for_account(account) -> User:
    """The host's user for a roster Account: made on its first sign-in, found after."""
    user, _ = User.get_or_create(roster_account_id=account.id, defaults={"name": account.name})
    return user


def create_app(config: dict | None = None, *, loader: str = "before") -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "host-secret")
    app.config.update(api.settings_from_environment())
    app.config.update(config or {})
    app.config.setdefault("AL_ROSTER_BASE_TEMPLATE", "host/layout.html")
    app.jinja_loader = DictLoader({"host/layout.html": LAYOUT, "host/home.html": HOME})
    manager = LoginManager()
    if loader == "before":
        manager.init_app(app)
        manager.user_loader(_load_user)
    ALRoster(app, user_for_account=user_for_account)
    if loader == "after":
        manager.init_app(app)
        manager.user_loader(_load_user)
    _bind_host_database(app)
    _connect_receivers(app)
    app.add_url_rule("/", "home", lambda: render_template("host/home.html"))
    return app


def _load_user(user_id: str) -> User | None:
    return User.get_or_none(User.id == int(user_id)) if user_id.isdigit() else None


def _bind_host_database(app: Flask) -> None:
    path = app.config.get("HOST_DATABASE") or os.environ.get("HOST_DATABASE") or os.path.join(
        app.instance_path, "host.sqlite3")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    host_db.initialize(peewee.SqliteDatabase(path, pragmas={"journal_mode": "wal"}))
    host_db.create_tables([User, Course])


def _connect_receivers(app: Flask) -> None:
    for signal in (api.signals.class_imported, api.signals.class_renamed,
                   api.signals.member_added, api.signals.member_removed,
                   api.signals.member_restored):
        signal.connect(_mirror_class, app, weak=False)


def _mirror_class(sender, event, **extra) -> None:
    class_id = event.imported_class_id
    roster = api.class_roster(class_id)
    (Course.insert(roster_class_id=class_id, title=roster.title, students=len(roster.students))
     .on_conflict(conflict_target=[Course.roster_class_id],
                  update={Course.title: roster.title, Course.students: len(roster.students)})
     .execute())
