"""The reference host app: a small education app that mounts al_roster.

``create_app()`` is what ``make run`` serves and what the tests drive. A real host app does
the same three things: configure AL_ROSTER_* keys, call ``ALRoster(app)``, and link to the
plugin's pages from its own. Its "Main Menu" carries the plugin's "+" (add classes) button,
which opens the class import popup.
"""
from __future__ import annotations

import os
import secrets

from flask import Flask, render_template_string

from al_roster import ALRoster
from al_roster.demo.district import what_to_try
from al_roster.models import District
from al_roster.services.districts import last_run, roster_counts
from al_roster.settings import from_environment

HOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reference app · al_roster</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 0 1rem; }
  header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center;
           justify-content: space-between; padding: .75rem 0; border-bottom: 1px solid #ccc; }
  .menu-items { display: flex; gap: .75rem; align-items: center; list-style: none; margin: 0;
                padding: 0; }
  .menu-items[hidden] { display: none; }
  .menu-toggle { min-height: 44px; padding: .4rem .9rem; font: inherit; }
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
<main>
{% if districts is none %}
<h1>Reference app</h1>
<p>An education app that gets its classes and rosters from ClassLink.</p>
{% else %}
<h1>Districts</h1>
{% for d in districts if d.try %}<p class="alr-advice">{{ d.try }}
  <a href="{{ url_for('al_roster.dev_login_page', district=d.district.slug) }}">Sign in
  (demo)</a></p>{% endfor %}
{% for d in districts %}
<section aria-labelledby="d-{{ d.district.id }}">
  <h2 id="d-{{ d.district.id }}">{{ d.district.name }}</h2>
  <p>Plan: {{ d.district.plan }} ·
     rostering {{ "enabled" if d.district.rostering_enabled else "disabled" }}</p>
  {% if d.run %}
  <p>Last sync: run {{ d.run.id }}, {{ d.run.status }}, {{ d.run.started_at.strftime("%Y-%m-%d %H:%M") }} UTC.
     {{ d.run.message }}</p>
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
{% endif %}
</main>
{{ import_dialog() }}
<script src="{{ url_for('al_roster.static', filename='import_dialog.js') }}" defer></script>
</body></html>"""


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or secrets.token_hex(32)
    app.config.update(from_environment())
    app.config.update(config or {})
    ALRoster(app)

    @app.get("/")
    def home():
        # Every district's name and counts are for the demo only (debug mode or the demo
        # sign-in): a production home page does not tell visitors who uses the app.
        rows = None
        if app.debug or app.config.get("AL_ROSTER_DEV_LOGIN"):
            rows = [{"district": d, "run": last_run(d), "counts": roster_counts(d),
                     "try": what_to_try(d)}
                    for d in District.select().order_by(District.name)]
        return render_template_string(HOME, districts=rows)

    return app
