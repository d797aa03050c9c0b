"""Spending a nonce or a state once: the second attempt to use one is refused.

Sign-in libraries check that a nonce or state is *known*; a replayed response carries a
known one. :func:`spend_once` records each on first use, atomically, so a replay loses:
in Redis (``SET NX`` with an expiry) when the app has one, otherwise in the ``used_nonce``
table, whose unique key turns the second insert into a no-op.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random

from ..models import UsedNonce
from ..models.district import utcnow

#: How long a spent value is remembered: longer than any id_token or state we accept lives.
REMEMBER_SECONDS = 24 * 3600
PRUNE_CHANCE = 0.01  # one spend in a hundred also forgets values older than REMEMBER_SECONDS


def spend_once(kind: str, value: str, *, redis_url: str | None = None) -> bool:
    """True the first time ``(kind, value)`` is spent, False on every later attempt."""
    key = f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"
    if redis_url:
        return bool(_redis(redis_url).set("al_roster:spent:" + key, 1, nx=True,
                                          ex=REMEMBER_SECONDS))
    if random.random() < PRUNE_CHANCE:
        forget_spent(utcnow() - dt.timedelta(seconds=REMEMBER_SECONDS))
    inserted = (UsedNonce.insert(key=key, used_at=utcnow())
                .on_conflict_ignore().as_rowcount().execute())
    return inserted == 1


def forget_spent(before: dt.datetime) -> int:
    return UsedNonce.delete().where(UsedNonce.used_at < before).execute()


@functools.lru_cache(maxsize=8)
def _redis(url: str):
    import redis
    return redis.Redis.from_url(url, socket_timeout=5)
