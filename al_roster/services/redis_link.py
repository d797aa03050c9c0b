"""Redis as an optional helper: short timeouts, a pause after a failure, a quiet log.

Redis holds only the launch nonces and the job queue. When it is down a sign-in must not
wait for it, fail because of it or fill the log with it:

- :func:`client` gives one redis-py client per (URL, timeout) per process, whose connect and
  command timeouts are ``AL_ROSTER_REDIS_TIMEOUT`` (half a second by default): a Redis that
  does not answer costs a sign-in that long once, not the library's default of forever.
- :class:`RedisLink` remembers a failure for ``retry_seconds``: meanwhile callers go straight
  to their fallback; the first call after that tries Redis again, so service moves back to
  Redis as soon as it answers. A failure is logged as a warning at most once a minute per
  process; the return is logged once too.
- :func:`check_reachable` is for commands that cannot work without Redis: it raises
  :class:`RedisUnreachable`, whose message names the URL (without its password).
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from urllib.parse import urlsplit, urlunsplit

from ..errors import RosterError

log = logging.getLogger(__name__)

#: At most one "Redis is down" warning per process in this many seconds.
WARN_EVERY_SECONDS = 60.0


class RedisUnreachable(RosterError):
    message = "Redis is unreachable."
    code = "redis_unreachable"
    status = 503


def shown_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


@functools.lru_cache(maxsize=16)
def client(url: str, timeout: float):
    import redis
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                retry_on_timeout=False, health_check_interval=30)


def redis_errors() -> tuple[type[BaseException], ...]:
    import redis
    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class RedisLink:
    """Whether this process should try Redis now, and what it says when Redis fails."""

    def __init__(self, url: str, *, timeout: float, retry_seconds: float):
        self.url, self.timeout, self.retry_seconds = url, timeout, retry_seconds
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._warned_at: float | None = None
        self._down = False

    @property
    def client(self):
        return client(self.url, self.timeout)

    def should_try(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, exc: BaseException, fallback: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._down_until = now + self.retry_seconds
            self._down = True
            warn = self._warned_at is None or now - self._warned_at >= WARN_EVERY_SECONDS
            if warn:
                self._warned_at = now
        if warn:
            log.warning("Redis at %s is unreachable (%s); %s. Said at most once a minute.",
                        shown_url(self.url), type(exc).__name__, fallback)

    def answered(self) -> None:
        if self._down:
            with self._lock:
                back, self._down = self._down, False
            if back:
                log.warning("Redis at %s answers again.", shown_url(self.url))


_links: dict[tuple[str, float, float], RedisLink] = {}
_links_lock = threading.Lock()


def link(url: str, *, timeout: float, retry_seconds: float) -> RedisLink:
    """The process's one :class:`RedisLink` for these settings."""
    key = (url, float(timeout), float(retry_seconds))
    with _links_lock:
        found = _links.get(key)
        if found is None:
            found = _links[key] = RedisLink(url, timeout=timeout, retry_seconds=retry_seconds)
        return found


def check_reachable(url: str, timeout: float = 2.0) -> None:
    """Raises :class:`RedisUnreachable` unless Redis at ``url`` answers a PING in time."""
    try:
        client(url, float(timeout)).ping()
    except redis_errors() as exc:
        raise RedisUnreachable(f"Redis at {shown_url(url)} is unreachable ({exc}).") from exc


def is_up(url: str, timeout: float) -> bool:
    try:
        return bool(client(url, float(timeout)).ping())
    except redis_errors():
        return False
