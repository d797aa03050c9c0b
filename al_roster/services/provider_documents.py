"""Documents fetched from sign-in providers, bounded in time and kept for a while.

ClassLink's discovery document and key set, and each LTI platform's key set, are public
JSON that changes rarely. A morning of launches must neither wait on the provider for each
of them nor fail because the provider is slow for a minute. :class:`ProviderDocuments`:

- fetches with connect and read timeouts (``AL_ROSTER_HTTP_CONNECT_TIMEOUT``,
  ``AL_ROSTER_HTTP_READ_TIMEOUT``): a provider that hangs costs a request that long, once;
- keeps each document ``AL_ROSTER_PROVIDER_CACHE_SECONDS`` (five minutes), then fetches it
  again; when that fails, the copy stands in for up to ``AL_ROSTER_PROVIDER_STALE_SECONDS``
  more (six hours), with a warning;
- after a failed fetch does not ask that URL again for ``AL_ROSTER_PROVIDER_RETRY_SECONDS``:
  meanwhile the stale copy is used, or, without one, :class:`ProviderUnavailable` is raised
  at once instead of every request waiting for the timeout;
- fetches one URL once at a time: while one request fetches, the others use the stale copy
  or wait for that fetch.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import requests

from ..errors import RosterError
from ..logsafe import for_log

log = logging.getLogger(__name__)


class ProviderUnavailable(RosterError):
    """The provider did not answer usably and no copy may stand in; ``reason`` says why.

    The sign-in identity provider (ClassLink) is the one that reaches a person."""

    code = "provider_unavailable"
    status = 503
    retry_after = 30
    title = "ClassLink did not answer"
    public_message = "ClassLink did not answer; try again."
    advice = "Open the app again from your ClassLink portal in a minute."
    log_as = "ClassLink did not answer"

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}", url=url, reason=reason)
        self.url, self.reason = url, reason


@dataclass(frozen=True)
class Limits:
    connect: float = 3.0
    read: float = 5.0
    fresh: float = 300.0
    stale: float = 6 * 3600.0
    retry: float = 15.0

    @classmethod
    def from_config(cls, config) -> Limits:
        return cls(connect=float(config.get("AL_ROSTER_HTTP_CONNECT_TIMEOUT", cls.connect)),
                   read=float(config.get("AL_ROSTER_HTTP_READ_TIMEOUT", cls.read)),
                   fresh=float(config.get("AL_ROSTER_PROVIDER_CACHE_SECONDS", cls.fresh)),
                   stale=float(config.get("AL_ROSTER_PROVIDER_STALE_SECONDS", cls.stale)),
                   retry=float(config.get("AL_ROSTER_PROVIDER_RETRY_SECONDS", cls.retry)))

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect, self.read)


@dataclass
class _Entry:
    document: dict | None = None
    fetched_at: float = 0.0
    failed_at: float | None = None
    reason: str = ""


def fetch_json(url: str, limits: Limits) -> dict:
    """GET ``url`` within the limits' timeouts; a JSON object or ProviderUnavailable."""
    try:
        response = requests.get(url, timeout=limits.timeout,
                                headers={"Accept": "application/json"})
    except requests.Timeout:
        raise ProviderUnavailable(url, f"no answer within {limits.connect:g} s to connect "
                                       f"or {limits.read:g} s to read") from None
    except requests.RequestException as exc:
        raise ProviderUnavailable(url, f"could not connect ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise ProviderUnavailable(url, f"answered HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        raise ProviderUnavailable(url, "answered something that is not JSON") from None
    if not isinstance(document, dict):
        raise ProviderUnavailable(url, "answered JSON that is not an object")
    return document


class ProviderDocuments:
    """One process's copies of providers' documents, by URL (see the module docstring)."""

    def __init__(self, fetch=fetch_json):
        self._fetch = fetch
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, url: str, limits: Limits, *, refresh: bool = False) -> dict:
        """The document at ``url``: the copy while fresh (or ``refresh`` to ask again now),
        else fetched; a stale copy when the provider fails; else ProviderUnavailable."""
        entry, fetch_lock = self._entry(url)
        now = time.monotonic()
        if entry.document is not None and not refresh and now - entry.fetched_at < limits.fresh:
            return entry.document
        if self._resting(entry, limits, now):
            return self._stand_in(url, entry, limits, now)
        if not fetch_lock.acquire(blocking=False):
            if self._usable(entry, limits, now):
                return entry.document  # another request is fetching it right now
            fetch_lock.acquire(timeout=limits.connect + limits.read + 1)
            fetch_lock.release()
            return self.get(url, limits) if entry.fetched_at > now else \
                self._stand_in(url, entry, limits, time.monotonic())
        try:
            document = self._fetch(url, limits)
        except ProviderUnavailable as exc:
            entry.failed_at, entry.reason = time.monotonic(), exc.reason
            return self._stand_in(url, entry, limits, entry.failed_at, fresh_failure=True)
        finally:
            fetch_lock.release()
        entry.document, entry.fetched_at, entry.failed_at = document, time.monotonic(), None
        return document

    def forget(self, url: str) -> None:
        with self._lock:
            self._entries.pop(url, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _entry(self, url: str) -> tuple[_Entry, threading.Lock]:
        with self._lock:
            entry = self._entries.setdefault(url, _Entry())
            return entry, self._locks.setdefault(url, threading.Lock())

    @staticmethod
    def _resting(entry: _Entry, limits: Limits, now: float) -> bool:
        return entry.failed_at is not None and now - entry.failed_at < limits.retry

    @staticmethod
    def _usable(entry: _Entry, limits: Limits, now: float) -> bool:
        return entry.document is not None and now - entry.fetched_at < limits.fresh + limits.stale

    def _stand_in(self, url: str, entry: _Entry, limits: Limits, now: float, *,
                  fresh_failure: bool = False) -> dict:
        if self._usable(entry, limits, now):
            if fresh_failure:
                log.warning("%s did not answer usably (%s); using the copy fetched %.0f s ago",
                            for_log(url), entry.reason, now - entry.fetched_at)
            return entry.document
        if fresh_failure:
            log.warning("%s did not answer usably (%s) and no copy may stand in",
                        for_log(url), entry.reason)
        raise ProviderUnavailable(url, entry.reason or "did not answer")


def documents_for(app) -> ProviderDocuments:
    """The app's copies (kept in ``app.extensions``, never in a module global)."""
    found = app.extensions.get("al_roster.provider_documents")
    if found is None:
        found = app.extensions["al_roster.provider_documents"] = ProviderDocuments()
    return found
