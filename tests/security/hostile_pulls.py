"""Helpers of the hostile-server attack tests: small limits, a pull that must be refused,
memory measured while it runs, districts whose source is a hostile server."""
from __future__ import annotations

import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from conftest import need_service

from al_roster.errors import SourceError
from al_roster.oneroster.http_bounds import PullLimits
from al_roster.oneroster.rest import RestSource, pull_package
from al_roster.services import sources
from al_roster.services.districts import add_district

from .hostile_server import Reply, Seen, good_token

MB = 1024 * 1024
#: Small enough that every attack is refused within seconds.
LIMITS = PullLimits(max_response_bytes=2 * MB, max_rows=2000, max_bytes=8 * MB, max_pages=50,
                    page_seconds=1.5, deadline_seconds=6.0)


def source(server, version: str = "1.1", **settings) -> RestSource:
    settings = {"page_size": 100, "max_attempts": 2, "timeout": 30.0, "limits": LIMITS,
                **settings}
    return RestSource(server.base_url, version, "client-1", "s3cret-value",
                      allowed_hosts=("127.0.0.1",), **settings)


def refused(server, tmp_path: Path, match: str, *, sleeps: list | None = None,
            **settings) -> tuple[SourceError, float]:
    """The pull fails with a SourceError matching ``match``; returns it and the seconds taken.
    A failed pull leaves nothing behind."""
    started = time.monotonic()
    with pytest.raises(SourceError, match=match) as caught:
        pull_package(source(server, **settings), tmp_path / "pkg",
                     sleep=(sleeps if sleeps is not None else []).append)
    elapsed = time.monotonic() - started
    assert list(tmp_path.iterdir()) == []
    return caught.value, elapsed


def collection(seen: Seen) -> str:
    return seen.path.rsplit("/", 1)[-1]


def empty_unless_orgs(page=None, *, token: bytes | None = None):
    """Answers every collection but orgs with an empty page; orgs with ``page``, and the
    1.2 token endpoint with ``token`` (JSON bytes) or a good token."""
    def answer(seen: Seen, reply: Reply) -> None:
        if seen.path == "/token" and token is not None:
            reply.json(token)
        elif seen.path == "/token":
            good_token(seen, reply)
        elif collection(seen) == "orgs" and page is not None:
            page(seen, reply)
        else:
            reply.json({collection(seen): []})
    return answer


def endless_pages(body_of, *, wait: float = 0.0):
    """A page answer for ``empty_unless_orgs``: page ``n`` (``cursor=n``) is ``body_of(n)``
    (JSON bytes or an object), always with a next-page link to ``n + 1``."""
    def page(seen: Seen, reply: Reply) -> None:
        if wait:
            reply.wait(wait)
        cursor = int(seen.query.get("cursor", 0))
        link = f"http://{seen.headers['host']}{seen.path}?limit=100&cursor={cursor + 1}"
        reply.json(body_of(cursor), headers={"Link": f'<{link}>; rel="next"'})
    return page


def peak_memory(action) -> int:
    """Bytes of the highest Python heap use above the start while ``action`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        action()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def gzip_bomb(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * MB
    parts = [packer.compress(b'{"orgs": []')]
    parts += [packer.compress(block) for _ in range(size // MB)]
    return b"".join([*parts, packer.compress(b"}"), packer.flush()])


def small_pull_settings(deadline_minutes: float = 0.1) -> dict:
    return {"AL_ROSTER_SOURCE_ALLOWED_HOSTS": "127.0.0.1",
            "AL_ROSTER_PULL_MAX_RESPONSE_BYTES": 2 * MB, "AL_ROSTER_PULL_MAX_ROWS": 2000,
            "AL_ROSTER_PULL_MAX_BYTES": 8 * MB, "AL_ROSTER_PULL_MAX_PAGES": 50,
            "AL_ROSTER_PULL_PAGE_SECONDS": 1.5,
            "AL_ROSTER_PULL_DEADLINE_MIN_MINUTES": deadline_minutes,
            "AL_ROSTER_PULL_DEADLINE_MAX_MINUTES": deadline_minutes}


def api_district(slug: str, url: str, monkeypatch, secret: str = "s3cret-value", *,
                 client_id: str = "client-1"):
    env = f"AL_ROSTER_SOURCE_{slug.upper()}_SECRET"
    monkeypatch.setenv(env, secret)
    district = add_district(slug, f"{slug.title()} District", plan="prime", rostering=True)
    sources.set_oneroster_api(district, url, "1.1", client_id, env, page_size=100,
                              max_attempts=2)
    return district


def redis_or_skip(url: str):
    """A Redis connection, or the test skips (fails under CI) as the other job tests do."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisDown
    conn = Redis.from_url(url, socket_connect_timeout=2)
    try:
        conn.ping()
    except RedisDown as exc:
        conn.close()
        need_service("Redis", exc)
    return conn
