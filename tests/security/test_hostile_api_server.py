"""Attack: a district's own OneRoster API server tries to exhaust the worker that pulls from it.

The district controls that server. Each test below is one thing such a server was seen to do
(pages without end, a repeating cursor, a 100 MB body, a gzip bomb, one byte a second, a
Retry-After on every page, a token redirect, JSON no parser should have to take) and checks
the pull refuses it: a SourceError that says why, soon, in bounded memory, and (in the job
tests) a failed run that RQ does not retry. The servers are raw HTTP on 127.0.0.1 only
(security/hostile_server.py); limits are small so that each attack is refused in seconds.
"""
from __future__ import annotations

import gc
import os
import time
import uuid
from pathlib import Path

import pytest
from conftest import SAMPLES, _truncate_postgres, make_app

from al_roster import jobs
from al_roster.models import SyncRun, database
from al_roster.oneroster.http_bounds import PullLimits
from al_roster.services import sources
from al_roster.services.districts import add_district

from .hostile_pulls import (
    LIMITS,
    MB,
    api_district,
    collection,
    empty_unless_orgs,
    endless_pages,
    gzip_bomb,
    peak_memory,
    redis_or_skip,
    refused,
    small_pull_settings,
)
from .hostile_server import good_token, hostile_server, next_link, orgs

try:
    from peers.oneroster_api import serve_oneroster
except ImportError:  # tests/ imported as a package
    from tests.peers.oneroster_api import serve_oneroster

ROSTER_HUB = SAMPLES / "roster-hub-1.1-bulk"
REDIS_URL = os.environ.get("AL_ROSTER_TEST_REDIS", "redis://127.0.0.1:6379/0")

pytestmark = pytest.mark.timeout(30)  # before the fix several of these pulled for ever


# -- pages without end --------------------------------------------------------------------

def test_endless_full_pages_stop_at_the_row_cap(tmp_path):
    def page(seen, reply):  # always a full page, always a next link to the following one
        offset, limit = int(seen.query.get("offset", 0)), int(seen.query["limit"])
        reply.json({"orgs": orgs(offset, limit)}, headers={
            "Link": next_link(server.base_url, seen, limit=limit, offset=offset + limit)})

    with hostile_server(empty_unless_orgs(page)) as server:
        error, elapsed = refused(server, tmp_path, r"more than 2000 records")
    assert "AL_ROSTER_PULL_MAX_ROWS" in error.message and not error.passing
    assert len(server.requests) <= 21 and elapsed < 10


def test_endless_one_row_pages_stop_at_the_page_cap(tmp_path):
    page = endless_pages(lambda n: {"orgs": orgs(n, 1)})  # one row a page, a fresh cursor
    with hostile_server(empty_unless_orgs(page)) as server:
        error, elapsed = refused(server, tmp_path, r"more than 50 pages")
    assert "AL_ROSTER_PULL_MAX_PAGES" in error.message and not error.passing
    assert len(server.requests) <= 51 and elapsed < 10


def test_endless_padded_pages_stop_at_the_pull_byte_cap(tmp_path):
    padding = b" " * (MB - 100)  # a row and a megabyte of whitespace, page after page
    page = endless_pages(lambda n: b'{"orgs": [{"sourcedId": "o%d"}]' % n + padding + b"}")
    with hostile_server(empty_unless_orgs(page)) as server:
        error, elapsed = refused(server, tmp_path, r"more than 8 MB")
    assert "AL_ROSTER_PULL_MAX_BYTES" in error.message and not error.passing
    assert len(server.requests) <= 9 and elapsed < 10


def test_a_repeating_next_cursor_is_refused(tmp_path):
    def page(seen, reply):
        reply.json({"orgs": orgs(0, 100)}, headers={
            "Link": next_link(server.base_url, seen, limit=100, cursor="same-again")})

    with hostile_server(empty_unless_orgs(page)) as server:
        error, elapsed = refused(server, tmp_path, r"next-page link repeats an earlier page")
    assert not error.passing and len(server.requests) == 2 and elapsed < 5


def test_an_x_total_count_of_ten_to_the_fifteen_is_refused_at_once(tmp_path):
    def page(seen, reply):
        offset = int(seen.query.get("offset", 0))
        reply.json({"orgs": orgs(offset, 100)}, headers={
            "X-Total-Count": str(10**15),
            "Link": next_link(server.base_url, seen, limit=100, offset=offset + 100)})

    with hostile_server(empty_unless_orgs(page)) as server:
        error, _ = refused(server, tmp_path, r"X-Total-Count says 1000000000000000 orgs")
    assert "AL_ROSTER_PULL_MAX_ROWS" in error.message and not error.passing
    assert len(server.requests) == 1


# -- bodies too big ---------------------------------------------------------------------

@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "until-close"])
def test_a_100_mb_body_is_cut_at_the_response_cap(tmp_path, announced):
    block, blocks = b" " * MB, 100

    def page(seen, reply):  # valid JSON: an empty list, then 100 MB of whitespace
        headers = {"Content-Type": "application/json"}
        if announced:
            headers["Content-Length"] = str(len(b'{"orgs": []') + blocks * MB + 1)
        reply.head(200, headers)
        reply.body(b'{"orgs": []')
        for _ in range(blocks):
            reply.body(block)
        reply.body(b"}")

    with hostile_server(empty_unless_orgs(page)) as server:
        peak = peak_memory(lambda: refused(server, tmp_path, r"more than 2 MB"))
        sent = server.replies[0].sent
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB"
    assert sent < 40 * MB  # the client hung up long before the end


def test_a_gzip_bomb_is_cut_at_the_decompressed_cap(tmp_path):
    bomb = gzip_bomb(100 * MB)  # about 100 KB on the wire

    def page(seen, reply):
        reply.head(200, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                         "Content-Length": str(len(bomb))})
        reply.body(bomb)

    with hostile_server(empty_unless_orgs(page)) as server:
        peak = peak_memory(lambda: refused(server, tmp_path, r"more than 2 MB once decompressed"))
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB"


def test_an_endless_chunked_body_is_cut_at_the_response_cap(tmp_path):
    block = b" " * (64 * 1024)

    def page(seen, reply):  # chunk after chunk; 64 MB at most so the test stays gentle
        reply.head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        reply.chunk(b'{"orgs": []')
        for _ in range(1024):
            reply.chunk(block)
        reply.chunk(b"}")
        reply.raw(b"0\r\n\r\n")

    with hostile_server(empty_unless_orgs(page)) as server:
        peak = peak_memory(lambda: refused(server, tmp_path, r"more than 2 MB"))
        sent = server.replies[0].sent
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB"
    assert sent < 40 * MB


# -- too slow ---------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["headers", "body"])
def test_one_byte_a_second_is_cut_by_the_page_clock(tmp_path, where):
    def page(seen, reply):
        if where == "headers":
            reply.raw(b"HTTP/1.1 200 OK\r\n")
            for _ in range(600):
                reply.raw(b"X")
                reply.wait(1.0)
        reply.head(200, {"Content-Type": "application/json", "Content-Length": "600"})
        reply.body(b'{"orgs": [')
        for _ in range(600):
            reply.body(b" ")
            reply.wait(1.0)

    with hostile_server(empty_unless_orgs(page)) as server:
        error, elapsed = refused(server, tmp_path, r"took longer than 1.5 s")
    assert "AL_ROSTER_PULL_PAGE_SECONDS" in error.message and not error.passing
    assert elapsed < 4, f"{elapsed:.1f} s"
    assert len(server.data_requests) == 1  # not retried: a second try would be as slow


def test_retry_after_300_on_every_page_fails_the_pull_instead_of_waiting(tmp_path):
    asked = set()

    def answer(seen, reply):
        if seen.target not in asked:  # every page: come back in five minutes
            asked.add(seen.target)
            reply.json({"error": "slow down"}, status=429, headers={"Retry-After": "300"})
        else:
            reply.json({collection(seen): []})

    sleeps: list[float] = []
    with hostile_server(answer) as server:
        error, elapsed = refused(server, tmp_path, r"Retry-After.*300 s.*deadline",
                                 sleeps=sleeps)
    assert sleeps == [] and not error.passing and elapsed < 3


def test_a_pull_that_never_ends_stops_at_its_deadline(tmp_path):
    # each page well inside the page clock, but there is always more
    page = endless_pages(lambda n: {"orgs": orgs(n, 1)}, wait=0.4)
    limits = PullLimits(**{**LIMITS.__dict__, "deadline_seconds": 2.0, "max_pages": 10**6})
    with hostile_server(empty_unless_orgs(page)) as server:
        error, elapsed = refused(server, tmp_path, r"deadline of 2 s", limits=limits)
    assert not error.passing and 1.9 < elapsed < 4, f"{elapsed:.1f} s"


# -- the 1.2 token endpoint ---------------------------------------------------------------

@pytest.mark.parametrize("redirected", ["token", "page"])
def test_a_token_redirect_to_another_host_is_not_followed(tmp_path, redirected):
    def elsewhere(seen, reply):
        if seen.path == "/token":
            reply.json({"access_token": "token-from-elsewhere", "token_type": "Bearer",
                        "expires_in": 3600})
        else:
            reply.json({collection(seen): []})

    with hostile_server(elsewhere) as other:  # another port on loopback: another host
        def answer(seen, reply):
            if seen.path == "/token" and redirected == "token":
                reply.head(307, {"Location": f"{other.base_url}/token", "Content-Length": "0"})
            elif seen.path == "/token":
                good_token(seen, reply)
            elif redirected == "page":
                reply.head(302, {"Location": f"{other.base_url}{seen.target}",
                                 "Content-Length": "0"})
            else:
                reply.json({collection(seen): []})

        with hostile_server(answer) as server:
            what = "POST /token" if redirected == "token" else "GET /ims/oneroster/rostering"
            error, _ = refused(server, tmp_path, rf"{what}\S* was redirected \(HTTP 30[27]\)",
                               version="1.2")
        assert other.requests == [] and not error.passing
    assert not any("token-from-elsewhere" in r.headers.get("authorization", "")
                   for r in server.requests)


def test_an_expires_in_of_1e999_is_a_source_error(tmp_path):
    token = b'{"access_token": "t", "token_type": "Bearer", "expires_in": 1e999}'
    with hostile_server(empty_unless_orgs(token=token)) as server:
        error, _ = refused(server, tmp_path, r"expires_in", version="1.2")
    assert not error.passing


# -- JSON no reader should have to take ---------------------------------------------------

@pytest.fixture
def no_collection_at_depth():
    """No garbage collected while the parser is deep in nesting: an object collected
    there (a socket of an earlier test) runs its finaliser near the recursion limit, and
    fails there, whatever the code under test does."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


@pytest.mark.parametrize("where", ["page", "token"])
@pytest.mark.usefixtures("no_collection_at_depth")
def test_deeply_nested_json_is_a_source_error(tmp_path, where):
    nested = b"[" * 100_000 + b"]" * 100_000
    if where == "token":
        answer = empty_unless_orgs(token=b'{"access_token": "t", "token_type": "Bearer", '
                                         b'"x": ' + nested + b"}")
    else:
        answer = empty_unless_orgs(lambda seen, reply: reply.json(b'{"orgs": ' + nested + b"}"))
    with hostile_server(answer) as server:
        error, _ = refused(server, tmp_path, r"nested too deeply", version="1.2")
    assert not error.passing


def test_a_page_of_a_million_empty_objects_is_refused_before_parsing(tmp_path):
    body = b'{"orgs": [' + b"{}," * 600_000 + b"{}]}"  # under the 2 MB cap; 25x once parsed
    limits = PullLimits(**{**LIMITS.__dict__, "max_rows": 10**7})
    with hostile_server(empty_unless_orgs(lambda seen, reply: reply.json(body))) as server:
        peak = peak_memory(lambda: refused(server, tmp_path, r"more than 131072 JSON values",
                                           limits=limits))
    assert peak < 12 * MB, f"peak {peak / MB:.1f} MB"


def test_a_lone_surrogate_is_a_source_error(tmp_path):
    body = b'{"orgs": [{"sourcedId": "org-1", "name": "Lone \\ud800 half", "type": "school"}]}'
    with hostile_server(empty_unless_orgs(lambda seen, reply: reply.json(body))) as server:
        error, _ = refused(server, tmp_path, r"org-1.*not valid Unicode")
    assert not error.passing and "\ud800" not in error.message


# -- in the jobs: a failed run, not retried; one district cannot stop the others -------------

@pytest.fixture
def redis():
    conn = redis_or_skip(REDIS_URL)
    yield conn
    conn.close()


@pytest.fixture
def queued_app(pg_url, tmp_path, redis, monkeypatch):
    queue_name = f"al_roster_test_{uuid.uuid4().hex[:10]}"
    _truncate_postgres(pg_url)
    monkeypatch.setattr(sources, "sleep", lambda seconds: None)
    app = make_app(pg_url, tmp_path, AL_ROSTER_REDIS_URL=REDIS_URL, AL_ROSTER_QUEUE=queue_name,
                   **small_pull_settings())
    with app.app_context():
        yield app, queue_name
    for key in redis.scan_iter(match=f"*{queue_name}*", count=1000):
        redis.delete(key)
    if not database.obj.is_closed():
        database.obj.close()


HOSTILE_PAGES = {
    "nested JSON": lambda seen, reply: reply.json(
        b'{"orgs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "lone surrogate": lambda seen, reply: reply.json(b'{"orgs": [{"sourcedId": "\\udfff"}]}'),
    "repeating cursor": lambda seen, reply: reply.json({"orgs": orgs(0, 100)}, headers={
        "Link": f'<http://{seen.headers["host"]}{seen.path}?cursor=x>; rel="next"'}),
}


@pytest.mark.parametrize("attack", list(HOSTILE_PAGES))
def test_a_hostile_answer_is_a_failed_run_and_the_job_is_not_retried(queued_app, redis,
                                                                     monkeypatch, attack):
    from rq import Queue, SimpleWorker
    _, queue_name = queued_app
    with hostile_server(empty_unless_orgs(HOSTILE_PAGES[attack])) as server:
        district = api_district("hostile", server.base_url, monkeypatch)
        job = jobs.enqueue_sync(district.id, full=True)
        SimpleWorker([Queue(queue_name, connection=redis)], connection=redis).work(burst=True)
    job.refresh()
    [run] = SyncRun.select().where(SyncRun.district == district)
    assert run.status == "failed"
    assert run.message.startswith("The package could not be fetched, so nothing was changed")
    assert job.get_status() == "finished"  # not failed, so not scheduled for a retry
    assert job.return_value()["status"] == "failed"


@pytest.mark.samples
def test_an_inline_nightly_gives_each_district_its_own_deadline(app, monkeypatch):
    app.config.update(small_pull_settings(deadline_minutes=2 / 60))
    monkeypatch.setattr(sources, "sleep", lambda seconds: None)

    # slow endless pages: every one inside the page clock
    page = endless_pages(lambda n: {"orgs": orgs(n, 1)}, wait=0.4)
    with hostile_server(empty_unless_orgs(page)) as hostile, \
            serve_oneroster(ROSTER_HUB, "1.1") as good:
        first = api_district("first", hostile.base_url, monkeypatch)
        second = api_district("second", good.base_url, monkeypatch, good.client_secret,
                              client_id=good.client_id)
        started = time.monotonic()
        results = {r["district"]: r for r in jobs.run_all_inline()}
        elapsed = time.monotonic() - started
    assert results["first"]["status"] == "failed" and "deadline" in results["first"]["message"]
    assert results["second"]["status"] == "applied"
    assert elapsed < 8, f"{elapsed:.1f} s"
    assert {r.district_id: r.status for r in SyncRun.select()} == {first.id: "failed",
                                                                  second.id: "applied"}
    pulls = Path(app.config["AL_ROSTER_STORAGE_DIR"]) / "pulls"
    assert sources.last_pull_seconds(pulls, second, "full") > 0  # the next deadline's base
    assert sources.last_pull_seconds(pulls, first, "full") is None


def test_stale_partial_pull_folders_are_removed(app, tmp_path):
    pulls = Path(app.config["AL_ROSTER_STORAGE_DIR"]) / "pulls"
    stale = pulls / "7-deadbeef" / ".full.x1.partial"
    fresh = pulls / "8-cafecafe" / ".full.x2.partial"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "users.csv").write_bytes(b"x" * 1000)
    day_ago = time.time() - 24 * 3600
    for path in (stale / "users.csv", stale, stale.parent):
        os.utime(path, (day_ago, day_ago))
    drop = tmp_path / "drop"
    drop.mkdir()
    district = add_district("north", "North District", plan="prime", rostering=True)
    sources.set_csv_drop(district, drop)

    assert jobs.run_district_sync(district.id)["status"] == "nothing new"

    assert not stale.parent.exists()
    assert fresh.exists()  # a pull of another worker may still be writing it


@pytest.mark.parametrize("last, expected_minutes", [
    (None, 240.0),      # no successful pull yet: the ceiling
    (60.0, 30.0),       # 4 x 1 minute is under the floor
    (1800.0, 120.0),    # 4 x 30 minutes
    (7200.0, 240.0),    # 4 x 2 hours is over the ceiling
])
def test_the_deadline_follows_the_last_successful_pull(app, last, expected_minutes):
    district = add_district("north", "North District", plan="prime", rostering=True)
    pulls = Path(app.config["AL_ROSTER_STORAGE_DIR"]) / "pulls"
    if last is not None:
        sources.record_pull_seconds(pulls, district, "full", last)
        sources.record_pull_seconds(pulls, district, "delta", 1.0)  # deltas count apart
    limits = sources.pull_limits(district, "full", pulls)
    assert limits.deadline_seconds == expected_minutes * 60
