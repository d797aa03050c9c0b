"""The app's side of a student's LTI 1.3 launch, on PostgreSQL.

A school of students who each sit in 8 imported classes. Each launch is a new browser
(a Flask test client): the login initiation (POST /roster/lti/login: registration lookup,
state cookie, nonce in the session), then the launch (POST /roster/lti/launch: state,
signature and claims checks, the nonce spent, provisioning, placement in the 8 classes, a
fresh session). The platform's half (signing the id_token) is done between the two and not
timed; its key set is fetched once, then cached, as in production, so no timed request waits
for the platform.

Reported: first launches (account made, placed in 8 classes) and returning launches
(account found, names refreshed, placement confirmed), p50 and p95 of the launch request and
of login initiation + launch.

    python benchmarks/launch.py                      # 300 students, 300 + 300 launches
    python benchmarks/launch.py --students 2000 --launches 1000
    python benchmarks/launch.py --redis-url redis://127.0.0.1:6379/9

The morning bell (``--serve``): the app under gunicorn (2 workers x 4 threads; werkzeug's
threaded server when gunicorn is not installed) on loopback, a Redis of its own
(``redis-server`` on a free port), and ``--browsers`` concurrent browsers each doing the
whole launch over HTTP. ``--redis-outage`` stops that Redis when half the launches are done:
every launch must still succeed (nonces fall back to the database). Reported: failures, and
p50/p95/p99 of login + launch with Redis up and with Redis gone.

    python benchmarks/launch.py --serve --redis-outage --students 2000 --launches 1500
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from al_roster import schema  # noqa: E402
from al_roster.models import District, ImportedClass  # noqa: E402
from al_roster.services import lti as lti_service  # noqa: E402
from al_roster.sync.runner import sync_package  # noqa: E402
from plugin import create_app  # noqa: E402

PG_ADMIN = os.environ.get("AL_ROSTER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
CLASSES = 8
ISSUER, CLIENT_ID, DEPLOYMENT = "https://platform.bench", "bench-tool", "456"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


class Platform:
    """Signs launches with its own key; serves its key set on loopback."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        app = Flask("bench_platform")
        app.get("/jwks")(lambda: jsonify(keys=[{**jwk, "kid": "p1", "alg": "RS256"}]))
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.key_set_url = f"http://127.0.0.1:{self.server.server_port}/jwks"

    def id_token(self, sourced_id: str, nonce: str, launch_url: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER, "aud": CLIENT_ID, "sub": "cl-" + sourced_id, "iat": now,
            "exp": now + 300, "nonce": nonce, "given_name": "Bench", "family_name": "Student",
            CLAIM + "message_type": "LtiResourceLinkRequest", CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": DEPLOYMENT, CLAIM + "target_link_uri": launch_url,
            CLAIM + "resource_link": {"id": "rl-1"},
            CLAIM + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
            CLAIM + "lis": {"person_sourcedid": sourced_id},
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "p1"})


def school_files(students: int) -> dict[str, list[dict]]:
    classes = [f"cls-{c}" for c in range(1, CLASSES + 1)]
    users = [dict(sourcedId=f"stu-{i}", enabledUser="true", orgSourcedIds="sch-1",
                  role="student", username=f"stu{i}", givenName=f"Student{i}",
                  familyName="Bench", email=f"stu{i}@bench.example")
             for i in range(1, students + 1)]
    enrollments = [dict(sourcedId=f"e-{i}-{c}", classSourcedId=c, schoolSourcedId="sch-1",
                        userSourcedId=f"stu-{i}", role="student", primary="false")
                   for i in range(1, students + 1) for c in classes]
    return {
        "orgs": [dict(sourcedId="sch-1", name="Bench High", type="school")],
        "academicSessions": [dict(sourcedId="yr", title="Year", type="schoolYear",
                                  startDate="2020-08-01", endDate="2099-06-30",
                                  schoolYear="2099")],
        "courses": [dict(sourcedId="crs", title="Course", orgSourcedId="sch-1")],
        "classes": [dict(sourcedId=c, title=f"Class {c}", courseSourcedId="crs",
                         classType="scheduled", schoolSourcedId="sch-1", termSourcedIds="yr")
                    for c in classes],
        "users": users,
        "enrollments": enrollments,
    }


@contextlib.contextmanager
def bench_database():
    import psycopg2
    name = f"al_roster_bench_launch_{os.getpid()}"
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def set_up(app, platform: Platform, students: int, folder: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from packages import write_package
    with app.app_context():
        schema.upgrade(app.extensions["al_roster"].db)
        district = District.create(slug="bench", name="Bench District", plan="prime",
                                   rostering_enabled=True, classlink_tenant_id=DEPLOYMENT,
                                   deletion_threshold=1.0)
        run = sync_package(district, write_package(folder, school_files(students)),
                           app.extensions["al_roster"].sync_options)
        assert run.status == "applied", run.message
        for c in range(1, CLASSES + 1):
            ImportedClass.create(district=district, sourced_id=f"cls-{c}", title=f"Class {c}")
        lti_service.register_platform(
            district, issuer=ISSUER, client_id=CLIENT_ID, deployment_ids=[DEPLOYMENT],
            auth_login_url="https://platform.bench/auth",
            auth_token_url="https://platform.bench/token", key_set_url=platform.key_set_url)


def one_launch(app, platform: Platform, sourced_id: str) -> tuple[float, float, float]:
    """(login initiation seconds, launch seconds, launch CPU seconds) for one new browser."""
    browser = app.test_client()
    started = time.perf_counter()
    login = browser.post("/roster/lti/login", data={
        "iss": ISSUER, "login_hint": "cl-" + sourced_id, "client_id": CLIENT_ID,
        "lti_deployment_id": DEPLOYMENT, "target_link_uri": "http://localhost/roster/lti/launch",
        "lti_message_hint": uuid.uuid4().hex})
    login_seconds = time.perf_counter() - started
    assert login.status_code == 302, login.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(login.headers["Location"]).query).items()}
    token = platform.id_token(sourced_id, query["nonce"], query["redirect_uri"])
    started, cpu = time.perf_counter(), time.process_time()
    launch = browser.post("/roster/lti/launch", data={"id_token": token, "state": query["state"]})
    launch_seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert launch.status_code == 302, launch.text
    return login_seconds, launch_seconds, cpu


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1000:6.1f} ms   p95 {cuts[94] * 1000:6.1f} ms"


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


@contextlib.contextmanager
def own_redis():
    """A redis-server of the benchmark's own (no persistence), which it may stop."""
    port = free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--daemonize", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


@contextlib.contextmanager
def served(url: str, redis_url: str, storage: str, key_secret: str):
    """The reference app on loopback under gunicorn (or werkzeug's threaded server)."""
    port = free_port()
    env = dict(os.environ, AL_ROSTER_DATABASE_URL=url, AL_ROSTER_REDIS_URL=redis_url,
               AL_ROSTER_STORAGE_DIR=storage, SECRET_KEY="bench",
               AL_ROSTER_LTI_KEY_SECRET=key_secret)
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable))
    if gunicorn:
        root = str(Path(__file__).resolve().parent.parent)
        process = subprocess.Popen(
            [gunicorn, "-w", "2", "-k", "gthread", "--threads", "4", "-b",
             f"127.0.0.1:{port}", "--log-level", "warning", "plugin:create_app()"],
            cwd=root, env=env | {"PYTHONPATH": root})
        try:
            wait_for_port(port)
            yield f"http://127.0.0.1:{port}", "gunicorn, 2 workers x 4 threads"
        finally:
            process.terminate()
            process.wait(timeout=30)
        return
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AL_ROSTER_", "SECRET"))})
    server = make_server("127.0.0.1", port, create_app(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}", "werkzeug's threaded server (gunicorn not installed)"
    finally:
        server.shutdown()


def http_launch(base: str, platform: Platform, sourced_id: str) -> float:
    """One new browser's login initiation and launch over HTTP; seconds, or raises."""
    import requests
    browser = requests.Session()
    started = time.perf_counter()
    login = browser.post(base + "/roster/lti/login", allow_redirects=False, timeout=30, data={
        "iss": ISSUER, "login_hint": "cl-" + sourced_id, "client_id": CLIENT_ID,
        "lti_deployment_id": DEPLOYMENT, "target_link_uri": base + "/roster/lti/launch",
        "lti_message_hint": uuid.uuid4().hex})
    if login.status_code != 302:
        raise RuntimeError(f"login initiation answered {login.status_code}")
    query = {k: v[0] for k, v in parse_qs(urlsplit(login.headers["Location"]).query).items()}
    token = platform.id_token(sourced_id, query["nonce"], query["redirect_uri"])
    launch = browser.post(query["redirect_uri"], allow_redirects=False, timeout=30,
                          data={"id_token": token, "state": query["state"]})
    if launch.status_code != 302:
        raise RuntimeError(f"launch answered {launch.status_code}: {launch.text[:200]}")
    return time.perf_counter() - started


def morning_bell(args) -> None:
    """--serve: concurrent launches over HTTP; with --redis-outage, Redis stops halfway."""
    from concurrent.futures import ThreadPoolExecutor
    launches = min(args.launches, args.students - 4)  # the last four warm the workers up
    platform, key_secret = Platform(), Fernet.generate_key().decode()
    with bench_database() as url, tempfile.TemporaryDirectory() as tmp, \
            own_redis() as (redis_url, redis_process):
        app = create_app({"TESTING": False, "SECRET_KEY": "bench", "AL_ROSTER_DATABASE_URL": url,
                          "AL_ROSTER_STORAGE_DIR": tmp, "AL_ROSTER_REDIS_URL": redis_url,
                          "AL_ROSTER_LTI_KEY_SECRET": key_secret})
        set_up(app, platform, args.students, Path(tmp) / "package")
        app.extensions["al_roster"].db.close_all()
        with served(url, redis_url, tmp, key_secret) as (base, server):
            for i in range(args.students, args.students - 4, -1):  # warm every worker
                http_launch(base, platform, f"stu-{i}")
            halves: dict[str, list[float]] = {"Redis up": [], "Redis gone": []}
            failures: list[str] = []
            done = threading.Event()
            lock = threading.Lock()

            def one(i: int) -> None:
                state = "Redis gone" if redis_process.poll() is not None else "Redis up"
                try:
                    seconds = http_launch(base, platform, f"stu-{i}")
                except Exception as exc:  # a failed launch is counted, not fatal
                    with lock:
                        failures.append(f"stu-{i}: {exc}")
                    return
                with lock:
                    halves[state].append(seconds)
                    if args.redis_outage and sum(map(len, halves.values())) >= launches // 2 \
                            and not done.is_set():
                        done.set()
                        redis_process.terminate()  # Redis taken away halfway

            began = time.perf_counter()
            with ThreadPoolExecutor(args.browsers) as pool:
                list(pool.map(one, range(1, launches + 1)))
            elapsed = time.perf_counter() - began
        print(f"{server}; PostgreSQL; {args.students:,} students in {CLASSES} imported classes "
              f"each; {launches} first launches by {args.browsers} concurrent browsers in "
              f"{elapsed:.1f} s ({launches / elapsed:.0f}/s); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for state, samples in halves.items():
            if len(samples) >= 2:
                cuts = statistics.quantiles(samples, n=100, method="inclusive")
                print(f"  {state:<10} {len(samples):5} launches   login+launch p50 "
                      f"{cuts[49] * 1000:6.1f} ms   p95 {cuts[94] * 1000:6.1f} ms   "
                      f"p99 {cuts[98] * 1000:6.1f} ms")
        print(f"  failed launches: {len(failures)}")
        for line in failures[:10]:
            print("   ", line)
        with app.app_context():
            from al_roster.models import Account
            made = Account.select().count()
        print(f"  accounts made: {made} (expected {launches + 4})")
        app.extensions["al_roster"].db.close_all()
    platform.server.shutdown()
    if failures:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--launches", type=int, default=300,
                        help="first launches, then as many returning launches")
    parser.add_argument("--redis-url", help="spend nonces in this Redis (as production does "
                                            "when AL_ROSTER_REDIS_URL is set)")
    parser.add_argument("--serve", action="store_true",
                        help="the morning bell: concurrent launches over HTTP (see above)")
    parser.add_argument("--browsers", type=int, default=8, help="with --serve")
    parser.add_argument("--redis-outage", action="store_true",
                        help="with --serve: stop Redis when half the launches are done")
    args = parser.parse_args()
    if args.serve:
        return morning_bell(args)
    launches = min(args.launches, args.students - 1)  # the last student warms up
    platform = Platform()
    with bench_database() as url, tempfile.TemporaryDirectory() as tmp:
        app = create_app({"TESTING": False, "SECRET_KEY": "bench",
                          "AL_ROSTER_DATABASE_URL": url, "AL_ROSTER_STORAGE_DIR": tmp,
                          "AL_ROSTER_REDIS_URL": args.redis_url})
        set_up(app, platform, args.students, Path(tmp) / "package")
        one_launch(app, platform, f"stu-{args.students}")  # warm: key set fetched, code loaded
        print(f"PostgreSQL, {args.students:,} students in {CLASSES} imported classes each; "
              f"{launches} launches of each kind; nonces spent in "
              f"{'Redis' if args.redis_url else 'the database'}; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for kind in ("first", "returning"):
            timings = [one_launch(app, platform, f"stu-{i}") for i in range(1, launches + 1)]
            logins, launch_only = [t[0] for t in timings], [t[1] for t in timings]
            both = [t[0] + t[1] for t in timings]
            print(f"{kind:>9} launch      {percentiles(launch_only)}   (the app's CPU "
                  f"{percentiles([t[2] for t in timings])})")
            print(f"{kind:>9} login+launch{percentiles(both)}   (login alone "
                  f"{percentiles(logins)})")
        with app.app_context():
            from al_roster.models import Account, Membership
            assert Account.select().count() == launches + 1
            assert Membership.select().count() == (launches + 1) * CLASSES
        app.extensions["al_roster"].db.close()
    platform.server.shutdown()


if __name__ == "__main__":
    main()
