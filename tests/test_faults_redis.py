"""Redis taken away: sign-in goes on, a nonce stays single use, the log stays quiet.

Redis is pointed at a closed port, or is a redis-server of the test's own, stopped and
started again mid-test (the shared Redis is never touched). Sign-ins are real: ClassLink
SSO against the OpenID provider peer, LTI launches from the platform peer.
"""
from __future__ import annotations

import html
import logging
import os
import subprocess
import sys
import time

import pytest
import requests
from fault_helpers import ADA, BO, CY, closed_port, launch, launch_for_replay, lti_site, own_redis
from peers.oidc_peer import complete_login
from signin_helpers import bind, me, sso_site

from al_roster.models import Account, UsedNonce

REDIS_WARNING = "is unreachable"


def sso_accounts() -> list[dict]:
    def account(sub, given, family, sourced_id, role):
        return {"sub": sub, "given_name": given, "family_name": family,
                "email": f"{given.lower()}@classlink.example",
                "info": {"UserId": int(sub), "TenantId": 456, "SourcedId": sourced_id,
                         "Role": role}}
    return [account("1001", "Ada", "Lovelace", "t-ada", "Teacher"),
            account("2002", "Bo", "Pupil", "s-bo", "Student")]


@pytest.fixture(scope="module")
def lti(tmp_path_factory):
    with lti_site(tmp_path_factory.mktemp("lti-redis"),
                  AL_ROSTER_REDIS_RETRY_SECONDS=0.2) as site:
        yield site


@pytest.fixture(scope="module")
def sso(tmp_path_factory):
    with sso_site(tmp_path_factory.mktemp("sso-redis"), sso_accounts()) as site:
        yield site


def redis_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING
            and "Redis at" in r.getMessage() and REDIS_WARNING in r.getMessage()]


def test_lti_launches_with_redis_at_a_closed_port_sign_in_and_stay_single_use(lti, caplog):
    bind(lti.app)
    url = f"redis://127.0.0.1:{closed_port()}/0"
    lti.app.config["AL_ROSTER_REDIS_URL"] = url
    caplog.set_level(logging.WARNING)
    try:
        started = time.monotonic()
        first, replay = launch_for_replay(lti, BO)
        assert first.status_code == 302 and first.headers["Location"] == "/"
        for who in (ADA, CY, BO):
            browser, result = launch(lti, who)
            assert result.response.status_code == 302, result.response.text
            assert me(browser, lti.base).json()["sourcedId"] == who.person_sourcedid
        assert time.monotonic() - started < 20
        again = replay()
        assert again.status_code == 400
        assert "This launch was already used" in html.unescape(again.text)
        # A load balancer keeps this node: sign-in works; the health says what is down.
        health = requests.get(lti.base + "/roster/health", timeout=10)
        assert health.status_code == 200
        assert health.json() == {"status": "degraded", "database": "ok", "redis": "down"}
    finally:
        lti.app.config["AL_ROSTER_REDIS_URL"] = None
    # One warning for the outage, not one per launch; it names the URL.
    warnings = redis_warnings(caplog)
    assert len(warnings) == 1 and url in warnings[0].getMessage()


def test_lti_launches_go_on_while_redis_stops_and_starts_again(lti):
    bind(lti.app)
    with own_redis() as redis:
        lti.app.config["AL_ROSTER_REDIS_URL"] = redis.url
        try:
            before_outage, replay_before = launch_for_replay(lti, BO)
            assert before_outage.status_code == 302
            assert len(redis.spent_keys()) == 1  # spent in Redis (and the database)

            redis.stop()
            during, replay_during = launch_for_replay(lti, CY)
            assert during.status_code == 302, during.text
            # Spent before the outage, known to the database: refused without Redis.
            assert replay_before().status_code == 400

            redis.start()  # empty: it remembers nothing
            time.sleep(0.3)  # past AL_ROSTER_REDIS_RETRY_SECONDS
            after, _ = launch_for_replay(lti, ADA)
            assert after.status_code == 302
            assert len(redis.spent_keys()) == 1  # back to Redis for new launches
            assert requests.get(lti.base + "/roster/health", timeout=10).json()["redis"] == "ok"
            # Spent while Redis was down: the restarted Redis does not know it; refused.
            again = replay_during()
            assert again.status_code == 400
            assert "This launch was already used" in html.unescape(again.text)
        finally:
            lti.app.config["AL_ROSTER_REDIS_URL"] = None


def sso_sign_in(sso, account_id: str):
    browser = requests.Session()
    start = browser.get(sso.base + "/roster/classlink/login", allow_redirects=False, timeout=10)
    callback = complete_login(browser, start, account_id)
    before = browser.cookies.copy()
    return browser, before, callback, browser.get(callback, allow_redirects=False, timeout=10)


def test_classlink_sign_in_with_redis_at_a_closed_port_works_and_is_single_use(sso, caplog):
    bind(sso.app)
    url = f"redis://127.0.0.1:{closed_port()}/0"
    sso.app.config["AL_ROSTER_REDIS_URL"] = url
    caplog.set_level(logging.WARNING)
    spent = UsedNonce.select().count()
    try:
        browser, cookies_before, callback, answer = sso_sign_in(sso, "1001")
        assert answer.status_code == 302, answer.text
        assert me(browser, sso.base).json()["sourcedId"] == "t-ada"
        browser, _, _, answer = sso_sign_in(sso, "2002")
        assert answer.status_code == 302
        assert me(browser, sso.base).json()["sourcedId"] == "s-bo"

        replayer = requests.Session()
        replayer.cookies.update(cookies_before)
        replay = replayer.get(callback, allow_redirects=False, timeout=10)
        assert replay.status_code == 400
        assert "This sign-in was already used." in html.unescape(replay.text)
        assert me(replayer, sso.base).status_code == 401
    finally:
        sso.app.config["AL_ROSTER_REDIS_URL"] = None
    assert UsedNonce.select().count() == spent + 4  # a state and a nonce per sign-in
    assert Account.select().where(Account.sourced_id.in_(["t-ada", "s-bo"])).count() == 2
    assert len(redis_warnings(caplog)) == 1


CLI = os.path.join(os.path.dirname(sys.executable), "al-roster")


def cli(env, *args):
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def test_commands_that_need_redis_say_it_is_unreachable_and_exit_non_zero(tmp_path):
    url = f"redis://:hunter2@127.0.0.1:{closed_port()}/0"
    env = dict(os.environ, AL_ROSTER_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}",
               AL_ROSTER_INSTANCE_PATH=str(tmp_path / "instance"),
               AL_ROSTER_STORAGE_DIR=str(tmp_path / "storage"))
    (tmp_path / "drop").mkdir()
    for args in (["db", "upgrade"],
                 ["district", "add", "north", "--name", "North", "--plan", "prime",
                  "--rostering"],
                 ["district", "source", "north", "--csv-drop", str(tmp_path / "drop")]):
        done = cli(env, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    env["AL_ROSTER_REDIS_URL"] = url
    shown = url.replace("hunter2", "***")
    for args in (["sync-now", "north"], ["nightly"], ["worker", "--burst"], ["cron"]):
        started = time.monotonic()
        done = cli(env, *args)
        said = done.stdout + done.stderr
        assert done.returncode != 0, (args, said)
        assert f"Redis at {shown} is unreachable" in said, (args, said)
        assert "Traceback" not in said and "hunter2" not in said, (args, said)
        assert time.monotonic() - started < 30
