"""The reference host app: a small education app that mounts al_roster through its public
API only (``al_roster.ALRoster``, ``al_roster.api``, ``al_roster.signals``).

``create_app()`` is what ``make run`` serves and what the tests drive. It keeps its own
tables beside the roster's (peewee, on ``api.database``):

- ``User``: the app's own users; a ClassLink or LTI sign-in logs one in
  (``user_for_account``), linked to its roster account by ``roster_account_id``;
- ``Course``, ``Seat``: its copy of the imported classes and who is in them, kept by
  receivers of the roster signals, from web requests, commands and RQ workers alike
  (``flask --app plugin:create_app al-roster worker``);
- ``Assignment`` (one per imported class) and ``Submission``: a student's work. A student the
  SIS drops loses their seat, and their submission is hidden from the class; it is back,
  unchanged, when the SIS re-adds them.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets

import peewee
from flask import Flask, abort, current_app, redirect, render_template_string, request, url_for
from flask_login import LoginManager, UserMixin, current_user
from markupsafe import Markup

from al_roster import ALRoster, api

FIRST_ASSIGNMENT = "Week 1: what do you want to learn this term?"


class Table(peewee.Model):
    class Meta:
        database = api.database


class User(UserMixin, Table):
    name = peewee.TextField()
    role = peewee.CharField(max_length=32)
    #: The plugin's documented link to the roster account (column ``account_id``).
    roster_account_id = peewee.IntegerField(unique=True, column_name="account_id")

    class Meta:
        table_name = "ref_user"


class Course(Table):
    roster_class_id = peewee.IntegerField(unique=True)
    district_id = peewee.IntegerField()
    title = peewee.TextField()
    archived = peewee.BooleanField(default=False)

    class Meta:
        table_name = "ref_course"


class Seat(Table):
    course = peewee.ForeignKeyField(Course, on_delete="CASCADE")
    user_sourced_id = peewee.TextField()
    role = peewee.CharField(max_length=16)
    active = peewee.BooleanField(default=True)

    class Meta:
        table_name = "ref_seat"
        indexes = ((("course", "user_sourced_id"), True),)


class Assignment(Table):
    course = peewee.ForeignKeyField(Course, on_delete="CASCADE")
    title = peewee.TextField()

    class Meta:
        table_name = "ref_assignment"


class Submission(Table):
    assignment = peewee.ForeignKeyField(Assignment, on_delete="CASCADE")
    user_sourced_id = peewee.TextField()
    text = peewee.TextField()
    at = peewee.DateTimeField(default=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))

    class Meta:
        table_name = "ref_submission"
        indexes = ((("assignment", "user_sourced_id"), True),)


TABLES = [User, Course, Seat, Assignment, Submission]


def tables_ready() -> None:
    """The app's own tables, made on first need (the database may be down at start-up)."""
    state = current_app.extensions.setdefault("reference_app", {})
    if not state.get("tables"):
        api.database.create_tables(TABLES, safe=True)
        state["tables"] = True


# -- who is signed in ----------------------------------------------------------------------

def user_for_account(account) -> User:
    """The app's user for a roster account: made at its first sign-in, kept up to date."""
    tables_ready()
    user, made = User.get_or_create(roster_account_id=account.id,
                                    defaults={"name": account.name, "role": account.role})
    if not made and (user.name, user.role) != (account.name, account.role):
        User.update(name=account.name, role=account.role).where(User.id == user.id).execute()
        user.name, user.role = account.name, account.role
    return user


def load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    tables_ready()
    return User.get_or_none(User.id == int(user_id))


# -- the receivers: the roster's changes, mirrored into the app's tables ---------------------

def _course(event) -> int | None:
    """The app's Course id for the event's class (made on first sight, then remembered: a
    night's thousands of member events cost one statement each)."""
    if event.imported_class_id is None:
        return None
    known = current_app.extensions["reference_app"].setdefault("courses", {})
    if event.imported_class_id not in known:
        title = (event.payload or {}).get("title") or event.class_sourced_id or "Class"
        (Course.insert(roster_class_id=event.imported_class_id, district_id=event.district_id,
                       title=title).on_conflict_ignore().execute())
        known[event.imported_class_id] = Course.get(
            Course.roster_class_id == event.imported_class_id).id
    return known[event.imported_class_id]


def class_imported(sender, event, **extra) -> None:
    tables_ready()
    course_id = _course(event)
    if course_id is not None and not Assignment.select().where(
            Assignment.course == course_id).exists():
        Assignment.create(course=course_id, title=FIRST_ASSIGNMENT)


def class_changed(sender, event, **extra) -> None:
    tables_ready()
    course_id = _course(event)
    if course_id is None:
        return
    after = (event.payload or {}).get("after") or {}
    changes = {"class_archived": {Course.archived: True},
               "class_restored": {Course.archived: False},
               "class_renamed": {Course.title: after.get("title") or Course.title}}
    Course.update(changes[event.kind]).where(Course.id == course_id).execute()


def member_changed(sender, event, **extra) -> None:
    """A member added or restored takes (back) their seat; one removed leaves it, and their
    work stays, hidden, for when they come back."""
    tables_ready()
    course_id = _course(event)
    if course_id is None or not event.user_sourced_id:
        return
    active = event.kind != "member_removed"
    role = (event.payload or {}).get("role") or "student"
    (Seat.insert(course=course_id, user_sourced_id=event.user_sourced_id, role=role, active=active)
     .on_conflict(conflict_target=[Seat.course, Seat.user_sourced_id],
                  update={Seat.active: active, Seat.role: role}).execute())


def district_purged(sender, district, account_ids, class_ids, **extra) -> None:
    """A purged district leaves nothing here either: its users, courses and their work."""
    tables_ready()
    current_app.extensions["reference_app"].pop("courses", None)
    if class_ids:
        Course.delete().where(Course.roster_class_id.in_(class_ids)).execute()  # cascades
    if account_ids:
        User.delete().where(User.roster_account_id.in_(account_ids)).execute()


def connect_receivers(app: Flask) -> None:
    signals = api.signals
    signals.district_purged.connect(district_purged, app, weak=False)
    signals.class_imported.connect(class_imported, app, weak=False)
    for name in ("class_archived", "class_restored", "class_renamed"):
        getattr(signals, name).connect(class_changed, app, weak=False)
    for name in ("member_added", "member_removed", "member_restored"):
        getattr(signals, name).connect(member_changed, app, weak=False)


# -- pages ---------------------------------------------------------------------------------

LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title or "Reference app" }} · al_roster</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 0 1rem; }
  header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center;
           justify-content: space-between; padding: .75rem 0; border-bottom: 1px solid #ccc; }
  .menu-items { display: flex; gap: .75rem; align-items: center; list-style: none; margin: 0;
                padding: 0; }
  .menu-items[hidden] { display: none; }
  .menu-toggle { min-height: 44px; padding: .4rem .9rem; font: inherit; }
  textarea { width: 100%; box-sizing: border-box; font: inherit; }
</style></head>
<body>
{% from "al_roster/import_dialog.html" import add_classes_button, import_dialog with context %}
<header>
  {% if current_user.is_authenticated %}
  <nav aria-label="Main Menu">
    <button type="button" class="menu-toggle" aria-expanded="false" aria-controls="main-menu"
            data-alr-menu-toggle>Main Menu</button>
    <ul id="main-menu" class="menu-items" hidden>
      <li>{{ add_classes_button() }}</li>
      <li><a href="{{ url_for('al_roster.classes_page') }}">Your classes</a></li>
      <li><a href="{{ url_for('home') }}">Your courses</a></li>
      <li><a href="{{ url_for('al_roster.logout') }}">Sign out</a></li>
    </ul>
  </nav>
  <p>Signed in as {{ current_user.name }} ({{ current_user.role }})</p>
  {% elif config.AL_ROSTER_DEV_LOGIN %}
  <p><a href="{{ url_for('al_roster.dev_login_page') }}">Sign in (demo)</a></p>
  {% else %}
  <p>Open this app from your ClassLink portal to sign in, or
     <a href="{{ url_for('al_roster.classlink_login') }}">sign in with ClassLink</a>.</p>
  {% endif %}
</header>
<main>{{ body }}</main>
{{ import_dialog() }}
</body></html>"""

HOME = """{% if courses %}<h1>Your courses</h1><ul>
{% for course in courses %}<li><a href="{{ url_for('course_page', course_id=course.id) }}">
  {{ course.title }}</a>{% if course.archived %} (archived){% endif %}</li>{% endfor %}
</ul>{% elif current_user.is_authenticated %}<h1>Your courses</h1>
<p>None yet. Teachers: open the "Main Menu", click the "+" icon to add your classes.</p>{% endif %}
{% if districts is none %}
<h1>Reference app</h1>
<p>An education app that gets its classes and rosters from ClassLink.</p>
{% else %}
<h1>Districts</h1>
{% for d in districts if d.review_run %}<p class="alr-advice">
  Try it: sign in as a district administrator and review run {{ d.review_run.id }}.
  The second night's export left a school out; its new students are already in place, and the
  school's removals wait for your decision (approve, reject, or undo the applied part).
  <a href="{{ url_for('al_roster.dev_login_page', district=d.slug) }}">Sign in (demo)</a></p>
{% endfor %}
{% for d in districts %}
<section aria-labelledby="d-{{ d.slug }}">
  <h2 id="d-{{ d.slug }}">{{ d.name }}</h2>
  <p>Plan: {{ d.plan }} · rostering {{ "enabled" if d.rostering_enabled else "disabled" }}</p>
  {% if d.last_run %}
  <p>Last sync: run {{ d.last_run.id }}, {{ d.last_run.status }},
     {{ d.last_run.started_at.strftime("%Y-%m-%d %H:%M") }} UTC. {{ d.last_run.message }}</p>
  {% else %}<p>Last sync: none yet.</p>{% endif %}
  <table><caption>Roster copy</caption>
    <tr><th scope="col">Records</th><th scope="col">Present</th></tr>
    {% for name, count in d.counts.items() %}
    <tr><td>{{ name }}</td><td>{{ "{:,}".format(count) }}</td></tr>
    {% endfor %}
  </table>
</section>
{% else %}
<p>No districts yet: <code>al-roster district add SLUG --name NAME</code>.</p>
{% endfor %}
{% endif %}"""

COURSE = """<h1>{{ course.title }}</h1>
<h2>{{ assignment.title }}</h2>
{% if seat.role == "teacher" %}
<table><caption>Submissions</caption>
  <tr><th scope="col">Student</th><th scope="col">Answer</th></tr>
  {% for name, submission in shown %}
  <tr><td>{{ name }}</td><td>{{ submission.text }}</td></tr>
  {% else %}<tr><td colspan="2">No submissions yet.</td></tr>{% endfor %}
</table>
{% if hidden %}<p role="status">{{ hidden }} hidden: from students no longer in this class in
  the SIS. They come back if the district re-adds them.</p>{% endif %}
{% else %}
<form method="post" action="{{ url_for('submit', course_id=course.id) }}">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <label for="answer">Your answer</label>
  <textarea id="answer" name="text" rows="4" required maxlength="5000">{{
    mine.text if mine else "" }}</textarea>
  <button type="submit">Submit</button>
</form>
{% if mine %}<p role="status">Submitted {{ mine.at.strftime("%Y-%m-%d %H:%M") }} UTC.</p>{% endif %}
{% endif %}"""


def page(template: str, title: str | None = None, **context):
    body = Markup(render_template_string(template, **context))
    return render_template_string(LAYOUT, body=body, title=title)


def my_courses(account) -> list[Course]:
    return list(Course.select().join(Seat).where(
        (Course.district_id == account.district_id) & Seat.active
        & (Seat.user_sourced_id == account.sourced_id)).order_by(Course.title))


def seat_in(course: Course, account) -> Seat | None:
    """The signed-in person's seat in ``course``, while the SIS has them in it."""
    if account is None or course.district_id != account.district_id:
        return None
    return Seat.get_or_none((Seat.course == course) & Seat.active
                            & (Seat.user_sourced_id == account.sourced_id))


def course_for(course_id: int):
    """The course, its assignment and the caller's seat; 404 for anyone without a seat."""
    tables_ready()
    course = Course.get_or_none(Course.id == course_id)
    account = api.account_of(current_user)
    seat = seat_in(course, account) if course is not None else None
    if seat is None:
        abort(404)
    assignment = Assignment.get_or_none(Assignment.course == course)
    if assignment is None:
        assignment = Assignment.create(course=course, title=FIRST_ASSIGNMENT)
    return course, assignment, seat, account


def course_page(course_id: int):
    course, assignment, seat, account = course_for(course_id)
    context = dict(course=course, assignment=assignment, seat=seat, shown=[], hidden=0,
                   mine=None)
    if seat.role == "teacher":
        names = {m.sourced_id: m.name
                 for m in api.class_roster(course.roster_class_id).students}
        seated = {s.user_sourced_id for s in Seat.select().where(
            (Seat.course == course) & Seat.active & (Seat.role == "student"))}
        work = list(Submission.select().where(Submission.assignment == assignment)
                    .order_by(Submission.at))
        context["shown"] = [(names.get(s.user_sourced_id, s.user_sourced_id), s)
                            for s in work if s.user_sourced_id in seated]
        context["hidden"] = len(work) - len(context["shown"])
    else:
        context["mine"] = Submission.get_or_none(
            (Submission.assignment == assignment)
            & (Submission.user_sourced_id == account.sourced_id))
    return page(COURSE, course.title, **context)


def submit(course_id: int):
    if not api.csrf_valid():
        abort(400, description="The form expired. Reload the page and try again.")
    course, assignment, seat, account = course_for(course_id)
    if seat.role != "student":
        abort(403)
    text = request.form.get("text", "").strip()[:5000]
    if text:
        (Submission.insert(assignment=assignment, user_sourced_id=account.sourced_id, text=text)
         .on_conflict(conflict_target=[Submission.assignment, Submission.user_sourced_id],
                      update={Submission.text: text}).execute())
    return redirect(url_for("course_page", course_id=course.id))


def home():
    # Every district's name and counts are for the demo only (debug mode or the demo
    # sign-in): a production home page does not tell visitors who uses the app.
    districts = None
    if current_app.debug or current_app.config.get("AL_ROSTER_DEV_LOGIN"):
        districts = api.districts()
    account = api.account_of(current_user)
    if account is not None:
        tables_ready()
    courses = my_courses(account) if account is not None else []
    return page(HOME, districts=districts, courses=courses)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or secrets.token_hex(32)
    app.config.update(api.settings_from_environment())
    app.config.update(config or {})
    manager = LoginManager(app)
    manager.user_loader(load_user)
    ALRoster(app, user_for_account=user_for_account)
    connect_receivers(app)
    app.add_url_rule("/", "home", home)
    app.add_url_rule("/courses/<int:course_id>", "course_page", course_page)
    app.add_url_rule("/courses/<int:course_id>/submit", "submit", submit, methods=["POST"])
    return app
