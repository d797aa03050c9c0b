"""Two apps in one process, each with its own database: every app context (a request, a CLI
command, a job) reads and writes its own app's, whichever app was initialised last."""
from __future__ import annotations

import threading

import pytest
from conftest import make_app
from flask import Flask

from al_roster import ALRoster
from al_roster.models import District, database
from al_roster.services.districts import add_district


def slugs() -> list[str]:
    return sorted(d.slug for d in District.select())


@pytest.fixture
def two_apps(tmp_path):
    made = {}
    for name in ("alpha", "beta"):
        app = make_app(f"sqlite:///{tmp_path / name / 'roster.sqlite3'}", tmp_path / name)
        app.add_url_rule("/districts", f"districts_{name}", lambda: ",".join(slugs()))
        with app.app_context():
            add_district(name, name.title())
        made[name] = app
    yield made["alpha"], made["beta"]
    for app in made.values():
        app.extensions["al_roster"].db.close()


def test_each_app_context_reads_its_own_database(two_apps):
    alpha, beta = two_apps
    with alpha.app_context():
        assert slugs() == ["alpha"]
        with beta.app_context():
            assert slugs() == ["beta"]
        assert slugs() == ["alpha"]  # popping beta's context gives alpha its database back
    with beta.app_context():
        assert slugs() == ["beta"]


def test_each_request_reads_its_own_database(two_apps):
    alpha, beta = two_apps
    assert alpha.test_client().get("/districts").text == "alpha"
    assert beta.test_client().get("/districts").text == "beta"
    with beta.app_context():  # a request of another app inside: still its own
        assert alpha.test_client().get("/districts").text == "alpha"
        assert slugs() == ["beta"]


def test_threads_and_commands_use_their_apps_database(two_apps):
    alpha, beta = two_apps
    seen = {}

    def work(app, name):
        with app.app_context():
            seen[name] = slugs()
    threads = [threading.Thread(target=work, args=(app, name))
               for app, name in ((alpha, "alpha"), (beta, "beta"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"alpha": ["alpha"], "beta": ["beta"]}
    listed = alpha.test_cli_runner().invoke(args=["al-roster", "district", "list"])
    assert listed.exit_code == 0 and "alpha" in listed.output and "beta" not in listed.output


def test_outside_any_app_context_the_last_app_initialised_is_the_default(two_apps):
    _, beta = two_apps
    assert database.obj is beta.extensions["al_roster"].db
    assert slugs() == ["beta"]


def test_an_app_initialised_inside_its_own_context_leaves_the_outer_binding_alone(
        two_apps, tmp_path):
    alpha, _ = two_apps
    late = Flask("late")
    late.config.update(SECRET_KEY="x", AL_ROSTER_DATABASE_URL=f"sqlite:///{tmp_path / 'l.db'}",
                       AL_ROSTER_STORAGE_DIR=str(tmp_path / "late"))
    with alpha.app_context():
        with late.app_context():  # pushed before the app knew the extension
            ALRoster(late)
        assert slugs() == ["alpha"]  # popping it did not unbind alpha's database
