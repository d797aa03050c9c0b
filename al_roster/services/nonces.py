"""Spending a nonce or a state once: the second attempt to use one is refused.

Sign-in libraries check that a nonce or state is *known*; a replayed response carries a
known one. :func:`spend_once` records each on first use, atomically, so a replay loses.

Where: always in the ``used_nonce`` table, whose unique key turns a second insert into a
no-op; and, when the app has Redis (``AL_ROSTER_REDIS_URL``) and Redis answers, also in
Redis (``SET NX`` with an expiry). A value either store already knows is refused. Writing
every spend through to the database is what keeps single use when Redis comes and goes: a
nonce spent while Redis was up is known to the database during an outage, and one spent
during an outage is known to it after Redis is back (a Redis restarted empty knows none).

When Redis is down (refused, or no answer within ``AL_ROSTER_REDIS_TIMEOUT``), sign-in goes
on with the database alone; Redis is not tried again for ``AL_ROSTER_REDIS_RETRY_SECONDS``,
and the outage is logged as one warning a minute per process (:mod:`.redis_link`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import random

from ..models import UsedNonce
from ..models.district import utcnow
from . import redis_link

#: How long a spent value is remembered: longer than any id_token or state we accept lives.
REMEMBER_SECONDS = 24 * 3600
PRUNE_CHANCE = 0.01  # one spend in a hundred also forgets values older than REMEMBER_SECONDS
DEFAULT_REDIS_TIMEOUT = 0.5
DEFAULT_REDIS_RETRY_SECONDS = 5.0


def spend_once(kind: str, value: str, *, redis_url: str | None = None,
               redis_timeout: float = DEFAULT_REDIS_TIMEOUT,
               redis_retry_seconds: float = DEFAULT_REDIS_RETRY_SECONDS) -> bool:
    """True the first time ``(kind, value)`` is spent, False on every later attempt."""
    key = f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"
    fresh_in_database = _spend_in_database(key)
    if not redis_url:
        return fresh_in_database
    fresh_in_redis = _spend_in_redis(key, redis_link.link(
        redis_url, timeout=redis_timeout, retry_seconds=redis_retry_seconds))
    return fresh_in_database and fresh_in_redis is not False


def spend_for_app(kind: str, value: str, config) -> bool:
    """:func:`spend_once` with the app's AL_ROSTER_REDIS_* settings."""
    return spend_once(kind, value, redis_url=config.get("AL_ROSTER_REDIS_URL"),
                      redis_timeout=float(config.get("AL_ROSTER_REDIS_TIMEOUT",
                                                     DEFAULT_REDIS_TIMEOUT)),
                      redis_retry_seconds=float(config.get("AL_ROSTER_REDIS_RETRY_SECONDS",
                                                           DEFAULT_REDIS_RETRY_SECONDS)))


def _spend_in_database(key: str) -> bool:
    if random.random() < PRUNE_CHANCE:
        forget_spent(utcnow() - dt.timedelta(seconds=REMEMBER_SECONDS))
    inserted = (UsedNonce.insert(key=key, used_at=utcnow())
                .on_conflict_ignore().as_rowcount().execute())
    return inserted == 1


def _spend_in_redis(key: str, link: redis_link.RedisLink) -> bool | None:
    """True if Redis took the value as new, False if it knew it, None if Redis is down."""
    if not link.should_try():
        return None
    try:
        fresh = bool(link.client.set("al_roster:spent:" + key, 1, nx=True, ex=REMEMBER_SECONDS))
    except redis_link.redis_errors() as exc:
        link.failed(exc, "launch nonces are kept in the database alone meanwhile")
        return None
    link.answered()
    return fresh


def forget_spent(before: dt.datetime) -> int:
    return UsedNonce.delete().where(UsedNonce.used_at < before).execute()
