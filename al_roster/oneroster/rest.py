"""Pull a district's roster from a OneRoster REST API into a OneRoster CSV package.

Specifications:

- OneRoster 1.1 REST binding: https://www.imsglobal.org/oneroster-v11-final-specification
  (base path ``/ims/oneroster/v1p1``, OAuth 1.0a signed with HMAC-SHA256 as ClassLink's
  Roster Server requires: https://developer.classlink.com/reference/accessing-data).
- OneRoster 1.2 Rostering REST binding: https://www.imsglobal.org/spec/oneroster/v1p2
  (base path ``/ims/oneroster/rostering/v1p2``, OAuth 2 client credentials).
- The output follows the OneRoster CSV binding of the same version.

The sync engine reads CSV packages only, so a REST pull writes one: ``manifest.csv`` plus a
CSV file per collection, streamed page by page. REST sources then meet exactly the same
validation as CSV drops. The package is written into a hidden staging folder beside
``out_dir`` and renamed into place only once every collection arrived complete; a pull that
fails leaves nothing that could be mistaken for a (truncated) bulk package.

What a pull does not carry: ``metadata`` extension fields (their columns are unknown until
the last page), user passwords (we never store them; the column stays blank), and in a delta
pull the removal of a single 1.2 role (the REST user lists only its current roles).
"""
from __future__ import annotations

import csv
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth1Session, OAuth2Session
from authlib.oauth1.rfc5849.errors import OAuth1Error

from al_roster.errors import SourceError
from al_roster.oneroster import oauth1_sha256
from al_roster.oneroster.address_policy import check_url, parse_allowed_hosts
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


def pull_package(source: RestSource, out_dir: str | os.PathLike, *,
                 since: datetime | None = None,
                 sleep: Callable[[float], Any] = time.sleep) -> dict:
    """Pull every rostering collection into a new CSV package at ``out_dir``.

    ``since=None`` writes a bulk package (the complete current set; records the server
    already marks ``tobedeleted`` are left out). With ``since`` only records modified after
    it are asked for (``filter=dateLastModified>'...'``) and a delta package is written,
    each row carrying its ``status`` and ``dateLastModified``.

    Returns a summary: ``mode``, ``version``, ``seconds``; ``collections``: per collection
    ``rows`` written, ``pages`` fetched, ``skipped`` (tobedeleted records left out of a bulk
    pull) and ``seconds``; ``files``: rows per CSV file written (1.2 adds ``roles``).
    Raises :class:`SourceError` when the package cannot be complete; nothing is left at
    ``out_dir`` then.
    """
    _check_source(source)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    started = time.monotonic()
    mode = "delta" if since is not None else "bulk"
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial",
                                    dir=out_dir.parent))
    try:
        with _Api(source, sleep) as api:
            collections, files = {}, {}
            for spec in _collections(source.version):
                collections[spec.endpoint] = _pull_collection(api, spec, staging, since, files)
        _write_manifest(staging, source.version, mode, files)
        _move_into_place(staging, out_dir)
    except (RecursionError, OverflowError, UnicodeError) as exc:
        # Whatever slipped past the checks: still a source that could not deliver.
        shutil.rmtree(staging, ignore_errors=True)
        raise SourceError(f"The server's answers could not be read ({type(exc).__name__}: "
                          f"{clean(str(exc))[:120]}); the pull stopped.") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"mode": mode, "version": source.version,
            "seconds": round(time.monotonic() - started, 3),
            "collections": collections, "files": files}


def format_since(since: datetime) -> str:
    """OneRoster DateTime in UTC with milliseconds; a naive datetime is taken as UTC."""
    if since.tzinfo is not None:
        since = since.astimezone(UTC)
    return since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"


# -- checks before any request ---------------------------------------------------------

def _check_source(source: RestSource) -> None:
    if source.version not in BASE_PATHS:
        raise SourceError(f"OneRoster version {source.version!r} is not supported over REST; "
                          f"use one of {', '.join(BASE_PATHS)}.")
    if not source.client_id or not source.client_secret:
        raise SourceError("The OneRoster REST source has no client id or secret configured.")
    if source.page_size < 1 or source.max_attempts < 1:
        raise SourceError("page_size and max_attempts of a REST source must be at least 1.")
    allowed = parse_allowed_hosts(source.allowed_hosts)
    for url in (source.api_root, source.token_endpoint):
        check_url(url, allowed)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise SourceError(f"Cannot write the pulled package to {out_dir}: it already exists "
                          "and is not an empty folder.")
    out_dir.parent.mkdir(parents=True, exist_ok=True)


def _move_into_place(staging: Path, out_dir: Path) -> None:
    # rename() replaces an empty folder atomically; the package appears all at once. The
    # folder keeps mkdtemp's owner-only mode: it holds pupils' personal data.
    staging.replace(out_dir)


# -- one collection ------------------------------------------------------------------

def _pull_collection(api: _Api, spec: Collection, staging: Path, since: datetime | None,
                     files: dict[str, int]) -> dict:
    started = time.monotonic()
    pager = _Pager(spec.endpoint, api.source.page_size, api.budget)
    url = api.first_page_url(spec.endpoint, since)
    with _CsvWriter(staging, spec, delta=since is not None) as writer:
        while url:
            api.budget.charge_page(f"GET {_show(url)}")
            records, total, next_link = api.fetch_page(url, spec.envelope)
            api.budget.charge_rows(len(records), f"GET {_show(url)}")
            writer.write_records(records, where=f"GET {_show(url)}")
            url = pager.next_url(url, len(records), total, next_link, api)
    files.update(writer.rows)
    log.info("OneRoster REST %s: %d records in %d pages", spec.endpoint, pager.received,
             pager.pages)
    return {"rows": writer.rows[spec.endpoint], "pages": pager.pages,
            "skipped": writer.skipped, "seconds": round(time.monotonic() - started, 3)}


@dataclass
class _Pager:
    """Decides whether another page follows, and refuses a pull that lost rows.

    Servers may cap ``limit`` silently, so the first page that is followed by others
    sets the page size every later page must match; a short page with more to come
    means rows went missing. A next page already fetched (a cursor that repeats) would
    loop for ever, and an X-Total-Count beyond the pull's row limit is refused at once.
    """

    collection: str
    limit: int
    budget: PullBudget
    received: int = 0
    pages: int = 0
    total: int | None = None
    page_size: int | None = None
    seen: set[bytes] = field(default_factory=set)

    def next_url(self, url: str, rows: int, total: int | None, next_link: str | None,
                 api: _Api) -> str | None:
        self._saw(url)
        self._count(rows, total, url)
        if not self._more(rows, next_link, url):
            return None
        self._check_full_page(rows, url)
        if next_link:
            following = api.follow_link(url, next_link, self.received)
            if _digest(following) in self.seen:
                raise SourceError(f"GET {_show(url)}: the next-page link repeats an earlier page "
                                  f"({_show(following)[:200]}); following it would loop for ever.")
            return following
        return api.with_offset(url, self.received)

    def _saw(self, url: str) -> None:
        self.seen.add(_digest(url))

    def _count(self, rows: int, total: int | None, url: str) -> None:
        self.pages += 1
        self.received += rows
        if total is not None and self.total is not None and total != self.total:
            raise SourceError(
                f"GET {_show(url)}: X-Total-Count changed from {self.total} to {total} during "
                f"the pull of {self.collection}; the data changed underneath us, try again.",
                passing=True)
        if total is not None and self.total is None:
            self.budget.check_total(total, self.collection, f"GET {_show(url)}")
        self.total = self.total if total is None else total
        if self.total is not None and self.received > self.total:
            raise SourceError(f"GET {_show(url)}: received {self.received} {self.collection} "
                              f"but X-Total-Count is {self.total}.")

    def _more(self, rows: int, next_link: str | None, url: str) -> bool:
        if self.total is not None:
            more = self.received < self.total
        else:
            more = bool(next_link) or rows >= (self.page_size or self.limit)
        if rows == 0 and more:
            raise SourceError(
                f"GET {_show(url)} returned no {self.collection} after {self.received}, yet "
                f"{self._expected()} more; the pull is incomplete.")
        return more

    def _check_full_page(self, rows: int, url: str) -> None:
        if self.page_size is None:
            self.page_size = rows
            return
        if rows < self.page_size:
            raise SourceError(
                f"GET {_show(url)} returned {rows} {self.collection} where pages hold "
                f"{self.page_size}, yet {self._expected()} more; the pull is incomplete.")

    def _expected(self) -> str:
        if self.total is not None:
            return f"X-Total-Count ({self.total}) says there are"
        return "the Link header says there are"


def _digest(url: str) -> bytes:
    return hashlib.blake2b(url.encode("utf-8", "replace"), digest_size=16).digest()


# -- HTTP ---------------------------------------------------------------------------

class _Api:
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
            raise SourceError(f"GET {_show(url)}: the Link header points to another server "
                              f"({clean(target.scheme)}://{clean(target.netloc)[:100]}); "
                              "refusing to follow it.")
        params = _query(target.query)
        offset = dict(params).get("offset")
        if offset is not None and offset != str(received):
            raise SourceError(f"GET {_show(url)}: the next-page link asks for offset "
                              f"{clean(offset)[:40]} after {received} rows; following it would "
                              "skip or repeat rows.")
        # Re-encode so the OAuth 1 signature covers exactly the query we send.
        return target._replace(query=_encode(params), fragment="").geturl()

    def fetch_page(self, url: str, envelope: str) -> tuple[list, int | None, str | None]:
        response = self._with_retries(f"GET {_show(url)}", lambda: self.session.get(
            url, timeout=self.source.timeout, allow_redirects=False))
        self._refuse_unusable(response, url)
        records = self._records(response, url, envelope)
        return records, self._total(response, url), response.links.get("next", {}).get("url")

    def _refuse_unusable(self, response: requests.Response, url: str) -> None:
        # Redirects never get here: the session's adapter refuses them (http_bounds).
        status = response.status_code
        if status == 404:
            raise SourceError(f"GET {_show(url)} returned HTTP 404: the server has no such "
                              "collection or page; the pull is incomplete.")
        if status != 200:
            raise SourceError(f"GET {_show(url)} returned HTTP {status}: "
                              f"{self._excerpt(response)}")

    def _records(self, response: requests.Response, url: str, envelope: str) -> list:
        try:
            body = parse_json(response.content, f"GET {_show(url)}",
                              self.source.limits.max_response_bytes // 16)
        except ValueError:
            raise SourceError(f"GET {_show(url)} did not return JSON: "
                              f"{self._excerpt(response)}") from None
        records = body.get(envelope) if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise SourceError(f"GET {_show(url)} returned JSON without a {envelope!r} list.")
        return records

    def _total(self, response: requests.Response, url: str) -> int | None:
        value = response.headers.get("X-Total-Count")
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise SourceError(f"GET {_show(url)}: X-Total-Count is not a number: "
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


_show = show_url


# -- JSON records to CSV rows --------------------------------------------------------
# Column names and order: OneRoster CSV binding of each version. A REST record omits empty
# fields, nests references as {"sourcedId", "type", "href"} and gives lists as arrays; the
# CSV flattens them to "...SourcedId(s)" columns and comma-joined fields.

Extract = Callable[[dict], str]
HEAD = ("sourcedId", "status", "dateLastModified")


class _BadValue(Exception):
    """A JSON value with no CSV form (an object where text belongs)."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    raise _BadValue(value)


def _ref_id(ref: Any) -> str:
    if isinstance(ref, dict):
        return _text(ref.get("sourcedId"))
    if isinstance(ref, str):  # a bare sourcedId, as some servers send
        return ref
    raise _BadValue(ref)


def _field(name: str, *aliases: str) -> Extract:
    def extract(record: dict) -> str:
        for key in (name, *aliases):
            if record.get(key) is not None:
                return _text(record[key])
        return ""
    return extract


def _ref(name: str) -> Extract:
    return lambda record: "" if record.get(name) is None else _ref_id(record[name])


def _refs(name: str) -> Extract:
    def extract(record: dict) -> str:
        refs = record.get(name) or []
        if not isinstance(refs, list):
            raise _BadValue(refs)
        return ",".join(_ref_id(ref) for ref in refs)
    return extract


def _user_ids(record: dict) -> str:
    ids = record.get("userIds") or []
    if not isinstance(ids, list) or not all(isinstance(i, dict) for i in ids):
        raise _BadValue(ids)
    return ",".join(f"{{{_text(i.get('type'))}:{_text(i.get('identifier'))}}}" for i in ids)


def _never(record: dict) -> str:
    # Users' passwords are not kept by this product; they do not reach the disk either.
    return ""


@dataclass(frozen=True)
class Collection:
    """A REST collection and the CSV file it becomes (same name, as in both bindings)."""

    endpoint: str
    envelope: str
    columns: tuple[tuple[str, Extract], ...]
    #: 1.2: users carry their roles; they become roles.csv.
    with_roles: bool = False

    @property
    def header(self) -> list[str]:
        return [*HEAD, *(name for name, _ in self.columns)]


ORGS = Collection("orgs", "orgs", (
    ("name", _field("name")), ("type", _field("type")),
    ("identifier", _field("identifier")), ("parentSourcedId", _ref("parent")),
))
ACADEMIC_SESSIONS = Collection("academicSessions", "academicSessions", (
    ("title", _field("title")), ("type", _field("type")), ("startDate", _field("startDate")),
    ("endDate", _field("endDate")), ("parentSourcedId", _ref("parent")),
    ("schoolYear", _field("schoolYear")),
))
COURSES = Collection("courses", "courses", (
    ("schoolYearSourcedId", _ref("schoolYear")), ("title", _field("title")),
    ("courseCode", _field("courseCode")), ("grades", _field("grades")),
    ("orgSourcedId", _ref("org")), ("subjects", _field("subjects")),
    ("subjectCodes", _field("subjectCodes")),
))
CLASSES = Collection("classes", "classes", (
    ("title", _field("title")), ("grades", _field("grades")),
    ("courseSourcedId", _ref("course")), ("classCode", _field("classCode")),
    ("classType", _field("classType")), ("location", _field("location")),
    ("schoolSourcedId", _ref("school")), ("termSourcedIds", _refs("terms")),
    ("subjects", _field("subjects")), ("subjectCodes", _field("subjectCodes")),
    ("periods", _field("periods")),
))
_USER_CONTACT = (
    ("userIds", _user_ids), ("givenName", _field("givenName")),
    ("familyName", _field("familyName")), ("middleName", _field("middleName")),
    ("identifier", _field("identifier")), ("email", _field("email")), ("sms", _field("sms")),
    ("phone", _field("phone")), ("agentSourcedIds", _refs("agents")),
    ("grades", _field("grades")), ("password", _never),
)
USERS_V1P1 = Collection("users", "users", (
    ("enabledUser", _field("enabledUser")), ("orgSourcedIds", _refs("orgs")),
    ("role", _field("role")), ("username", _field("username")), *_USER_CONTACT,
))
USERS_V1P2 = Collection("users", "users", (
    ("enabledUser", _field("enabledUser")), ("username", _field("username")), *_USER_CONTACT,
    ("userMasterIdentifier", _field("userMasterIdentifier")),
    # The 1.2 JSON binding says preferredFirstName/LastName where the CSV says Given/Family.
    ("preferredGivenName", _field("preferredFirstName", "preferredGivenName")),
    ("preferredMiddleName", _field("preferredMiddleName")),
    ("preferredFamilyName", _field("preferredLastName", "preferredFamilyName")),
    ("primaryOrgSourcedId", _ref("primaryOrg")), ("pronouns", _field("pronouns")),
), with_roles=True)
ENROLLMENTS = Collection("enrollments", "enrollments", (
    ("classSourcedId", _ref("class")), ("schoolSourcedId", _ref("school")),
    ("userSourcedId", _ref("user")), ("role", _field("role")),
    ("primary", _field("primary")), ("beginDate", _field("beginDate")),
    ("endDate", _field("endDate")),
))
ROLES_HEADER = [*HEAD, "userSourcedId", "roleType", "role", "beginDate", "endDate",
                "orgSourcedId", "userProfileSourcedId"]

#: Files each version's manifest names; what a pull does not write is "absent".
MANIFEST_FILES = {
    "1.1": ("academicSessions", "categories", "classes", "classResources", "courses",
            "courseResources", "demographics", "enrollments", "lineItems", "orgs",
            "resources", "results", "users"),
}
MANIFEST_FILES["1.2"] = (*MANIFEST_FILES["1.1"], "roles", "userProfiles", "userResources",
                         "scoreScales", "lineItemScoreScales", "resultScoreScales",
                         "lineItemLearningObjectiveIds", "resultLearningObjectiveIds")


def _collections(version: str) -> tuple[Collection, ...]:
    """Pulled in this order: each refers only to what came before, except users<->agents."""
    users = USERS_V1P1 if version == "1.1" else USERS_V1P2
    return (ORGS, ACADEMIC_SESSIONS, COURSES, CLASSES, users, ENROLLMENTS)


def _status(record: dict) -> str:
    status = _text(record.get("status"))
    # 1.0 servers still say "inactive"; the 1.1/1.2 CSV word for it is "tobedeleted".
    return "tobedeleted" if status == "inactive" else status


class _CsvWriter:
    """Writes one collection's pages to its CSV file (and roles.csv for 1.2 users)."""

    def __init__(self, staging: Path, spec: Collection, *, delta: bool):
        self.spec, self.delta, self.skipped = spec, delta, 0
        self.rows = {spec.endpoint: 0}
        self._files, self._writers = ExitStack(), {}
        self._open(staging, spec.endpoint, spec.header)
        if spec.with_roles:
            self._open(staging, "roles", ROLES_HEADER)

    def _open(self, staging: Path, name: str, header: list[str]) -> None:
        handle = self._files.enter_context(
            (staging / f"{name}.csv").open("w", encoding="utf-8", newline=""))
        self._writers[name] = csv.writer(handle)  # RFC 4180: CRLF, quotes where needed
        self._writers[name].writerow(header)
        self.rows[name] = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self._files.close()

    def write_records(self, records: list, *, where: str) -> None:
        for record in records:
            if not isinstance(record, dict):
                raise SourceError(f"{where}: a {self.spec.endpoint} entry is not a JSON object.")
            try:
                self._write_record(record)
            except _BadValue as exc:
                raise SourceError(
                    f"{where}: {self.spec.endpoint} record {_shown_id(record)} has a "
                    f"value with no CSV form: {clean(str(exc.args[0]))[:100]}") from None
            except UnicodeEncodeError:  # a lone surrogate ("\\ud800") decoded from JSON
                raise SourceError(
                    f"{where}: {self.spec.endpoint} record {_shown_id(record)} holds text that "
                    "is not valid Unicode (half of a UTF-16 surrogate pair).") from None

    def _write_record(self, record: dict) -> None:
        if not self.delta and _status(record) == "tobedeleted":
            # A bulk file is the current set: listing a deleted record would revive it.
            self.skipped += 1
            return
        row = record_to_row(self.spec, record, delta=self.delta)
        self._write(self.spec.endpoint, row)
        if self.spec.with_roles:
            for role_row in role_rows(record, row[:3]):
                self._write("roles", role_row)

    def _write(self, name: str, row: list[str]) -> None:
        self._writers[name].writerow(row)
        self.rows[name] += 1


def _shown_id(record: dict) -> str:
    return clean(repr(record.get("sourcedId")))[:100]


def record_to_row(spec: Collection, record: dict, *, delta: bool) -> list[str]:
    """One REST record as a row of ``spec``'s CSV file (status and date blank in bulk)."""
    head = [_text(record.get("sourcedId")), "", ""]
    if delta:
        head[1:] = [_status(record), _text(record.get("dateLastModified"))]
    return [*head, *(get(record) for _, get in spec.columns)]


def role_rows(user: dict, head: list[str]) -> Iterator[list[str]]:
    """roles.csv rows for a 1.2 user; ``head`` is the user's sourcedId, status and date."""
    roles = user.get("roles") or []
    if not isinstance(roles, list):
        raise _BadValue(roles)
    for role in roles:
        if not isinstance(role, dict):
            raise _BadValue(role)
        org = "" if role.get("org") is None else _ref_id(role["org"])
        name = _text(role.get("role"))
        profile = "" if role.get("userProfile") is None else _ref_id(role["userProfile"])
        yield [_role_sourced_id(head[0], org, name), head[1], head[2], head[0],
               _text(role.get("roleType")), name, _text(role.get("beginDate")),
               _text(role.get("endDate")), org, profile]


def _role_sourced_id(user: str, org: str, role: str) -> str:
    """REST roles have no sourcedId; derive a stable one so every pull names a role alike."""
    sourced_id = f"{user}.{org}.{role}"
    if len(sourced_id) <= 255:
        return sourced_id
    return "role." + hashlib.sha256(sourced_id.encode()).hexdigest()


def _write_manifest(staging: Path, version: str, mode: str, files: dict[str, int]) -> None:
    with open(staging / "manifest.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["propertyName", "value"])
        writer.writerow(["manifest.version", "1.0"])
        writer.writerow(["oneroster.version", version])
        for name in MANIFEST_FILES[version]:
            writer.writerow([f"file.{name}", mode if name in files else "absent"])
