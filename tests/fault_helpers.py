"""What the fault tests share: a throwaway Redis they may stop, a closed port, an LTI site.

Everything runs on loopback. The shared Redis and PostgreSQL servers are never stopped:
a test that takes Redis away starts its own ``redis-server`` (no persistence) on a free
port; a test that takes the database away puts a TCP proxy in front of it
(``peers/tcp_proxy.py``) or terminates its own database's backends.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import requests
from conftest import make_app, need_service
from peers.lti_platform import LtiPerson, run_lti_platform
from signin_helpers import live_server, setup_districts

from al_roster.models import database

LTI_CLIENT_ID = "al-roster-tool"


def closed_port() -> int:
    """A loopback port where nothing listens (bound, then released)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server of this test's own on a free port: stop and start it at will."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            need_service("redis-server", FileNotFoundError("redis-server"))
        self.port = closed_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.2):
                if self.client().ping():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def client(self):
        from redis import Redis
        return Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1,
                     socket_timeout=2)

    def spent_keys(self) -> set[bytes]:
        return set(self.client().scan_iter(match="al_roster:spent:*"))


@contextlib.contextmanager
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def person(sourced_id: str, given: str, family: str, *roles: str) -> LtiPerson:
    return LtiPerson(sub=f"cl-{sourced_id}", given_name=given, family_name=family,
                     email=f"{given.lower()}@classlink.example", person_sourcedid=sourced_id,
                     roles=roles or ("Learner",))


ADA = person("t-ada", "Ada", "Lovelace", "Instructor")
BO = person("s-bo", "Bo", "Pupil")
CY = person("s-cy", "Cy", "Pupil")


def register_platform(app, platform, slug: str, deployment_id: str, key_set_url: str) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=[
        "al-roster", "lti", "register", slug, "--issuer", platform.issuer,
        "--client-id", platform.client_id, "--auth-login-url", platform.auth_login_url,
        "--auth-token-url", platform.auth_token_url, "--key-set-url", key_set_url,
        "--deployment-id", deployment_id])
    assert result.exit_code == 0, result.output


@contextlib.contextmanager
def lti_site(tmp: Path, db_url: str | None = None, *, key_set_url=None, **config):
    """The reference app with the sign-in districts on an HTTP server, and an LTI platform
    registered for North (deployment 456). ``key_set_url(platform)`` may name another URL
    for the platform's key set (a proxy in front of it)."""
    app = make_app(db_url or f"sqlite:///{tmp / 'roster.sqlite3'}", tmp, **config)
    with app.app_context():
        districts = setup_districts(app, tmp)
    with live_server(app) as base, \
            run_lti_platform(client_id=LTI_CLIENT_ID, deployment_id="456") as platform:
        platform.configure_tool(login_url=base + "/roster/lti/login",
                                launch_url=base + "/roster/lti/launch",
                                jwks_url=base + "/roster/lti/jwks")
        with app.app_context():
            register_platform(app, platform, "north", "456",
                              key_set_url(platform) if key_set_url else platform.key_set_url)
        yield SimpleNamespace(app=app, base=base, platform=platform, districts=districts)
    database.close()


def launch(site, who: LtiPerson, **knobs):
    """A launch in a new browser: (browser, the platform's LaunchResult)."""
    browser = requests.Session()
    return browser, site.platform.launch(browser, who, **knobs)


def launch_for_replay(site, who: LtiPerson):
    """A launch in a new browser, and a copy of that browser's cookies from just before the
    id_token was posted (the state cookie and the session holding the nonce), so the very
    same launch can be posted again: (answer, replay) where ``replay()`` posts it again."""
    browser = requests.Session()
    result = site.platform.launch(browser, who, submit=False)
    before = browser.cookies.copy()
    answer = site.platform.post_launch(browser, result.launch_url, result.id_token,
                                       result.state)

    def replay() -> requests.Response:
        again = requests.Session()
        again.cookies.update(before)
        return site.platform.post_launch(again, result.launch_url, result.id_token,
                                         result.state)
    return answer, replay
