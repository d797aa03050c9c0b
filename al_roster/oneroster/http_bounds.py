"""What one pull from a district's OneRoster API server may cost: bytes, rows, pages, time.

The district controls that server; a broken or hostile one must not be able to hold a worker,
fill its memory or its disk. Every request of a pull goes through :class:`BoundedAdapter`,
which connects only where :mod:`address_policy` allows and then:

- gives each request a wall clock (``page_seconds``, shortened to what is left of the pull's
  deadline): when it runs out, the connection is cut, however slowly bytes still trickle in
  (a socket read timeout alone restarts with every byte);
- never follows a redirect (a token endpoint redirected to another host would hand us that
  host's token, and take our credentials there);
- streams the body and stops at ``max_response_bytes``, both on the wire and decompressed
  (:func:`answers.read_body`);
- counts every byte read into the pull's :class:`PullBudget`, which also counts pages and
  rows and knows the pull's deadline.

Everything refused here is a :class:`SourceError` that does not pass on its own: retrying a
server that did this would cost the same again.
"""
from __future__ import annotations

import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from al_roster.errors import SourceError
from al_roster.oneroster.address_policy import pinned_pool_classes
from al_roster.oneroster.answers import MB, clean, read_body, show_url, size_text


@dataclass(frozen=True)
class PullLimits:
    """The bounds of one pull (the AL_ROSTER_PULL_* settings)."""

    max_response_bytes: int = 16 * MB
    max_rows: int = 50_000_000
    max_bytes: int = 16 * 1024 * MB
    max_pages: int = 200_000
    page_seconds: float = 120.0
    deadline_seconds: float = 4 * 3600.0


class PullBudget:
    """What one pull has used of its :class:`PullLimits`, and how long it has left."""

    def __init__(self, limits: PullLimits, clock: Callable[[], float] = time.monotonic):
        self.limits, self.clock = limits, clock
        self.ends_at = clock() + limits.deadline_seconds
        self.rows = self.bytes = self.pages = 0

    def remaining(self) -> float:
        return self.ends_at - self.clock()

    def time_for(self, what: str) -> tuple[float, bool]:
        """Seconds the next request may take, and whether the deadline (not the page clock)
        is what limits it."""
        left = self.remaining()
        if left <= 0:
            raise self.past_deadline(what)
        return min(self.limits.page_seconds, left), left < self.limits.page_seconds

    def past_deadline(self, what: str) -> SourceError:
        return SourceError(
            f"The pull did not finish within its deadline of "
            f"{_duration(self.limits.deadline_seconds)} (stopped at {what}); the "
            "AL_ROSTER_PULL_DEADLINE_* settings set it.")

    def check_wait(self, seconds: float, what: str, why: str) -> None:
        """Refuses to sleep ``seconds`` when that would outlast the deadline."""
        left = self.remaining()
        if seconds >= left:
            raise SourceError(
                f"{what}: {why} {seconds:.0f} s, more than the {max(left, 0):.0f} s left of "
                f"the pull's deadline of {_duration(self.limits.deadline_seconds)}; the pull "
                "stopped rather than wait.")

    def charge_bytes(self, count: int, what: str) -> None:
        self.bytes += count
        if self.bytes > self.limits.max_bytes:
            raise SourceError(f"{what}: the pull has read more than "
                              f"{size_text(self.limits.max_bytes)} (AL_ROSTER_PULL_MAX_BYTES); "
                              "it stopped there.")

    def charge_page(self, what: str) -> None:
        """Counts a page about to be asked for."""
        if self.pages >= self.limits.max_pages:
            raise SourceError(f"{what}: the pull would fetch more than {self.limits.max_pages} "
                              "pages (AL_ROSTER_PULL_MAX_PAGES); it stopped there.")
        self.pages += 1

    def charge_rows(self, count: int, what: str) -> None:
        if self.rows + count > self.limits.max_rows:
            raise SourceError(f"{what}: the pull would bring more than {self.limits.max_rows} "
                              "records (AL_ROSTER_PULL_MAX_ROWS); it stopped there.")
        self.rows += count

    def check_total(self, total: int, collection: str, what: str) -> None:
        if total > self.limits.max_rows:
            raise SourceError(f"{what}: X-Total-Count says {total} {collection}, more than the "
                              f"{self.limits.max_rows} records a pull may bring "
                              "(AL_ROSTER_PULL_MAX_ROWS); nothing more was asked for.")


def _duration(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


# -- cutting a request that runs out of time ---------------------------------------------------

class PageWatch:
    """Cuts the connections of one session when a request outlives its clock.

    For the time of each request it holds a duplicate of the socket of every connection the
    session has (and of each new one, before its TLS handshake); shutting those down ends
    any read or write at once, in the handshake, the headers or the body, even once
    http.client has handed the socket over to the response.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._conns: weakref.WeakSet = weakref.WeakSet()
        self._dups: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._generation = 0
        self.fired = False

    def track(self, conn, sock: socket.socket) -> None:
        """A connection just made (called while a request runs)."""
        with self._lock:
            self._conns.add(conn)
            self._keep(sock)

    def start(self, seconds: float) -> None:
        with self._lock:
            self._generation += 1
            self.fired = False
            for conn in list(self._conns):
                if getattr(conn, "sock", None) is not None:
                    self._keep(conn.sock)
            self._timer = threading.Timer(seconds, self._fire, args=(self._generation,))
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        with self._lock:
            self._generation += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            dups, self._dups = self._dups, []
        for dup in dups:
            dup.close()

    def _keep(self, sock: socket.socket) -> None:
        try:
            if sock.fileno() >= 0:  # our connection's live socket: its descriptor is its own
                self._dups.append(socket.fromfd(sock.fileno(), sock.family, sock.type))
        except OSError:
            pass

    def _fire(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self.fired = True
            for dup in self._dups:
                try:
                    dup.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


# -- the adapter every request of a pull goes through ------------------------------------------

class BoundedAdapter(HTTPAdapter):
    """A requests transport adapter enforcing the module's rules on every request."""

    def __init__(self, allowed_hosts: frozenset[str], budget: PullBudget):
        self.allowed_hosts, self.budget = allowed_hosts, budget
        self.watch = PageWatch()
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = pinned_pool_classes(self.allowed_hosts,
                                                                      self.watch)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        what = f"{request.method} {show_url(request.url)}"
        seconds, by_deadline = self.budget.time_for(what)
        self.watch.start(seconds)
        try:
            # No proxy: the address rule needs the connection to go where it checked.
            response = super().send(request, stream=True, timeout=timeout, verify=verify,
                                    cert=cert, proxies={})
            try:
                _refuse_redirect(response, what)
                body = read_body(response, self.budget.limits.max_response_bytes, what)
            finally:
                response.close()
        except SourceError:
            raise
        except Exception:
            if self.watch.fired:
                raise self._too_slow(what, seconds, by_deadline) from None
            raise
        finally:
            self.watch.stop()
        if self.watch.fired:  # the clock ran out as the last bytes came: the body may be cut
            raise self._too_slow(what, seconds, by_deadline)
        self.budget.charge_bytes(len(body), what)
        response._content, response._content_consumed = body, True
        return response

    def _too_slow(self, what: str, seconds: float, by_deadline: bool) -> SourceError:
        if by_deadline:
            return self.budget.past_deadline(what)
        return SourceError(f"{what} took longer than {seconds:g} s to answer "
                           "(AL_ROSTER_PULL_PAGE_SECONDS); a server this slow is not waited "
                           "for, and the pull stopped.")

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.watch.stop()


def bound_session(session: requests.Session, allowed_hosts: frozenset[str],
                  budget: PullBudget) -> requests.Session:
    """Routes every request of ``session`` through a :class:`BoundedAdapter`."""
    adapter = BoundedAdapter(allowed_hosts, budget)
    session.trust_env = False  # no proxy, .netrc or CA bundle taken from the environment
    session.max_redirects = 0
    session.headers["Accept-Encoding"] = "gzip, deflate"
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _refuse_redirect(response: requests.Response, what: str) -> None:
    status = response.status_code
    if 300 <= status < 400:
        location = clean(response.headers.get("Location") or "nowhere")[:200]
        raise SourceError(f"{what} was redirected (HTTP {status}) to {location}; redirects are "
                          "not followed. Set the source's address (or token URL) to the "
                          "final one.")
