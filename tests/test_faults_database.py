"""PostgreSQL taken away: pages that say so, a health endpoint, a pool that recovers.

The app reaches its own test database through a TCP proxy (``peers/tcp_proxy.py``):
``drop`` cuts every connection and refuses new ones (the server restarting, or the network
gone), ``pass_`` brings it back. Backends are also terminated with pg_terminate_backend in
the middle of a request. The shared PostgreSQL server itself is never stopped.
"""
from __future__ import annotations

import html
import re
import threading
import time
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import requests
from conftest import _truncate_postgres, make_app
from peers.tcp_proxy import tcp_proxy
from signin_helpers import bind, dev_sign_in, live_server, me, setup_districts

from al_roster.models import ImportedClass, Membership, database

DOWN_TEXT = "The app cannot reach its database; try again in a minute"


def through(proxy, url: str) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, f"{user}127.0.0.1:{proxy.port}", parts.path, "", ""))


@pytest.fixture(scope="module")
def site(pg_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("db-faults")
    _truncate_postgres(pg_url)
    target = urlsplit(pg_url)
    with tcp_proxy((target.hostname, target.port or 5432)) as proxy:
        app = make_app(through(proxy, pg_url), tmp, AL_ROSTER_DEV_LOGIN=True,
                       AL_ROSTER_DATABASE_CONNECT_TIMEOUT=2)
        with app.app_context():
            districts = setup_districts(app, tmp)
        with live_server(app) as base:
            yield SimpleNamespace(app=app, base=base, proxy=proxy, districts=districts,
                                  pg_url=pg_url)
        proxy.pass_()
        app.extensions["al_roster"].db.close_all()
    database.close()


@pytest.fixture(autouse=True)
def context(site):
    site.proxy.pass_()
    bind(site.app)
    with site.app.app_context():
        yield
    site.proxy.pass_()


def csrf_token(page: str) -> str:
    return re.search(r'data-csrf-token="([^"]+)"', page).group(1)


def admin(site):
    conn = psycopg2.connect(site.pg_url)
    conn.autocommit = True
    return conn


def test_database_down_pages_say_so_with_retry_after_then_work_again_without_restart(site):
    browser = requests.Session()
    assert dev_sign_in(browser, site.base, "t-ada").status_code == 302
    assert browser.get(site.base + "/", timeout=10).status_code == 200
    assert requests.get(site.base + "/roster/health", timeout=10).json() == {
        "status": "ok", "database": "ok", "redis": "not configured"}

    site.proxy.drop()  # the server goes away: open pooled connections die, new ones fail
    started = time.monotonic()
    page = browser.get(site.base + "/", timeout=20)
    assert page.status_code == 503 and page.headers["Retry-After"] == "60", page.text[:3000]
    assert page.headers["Content-Type"].startswith("text/html")
    text = html.unescape(page.text)
    assert DOWN_TEXT in text and '<html lang="en">' in page.text and "<h1>" in page.text
    assert "Traceback" not in text and "Internal Server Error" not in text
    jwks = requests.get(site.base + "/roster/lti/jwks", timeout=20)
    assert jwks.status_code == 503 and jwks.headers["Retry-After"] == "60"
    assert jwks.json()["error"] == "database_unavailable"
    assert DOWN_TEXT in jwks.json()["message"]
    api = me(browser, site.base)
    assert api.status_code == 503 and api.json()["error"] == "database_unavailable"
    health = requests.get(site.base + "/roster/health", timeout=20)
    assert health.status_code == 503
    assert health.json() == {"status": "down", "database": "down", "redis": "not configured"}
    assert time.monotonic() - started < 15  # each answer within the connect timeout

    site.proxy.pass_()  # the server is back: the same processes serve again
    assert browser.get(site.base + "/", timeout=10).status_code == 200
    assert me(browser, site.base).json()["sourcedId"] == "t-ada"
    assert requests.get(site.base + "/roster/lti/jwks", timeout=10).status_code == 200
    assert requests.get(site.base + "/roster/health", timeout=10).status_code == 200


def test_a_backend_terminated_mid_request_keeps_nothing_and_the_next_request_works(site):
    browser = requests.Session()
    assert dev_sign_in(browser, site.base, "t-ada").status_code == 302
    token = csrf_token(browser.get(site.base + "/", timeout=10).text)
    before = ImportedClass.select().count()
    wanted = {"classes": ["cls-chem"]}  # Ada teaches it; nobody has imported it yet

    holder = admin(site)
    holder.autocommit = False
    hold = holder.cursor()
    hold.execute("LOCK TABLE membership IN EXCLUSIVE MODE")  # the import's last write waits
    answer = {}

    def import_now():
        answer["r"] = browser.post(site.base + "/roster/api/import", json=wanted, timeout=30,
                                   headers={"X-CSRF-Token": token})
    thread = threading.Thread(target=import_now)
    thread.start()
    try:
        watcher = admin(site)  # autocommit, and no `with`: each look is a fresh snapshot
        with watcher.cursor() as cur:
            deadline = time.monotonic() + 20
            blocked = []
            while not blocked and time.monotonic() < deadline:
                cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock' AND pid <> %s",
                            [holder.get_backend_pid()])
                blocked = [row[0] for row in cur.fetchall()]
                time.sleep(0.05)
            assert blocked, "the import never reached its membership insert"
            cur.execute("SELECT pg_terminate_backend(%s)", [blocked[0]])
        watcher.close()
        thread.join(timeout=30)
    finally:
        holder.rollback()
        holder.close()
    failed = answer["r"]
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "60"
    assert failed.json()["error"] == "database_unavailable"
    # Nothing partial: the class row inserted before the membership insert was rolled back.
    assert ImportedClass.select().count() == before
    assert not ImportedClass.select().where(ImportedClass.sourced_id == "cls-chem").exists()

    again = browser.post(site.base + "/roster/api/import", json=wanted, timeout=30,
                         headers={"X-CSRF-Token": token})
    assert again.status_code == 200, again.text
    chem = ImportedClass.get(ImportedClass.sourced_id == "cls-chem")
    assert Membership.select().where(Membership.imported_class == chem).count() >= 1
