"""Talking to one district's OneRoster REST API: where it is (:class:`RestSource`) and one
authenticated session with retries (:class:`RestApi`), for :mod:`.rest`'s pulls.

OneRoster 1.1 requests are signed with OAuth 1.0a HMAC-SHA256 (ClassLink's Roster Server);
1.2 uses OAuth 2 client credentials. Every request goes through :mod:`.http_bounds` (no
redirects, bounded bodies, a page clock and the pull's budget) to an address
:mod:`.address_policy` accepts. Failures that may pass (timeouts, dropped connections, 429,
5xx) are retried with backoff or the server's Retry-After, within the pull's deadline; the
rest are :class:`SourceError` at once, with the server's words cut short and secrets masked.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth1Session, OAuth2Session
from authlib.oauth1.rfc5849.errors import OAuth1Error

from al_roster.errors import SourceError
from al_roster.oneroster import oauth1_sha256
from al_roster.oneroster.address_policy import parse_allowed_hosts
from al_roster.oneroster.answers import (
    check_token_response,
    clean,
    excerpt,
    parse_json,
    show_url,
    tls_reason,
)
from al_roster.oneroster.http_bounds import PullBudget, PullLimits, bound_session

log = logging.getLogger(__name__)

BASE_PATHS = {"1.1": "/ims/oneroster/v1p1", "1.2": "/ims/oneroster/rostering/v1p2"}
DEFAULT_SCOPE_V1P2 = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly"

#: Longest Retry-After we wait out inside a pull; a server asking for more is down for now.
MAX_RETRY_AFTER = 300.0
#: Exponential backoff between attempts (1, 2, 4, ... seconds) never exceeds this.
MAX_BACKOFF = 60.0

oauth1_sha256.register()


@dataclass
class RestSource:
    """Where and how to reach one district's OneRoster REST API.

    ``base_url`` is the server's address (``https://district.oneroster.com``); the version's
    base path is appended unless it is already there. OneRoster 1.2 does not fix the OAuth 2
    token endpoint's path: set ``token_url`` to the one the vendor publishes. When it is not
    set, ``{base_url}/token`` is used.

    Both URLs must be https to public addresses unless ``allowed_hosts`` lists the host
    (:mod:`address_policy`); ``limits`` bound what the pull may cost (:mod:`http_bounds`).
    """

    base_url: str
    version: str
    client_id: str
    client_secret: str = field(repr=False)
    token_url: str | None = None
    scope: str | None = None
    page_size: int = 1000
    timeout: float = 30.0
    max_attempts: int = 5
    allowed_hosts: tuple[str, ...] = ()
    limits: PullLimits = field(default_factory=PullLimits)

    @property
    def api_root(self) -> str:
        root = self.base_url.rstrip("/")
        base_path = BASE_PATHS.get(self.version, "")
        return root if root.endswith(base_path) else root + base_path

    @property
    def token_endpoint(self) -> str:
        if self.token_url:
            return self.token_url
        root = self.base_url.rstrip("/")
        base_path = BASE_PATHS.get(self.version, "")
        if base_path and root.endswith(base_path):
            root = root[: -len(base_path)]
        return root + "/token"

    @property
    def token_scope(self) -> str:
        return self.scope or DEFAULT_SCOPE_V1P2


def format_since(since: datetime) -> str:
    """OneRoster DateTime in UTC with milliseconds; a naive datetime is taken as UTC."""
    if since.tzinfo is not None:
        since = since.astimezone(UTC)
    return since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"


class RestApi:
    """One authenticated session with retries; knows nothing about CSV."""

    def __init__(self, source: RestSource, sleep: Callable[[float], Any]):
        self.source = source
        self.sleep = sleep
        self.budget = PullBudget(source.limits)
        self.session = bound_session(_open_session(source),
                                     parse_allowed_hosts(source.allowed_hosts), self.budget)
        self.session.headers["Accept"] = "application/json"

    def __enter__(self) -> Self:
        if self.source.version == "1.2":
            try:
                self._fetch_token()
            except BaseException:
                self.session.close()
                raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.session.close()

    def first_page_url(self, endpoint: str, since: datetime | None) -> str:
        params = [("limit", str(self.source.page_size)), ("offset", "0")]
        if since is not None:
            params.append(("filter", f"dateLastModified>'{format_since(since)}'"))
        return f"{self.source.api_root}/{endpoint}?{_encode(params)}"

    def with_offset(self, url: str, offset: int) -> str:
        parts = urlsplit(url)
        params = [(k, v) for k, v in _query(parts.query) if k != "offset"]
        return parts._replace(query=_encode([*params, ("offset", str(offset))])).geturl()

    def follow_link(self, url: str, link: str, received: int) -> str:
        target = urlsplit(urljoin(url, link))
        here = urlsplit(self.source.api_root)
        if (target.scheme, target.netloc) != (here.scheme, here.netloc):
            # Never send credentials (a bearer token above all) to another host.
            raise SourceError(f"GET {show_url(url)}: the Link header points to another server "
                              f"({clean(target.scheme)}://{clean(target.netloc)[:100]}); "
                              "refusing to follow it.")
        params = _query(target.query)
        offset = dict(params).get("offset")
        if offset is not None and offset != str(received):
            raise SourceError(f"GET {show_url(url)}: the next-page link asks for offset "
                              f"{clean(offset)[:40]} after {received} rows; following it would "
                              "skip or repeat rows.")
        # Re-encode so the OAuth 1 signature covers exactly the query we send.
        return target._replace(query=_encode(params), fragment="").geturl()

    def fetch_page(self, url: str, envelope: str) -> tuple[list, int | None, str | None]:
        response = self._with_retries(f"GET {show_url(url)}", lambda: self.session.get(
            url, timeout=self.source.timeout, allow_redirects=False))
        self._refuse_unusable(response, url)
        records = self._records(response, url, envelope)
        return records, self._total(response, url), response.links.get("next", {}).get("url")

    def _refuse_unusable(self, response: requests.Response, url: str) -> None:
        # Redirects never get here: the session's adapter refuses them (http_bounds).
        status = response.status_code
        if status == 404:
            raise SourceError(f"GET {show_url(url)} returned HTTP 404: the server has no such "
                              "collection or page; the pull is incomplete.")
        if status != 200:
            raise SourceError(f"GET {show_url(url)} returned HTTP {status}: "
                              f"{self._excerpt(response)}")

    def _records(self, response: requests.Response, url: str, envelope: str) -> list:
        try:
            body = parse_json(response.content, f"GET {show_url(url)}",
                              self.source.limits.max_response_bytes // 16)
        except ValueError:
            raise SourceError(f"GET {show_url(url)} did not return JSON: "
                              f"{self._excerpt(response)}") from None
        records = body.get(envelope) if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise SourceError(f"GET {show_url(url)} returned JSON without a {envelope!r} list.")
        return records

    def _total(self, response: requests.Response, url: str) -> int | None:
        value = response.headers.get("X-Total-Count")
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise SourceError(f"GET {show_url(url)}: X-Total-Count is not a number: "
                              f"{clean(value)[:40]!r}.") from None

    def _fetch_token(self) -> None:
        token = self._with_retries(
            f"POST {self.source.token_endpoint}",
            lambda: self.session.fetch_token(grant_type="client_credentials",
                                             timeout=self.source.timeout))
        if not token.get("access_token"):
            raise SourceError(f"The token endpoint {self.source.token_endpoint} "
                              "answered without an access_token.")

    def _with_retries(self, what: str, send: Callable[[], Any]) -> Any:
        attempts = self.source.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(what, send)
            except _Retryable as exc:
                problem = exc.problem
                if attempt < attempts:
                    delay = exc.wait if exc.wait is not None else _backoff(attempt)
                    self.budget.check_wait(delay, what, f"{problem}, and Retry-After asks us "
                                           "to wait" if exc.wait is not None else
                                           f"{problem}; the next attempt would wait")
                    log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)",
                                what, problem, delay, attempt, attempts)
                    self.sleep(delay)
        raise SourceError(f"{what} failed after {attempts} attempts: {problem}", passing=True)

    def _attempt(self, what: str, send: Callable[[], Any]) -> Any:
        """Send once; raise _Retryable for what may pass, SourceError for what will not."""
        try:
            result = send()
        except requests.Timeout:
            raise _Retryable(f"no answer within {self.source.timeout:g} s") from None
        except requests.exceptions.SSLError as exc:  # a certificate will not mend by itself
            if "certificate verify failed" not in str(exc).lower():
                raise _Retryable(f"TLS failed ({tls_reason(exc)})") from None
            raise SourceError(f"{what}: the server's certificate was refused "
                              f"({tls_reason(exc)}).") from None
        except requests.HTTPError as exc:  # authlib's token fetch calls raise_for_status()
            raise self._token_http_error(what, exc.response) from None
        except requests.RequestException as exc:  # connection refused, reset, cut short
            raise _Retryable(f"connection failed ({self._redact(clean(str(exc)))[:200]})") \
                from None
        except OAuthError as exc:
            raise self._refused(what, f"{exc.error}: {exc.description or ''}") from None
        except OAuth1Error as exc:  # raised before sending: plain http off loopback
            raise SourceError(f"{what}: {clean(str(exc.description or exc.error))[:200]} "
                              "(OneRoster 1.1 signs requests over https only).") from None
        except ValueError as exc:  # authlib: a token answer that is not a JSON object
            raise SourceError(f"{what}: {self._redact(clean(str(exc)))[:200]}") from None
        if isinstance(result, requests.Response):
            self._check_status(what, result)
        return result

    def _check_status(self, what: str, response: requests.Response) -> None:
        status = response.status_code
        if status in (401, 403):
            raise self._refused(what, f"HTTP {status}: {self._excerpt(response)}")
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}", _retry_after(response, what))

    def _token_http_error(self, what: str, response: requests.Response | None) -> Exception:
        status = response.status_code if response is not None else 0
        if status == 429 or status >= 500:
            return _Retryable(f"HTTP {status}", _retry_after(response, what))
        if status in (400, 401, 403):
            return self._refused(what, f"HTTP {status}: {self._excerpt(response)}")
        return SourceError(f"{what} returned HTTP {status}; is the token endpoint address right?")

    def _refused(self, what: str, detail: str) -> SourceError:
        return SourceError(
            f"{what}: the server refused the credentials of client id {self.source.client_id!r} "
            f"({self._redact(clean(detail))[:300]}). Check the client id and secret, and that the "
            "district has granted this application access.")

    def _excerpt(self, response: requests.Response) -> str:
        return excerpt(response.content or b"", self._redact)

    def _redact(self, text: str) -> str:
        secrets = [self.source.client_secret]
        token = getattr(self.session, "token", None)
        if isinstance(token, dict) and token.get("access_token"):
            secrets.append(token["access_token"])
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


class _Retryable(Exception):
    """A failure that may pass: timeouts, dropped connections, 429 and 5xx answers."""

    def __init__(self, problem: str, wait: float | None = None):
        super().__init__(problem)
        self.problem, self.wait = problem, wait


def _backoff(attempt: int) -> float:
    return min(MAX_BACKOFF, 2.0 ** (attempt - 1))


def _open_session(source: RestSource) -> requests.Session:
    if source.version == "1.1":
        return OAuth1Session(source.client_id, source.client_secret,
                             signature_method=oauth1_sha256.SIGNATURE_HMAC_SHA256)
    # grant_type in the metadata is what lets authlib fetch a new token when this one
    # expires: client credentials come without a refresh token.
    session = OAuth2Session(source.client_id, source.client_secret, scope=source.token_scope,
                            token_endpoint=source.token_endpoint,
                            grant_type="client_credentials", default_timeout=source.timeout)
    # Every token answer (the first and each renewal) is checked before authlib reads it.
    session.register_compliance_hook("access_token_response", check_token_response)
    return session


def _retry_after(response: requests.Response, what: str) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    seconds = max(0.0, seconds)
    if seconds > MAX_RETRY_AFTER:
        raise SourceError(f"{what}: the server asked us to come back in {seconds:.0f} s "
                          f"(HTTP {response.status_code}, Retry-After); try the pull later.",
                          passing=True)
    return seconds


def _encode(params: list[tuple[str, str]]) -> str:
    # RFC 3986 percent-encoding (%20, not +) as OAuth 1 signing expects.
    return urlencode(params, quote_via=quote, safe="")


def _query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


