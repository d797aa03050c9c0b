"""Fixtures: apps on SQLite and on the real PostgreSQL server, clients and CLI runners.

PostgreSQL tests use a database of their own per test session (created and dropped here),
so several sessions can run at once. Without the server they skip, except under CI
(CI=true), where a missing service is a failure.
"""
from __future__ import annotations

import os
from pathlib import Path

import peewee
import pytest

from al_roster import schema
from al_roster.models import ALL_MODELS, database

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "oneroster" / "samples"
PG_ADMIN_URL = os.environ.get("AL_ROSTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def need_service(name: str, error: Exception) -> None:
    message = f"{name} is not reachable ({error})"
    if IN_CI:
        pytest.fail(message + "; CI must provide it.")
    pytest.skip(message)


def need_samples() -> Path:
    """The public OneRoster samples beside the project (``../shared/oneroster/samples``).
    A clone with nothing beside it skips the tests that read them; CI must have them."""
    if not SAMPLES.is_dir():
        message = f"the public OneRoster samples are not here ({SAMPLES} is missing)"
        if IN_CI:
            pytest.fail(message + "; CI must provide them.")
        pytest.skip(message)
    return SAMPLES


def pytest_runtest_setup(item) -> None:
    if item.get_closest_marker("samples") is not None:
        need_samples()


@pytest.fixture(scope="session")
def pg_url():
    import psycopg2
    from psycopg2 import sql
    name = f"al_roster_test_{os.getpid()}"
    try:
        admin = psycopg2.connect(PG_ADMIN_URL, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        need_service("PostgreSQL", exc)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    db = peewee.PostgresqlDatabase(name, **_pg_params(url))
    schema.upgrade(db)
    db.close()
    yield url
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


def _pg_params(url: str) -> dict:
    from urllib.parse import urlparse
    parsed = urlparse(url)
    return dict(host=parsed.hostname, port=parsed.port or 5432, user=parsed.username)


def partition_tables(cur, parent: str | None = None) -> list[str]:
    """The district partitions of the roster tables on PostgreSQL (of ``parent`` alone, when
    named), by name, through a DB-API cursor (al_roster.models.partitions)."""
    cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE c.relkind = 'r' AND (%s IS NULL OR i.inhparent = to_regclass(%s)) "
                "ORDER BY 1", (parent, parent))
    return [row[0] for row in cur.fetchall()]


def _truncate_postgres(url: str) -> None:
    import psycopg2
    conn = psycopg2.connect(url)
    conn.autocommit = True
    tables = ", ".join(f'"{m._meta.table_name}"' for m in ALL_MODELS)
    with conn.cursor() as cur:
        cur.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        # District ids start again at 1: their roster partitions go too, so each test's first
        # load makes its own (al_roster.models.partitions).
        for partition in partition_tables(cur):
            cur.execute(f'DROP TABLE "{partition}"')
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        extra = [r[0] for r in cur.fetchall() if r[0] not in {m._meta.table_name for m in ALL_MODELS}
                 and r[0] != schema.HISTORY_TABLE]
        if extra:
            cur.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in extra) + " RESTART IDENTITY CASCADE")
    conn.close()


def make_app(db_url: str, tmp_path: Path, **config):
    from plugin import create_app
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "AL_ROSTER_DATABASE_URL": db_url,
        "AL_ROSTER_STORAGE_DIR": str(tmp_path / "storage"),
        **config,
    })
    schema.upgrade(app.extensions["al_roster"].db)
    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request):
    return request.param


@pytest.fixture
def db_url(db_kind, tmp_path, request):
    if db_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'roster.sqlite3'}"
    url = request.getfixturevalue("pg_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def app(db_url, tmp_path):
    app = make_app(db_url, tmp_path)
    with app.app_context():
        yield app
    if not database.obj.is_closed():
        database.obj.close()


@pytest.fixture
def pg_app(pg_url, tmp_path):
    """An app on PostgreSQL alone, its database emptied first."""
    _truncate_postgres(pg_url)
    app = make_app(pg_url, tmp_path)
    with app.app_context():
        yield app
    if not database.obj.is_closed():
        database.obj.close()


@pytest.fixture
def sqlite_app(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'roster.sqlite3'}", tmp_path)
    with app.app_context():
        yield app
    database.obj.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


CHROMIUM = "/usr/bin/chromium"
#: Headless Chromium on a machine with no outside network: no sandbox (root), no GPU, and no
#: background connections that would be refused.
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (no browser is downloaded)."""
    if not os.path.exists(CHROMIUM):
        need_service("Chromium", FileNotFoundError(CHROMIUM))
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def smtp(app):
    """The app's support mail goes to a loopback SMTP server; yields its inbox."""
    from peers.smtp import smtp_server

    from al_roster.services import notifications
    notifications._unreachable_until.clear()  # no pause left by an earlier test
    with smtp_server() as (inbox, port):
        app.config.update(AL_ROSTER_SMTP_HOST="127.0.0.1", AL_ROSTER_SMTP_PORT=port,
                          AL_ROSTER_SUPPORT_EMAIL="support@example.com",
                          AL_ROSTER_BASE_URL="https://app.example.com")
        yield inbox


@pytest.fixture
def live(sqlite_app):
    """The app on a loopback server, with ``/test-sign-in/<account id>`` for browser tests of
    the console: (app, base URL)."""
    from flask_login import login_user
    from peers.loopback import live_server

    from al_roster.models import Account

    @sqlite_app.get("/test-sign-in/<int:account_id>")
    def test_sign_in(account_id):
        login_user(Account.get_by_id(account_id))
        return "signed in"

    with live_server(sqlite_app, threaded=False) as base:
        yield sqlite_app, base
