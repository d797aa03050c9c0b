"""A OneRoster REST API on loopback, built from a folder of OneRoster CSV files.

For tests and benchmarks of the REST source. It serves the rostering collections of the
OneRoster 1.1 REST binding (``/ims/oneroster/v1p1``) or of the 1.2 Rostering REST binding
(``/ims/oneroster/rostering/v1p2``) the way ClassLink's Roster Server does:

- ``GET {base}/{collection}?limit=&offset=&filter=`` with JSON envelopes (``{"users": [...]}``),
  empty fields omitted, ``X-Total-Count`` and ``Link`` (rel next/last) headers, and
  ``filter=dateLastModified{>,>=,<,<=,=}'...'``;
- 1.1: OAuth 1.0a requests signed with HMAC-SHA256, checked here from RFC 5849 with
  hmac/hashlib (not with the client library under test), timestamp window and nonce replay
  included;
- 1.2: ``POST /token``, the OAuth 2 client credentials grant (RFC 6749 section 4.4) issuing
  bearer tokens (RFC 6750) that expire.

The CSV folder may hold a 1.1 or a 1.2 package (1.2 users take their roles from roles.csv).
Rows are read from disk by byte offset, so a district of any size costs little memory.

Faults are switched per test on the object :func:`serve_oneroster` yields: :meth:`fail`,
:meth:`fail_all`, :meth:`slow`, :meth:`drop_page`, :meth:`fail_token`; ``max_limit``,
``send_total`` and ``send_links`` change paging. Every request is logged in ``requests``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlencode

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

BASE_PATHS = {"1.1": "/ims/oneroster/v1p1", "1.2": "/ims/oneroster/rostering/v1p2"}
TOKEN_PATH = "/token"
COLLECTIONS = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
SCOPES_V1P2 = frozenset(
    {
        "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly",
        "https://purl.imsglobal.org/spec/or/v1p2/scope/roster.readonly",
    }
)
#: What a record without a dateLastModified (a bulk CSV row) reports.
DEFAULT_MODIFIED = "2026-01-01T00:00:00.000Z"
#: RFC 5849 leaves the window to the server; 5 minutes is common (and authlib's).
TIMESTAMP_WINDOW = 300
DEFAULT_LIMIT = 100


# -- OAuth 1.0a, RFC 5849 section 3.4, written out here ----------------------------------


def percent_encode(text: str) -> str:
    """RFC 5849 section 3.6: UTF-8, then every octet but ALPHA DIGIT - . _ ~ as %XX."""
    return quote(text, safe="~")


def base_string_uri(scheme: str, host: str, path: str) -> str:
    """RFC 5849 section 3.4.1.2: lower-case scheme and host, default port dropped."""
    scheme, host = scheme.lower(), host.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return f"{scheme}://{host}{path or '/'}"


def signature_base_string(method: str, uri: str, params: list[tuple[str, str]]) -> str:
    """RFC 5849 section 3.4.1: method, base string URI and normalised parameters."""
    pairs = sorted(
        (percent_encode(k), percent_encode(v)) for k, v in params if k not in ("oauth_signature", "realm")
    )
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join(percent_encode(part) for part in (method.upper(), uri, normalized))


def hmac_sha256_signature(base_string: str, client_secret: str, token_secret: str = "") -> str:
    key = f"{percent_encode(client_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


_AUTH_PARAM = re.compile(r'([A-Za-z0-9_]+)="([^"]*)"')


def parse_oauth_header(header: str) -> dict[str, str] | None:
    if not header.lower().startswith("oauth "):
        return None
    return {unquote(k): unquote(v) for k, v in _AUTH_PARAM.findall(header[6:])}


# -- CSV files read on demand --------------------------------------------------------


class CsvTable:
    """One CSV file: its header and the byte offset of every record."""

    def __init__(self, path: Path):
        self.path = path
        self.offsets = array("q")
        with path.open("rb") as handle:
            self.header = _parse_csv(_read_record(handle).decode("utf-8-sig"))
            while True:
                position, record = handle.tell(), _read_record(handle)
                if not record:
                    break
                if record.strip():
                    self.offsets.append(position)

    def __len__(self) -> int:
        return len(self.offsets)

    def rows(self, indexes) -> Iterator[dict[str, str]]:
        with self.path.open("rb") as handle:
            for index in indexes:
                handle.seek(self.offsets[index])
                values = _parse_csv(_read_record(handle).decode("utf-8"))
                yield dict(zip(self.header, values, strict=False))


def _read_record(handle) -> bytes:
    """One CSV record: lines up to one that leaves every quote closed (RFC 4180 line breaks)."""
    record = b""
    while True:
        line = handle.readline()
        record += line
        if not line or record.count(b'"') % 2 == 0:
            return record


def _parse_csv(text: str) -> list[str]:
    return next(csv.reader([text.rstrip("\r\n")]), [])


@dataclass
class _Change:
    status: str
    date_last_modified: str


class Roster:
    """The district behind the API: CSV tables plus changes made by tests."""

    def __init__(self, csv_dir: Path):
        self.tables = {
            name: CsvTable(csv_dir / f"{name}.csv")
            for name in COLLECTIONS
            if (csv_dir / f"{name}.csv").exists()
        }
        self.roles = _read_roles(csv_dir / "roles.csv")
        self.changes: dict[tuple[str, str], _Change] = {}
        self._filtered: dict[tuple[str, str, str], list[int]] = {}
        self._lock = threading.Lock()

    def count(self, collection: str) -> int:
        table = self.tables.get(collection)
        return len(table) if table else 0

    def touch(self, collection: str, sourced_id: str, when: str, status: str) -> None:
        with self._lock:
            self.changes[(collection, sourced_id)] = _Change(status, when)
            self._filtered.clear()

    def state(self, collection: str, row: dict[str, str]) -> tuple[str, str]:
        change = self.changes.get((collection, row.get("sourcedId", "")))
        if change:
            return change.status, change.date_last_modified
        return row.get("status") or "active", row.get("dateLastModified") or DEFAULT_MODIFIED

    def matching(self, collection: str, op: str, value: str) -> list[int]:
        """Indexes of the rows whose dateLastModified compares as asked (cached per filter)."""
        key = (collection, op, value)
        with self._lock:
            if key not in self._filtered:
                self._filtered[key] = self._scan(collection, op, _parse_time(value))
            return self._filtered[key]

    def _scan(self, collection: str, op: str, since: datetime) -> list[int]:
        table = self.tables.get(collection)
        if table is None:
            return []
        compare = _COMPARE[op]
        return [
            index
            for index, row in enumerate(table.rows(range(len(table))))
            if compare(_parse_time(self.state(collection, row)[1]), since)
        ]


_COMPARE = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_FILTER = re.compile(r"^\s*dateLastModified\s*(>=|<=|!=|>|<|=)\s*'([^']*)'\s*$")


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_roles(path: Path) -> dict[str, list[dict[str, str]]] | None:
    if not path.exists():
        return None
    roles: dict[str, list[dict[str, str]]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            roles.setdefault(row["userSourcedId"], []).append(row)
    return roles


# -- CSV rows as REST JSON -----------------------------------------------------------

ROLE_V1P1_TO_V1P2 = {"administrator": "siteAdministrator"}
ROLE_V1P2_TO_V1P1 = {
    "districtAdministrator": "administrator",
    "principal": "administrator",
    "siteAdministrator": "administrator",
    "systemAdministrator": "administrator",
    "counselor": "aide",
}


class Shaper:
    """Turns a CSV row into the JSON object the REST binding of ``version`` returns."""

    def __init__(self, version: str, roster: Roster):
        self.version, self.roster = version, roster
        self.base_path = BASE_PATHS[version]

    def record(self, collection: str, row: dict[str, str]) -> dict:
        status, modified = self.roster.state(collection, row)
        out = {"sourcedId": row["sourcedId"], "status": status, "dateLastModified": modified}
        getattr(self, f"_{collection}")(row, out)
        return out

    def _orgs(self, row, out) -> None:
        _copy(row, out, "name", "type", "identifier")
        self._put_ref(out, "parent", row.get("parentSourcedId"), "orgs", "org")

    def _academicSessions(self, row, out) -> None:
        _copy(row, out, "title", "type", "startDate", "endDate", "schoolYear")
        self._put_ref(out, "parent", row.get("parentSourcedId"), "academicSessions", "academicSession")

    def _courses(self, row, out) -> None:
        _copy(row, out, "title", "courseCode")
        _copy_lists(row, out, "grades", "subjects", "subjectCodes")
        self._put_ref(
            out, "schoolYear", row.get("schoolYearSourcedId"), "academicSessions", "academicSession"
        )
        self._put_ref(out, "org", row.get("orgSourcedId"), "orgs", "org")

    def _classes(self, row, out) -> None:
        _copy(row, out, "title", "classCode", "classType", "location")
        _copy_lists(row, out, "grades", "subjects", "subjectCodes", "periods")
        self._put_ref(out, "course", row.get("courseSourcedId"), "courses", "course")
        self._put_ref(out, "school", row.get("schoolSourcedId"), "orgs", "org")
        self._put_refs(out, "terms", row.get("termSourcedIds"), "academicSessions", "academicSession")

    def _enrollments(self, row, out) -> None:
        _copy(row, out, "role", "beginDate", "endDate")
        if row.get("primary"):
            out["primary"] = self._boolean(row["primary"])
        self._put_ref(out, "user", row.get("userSourcedId"), "users", "user")
        self._put_ref(out, "class", row.get("classSourcedId"), "classes", "class")
        self._put_ref(out, "school", row.get("schoolSourcedId"), "orgs", "org")

    def _users(self, row, out) -> None:
        _copy(
            row,
            out,
            "username",
            "givenName",
            "familyName",
            "middleName",
            "identifier",
            "email",
            "sms",
            "phone",
        )
        if row.get("enabledUser"):
            out["enabledUser"] = self._boolean(row["enabledUser"])
        ids = re.findall(r"\{([^:}]*):([^}]*)\}", row.get("userIds", ""))
        if ids:
            out["userIds"] = [{"type": kind, "identifier": value} for kind, value in ids]
        self._put_refs(out, "agents", row.get("agentSourcedIds"), "users", "user")
        _copy_lists(row, out, "grades")
        roles = self._roles_of(row)
        if self.version == "1.1":
            self._users_v1p1(out, roles)
        else:
            self._users_v1p2(row, out, roles)

    def _users_v1p1(self, out, roles: list[dict[str, str]]) -> None:
        if roles:
            role = roles[0]["role"]
            out["role"] = ROLE_V1P2_TO_V1P1.get(role, role)
        self._put_refs(out, "orgs", ",".join(r["orgSourcedId"] for r in roles), "orgs", "org")

    def _users_v1p2(self, row, out, roles: list[dict[str, str]]) -> None:
        _copy(row, out, "userMasterIdentifier", "pronouns", "preferredMiddleName")
        for csv_name, json_name in (
            ("preferredGivenName", "preferredFirstName"),
            ("preferredFamilyName", "preferredLastName"),
        ):
            if row.get(csv_name):
                out[json_name] = row[csv_name]
        out["roles"] = [self._role(r) for r in roles]
        primary = row.get("primaryOrgSourcedId") or (roles[0]["orgSourcedId"] if roles else "")
        self._put_ref(out, "primaryOrg", primary, "orgs", "org")

    def _role(self, role: dict[str, str]) -> dict:
        out = {"roleType": role["roleType"], "role": ROLE_V1P1_TO_V1P2.get(role["role"], role["role"])}
        self._put_ref(out, "org", role["orgSourcedId"], "orgs", "org")
        _copy(role, out, "beginDate", "endDate")
        if role.get("userProfileSourcedId"):
            out["userProfile"] = role["userProfileSourcedId"]
        return out

    def _roles_of(self, row: dict[str, str]) -> list[dict[str, str]]:
        if "role" in row:  # a 1.1 users.csv: one role in every org listed
            orgs = [o for o in row.get("orgSourcedIds", "").split(",") if o]
            return [
                {"roleType": "primary" if i == 0 else "secondary", "role": row["role"], "orgSourcedId": org}
                for i, org in enumerate(orgs)
            ]
        roles = (self.roster.roles or {}).get(row["sourcedId"], [])
        return sorted(roles, key=lambda r: r.get("roleType") != "primary")

    def _boolean(self, text: str):
        # 1.1's JSON binding carries booleans as strings; 1.2 as JSON booleans.
        return text if self.version == "1.1" else text.strip().lower() == "true"

    def _put_ref(self, out, key, sourced_id, collection, kind) -> None:
        if sourced_id:
            out[key] = self._ref(sourced_id, collection, kind)

    def _put_refs(self, out, key, sourced_ids, collection, kind) -> None:
        ids = [i for i in (sourced_ids or "").split(",") if i]
        if ids:
            out[key] = [self._ref(i, collection, kind) for i in ids]

    def _ref(self, sourced_id, collection, kind) -> dict:
        return {"href": f"{self.base_path}/{collection}/{sourced_id}", "sourcedId": sourced_id, "type": kind}


def _copy(row, out, *names) -> None:
    for name in names:
        if row.get(name):
            out[name] = row[name]


def _copy_lists(row, out, *names) -> None:
    for name in names:
        if row.get(name):
            out[name] = row[name].split(",")


# -- the HTTP server -----------------------------------------------------------------


@dataclass
class Fault:
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    body: str | None = None


@dataclass
class LoggedRequest:
    number: int | None  # collection requests are numbered from 1; token requests are not
    method: str
    path: str
    query: dict[str, str]
    raw_query: str = ""
    status: int = 0
    auth: str = ""  # "OAuth", "Bearer", "Basic" or ""


@dataclass
class OneRosterAPI:
    """The WSGI application and its switches. Build it with :func:`serve_oneroster`."""

    csv_dir: Path
    version: str = "1.1"
    client_id: str = "al-roster-test-client"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    base_url: str = ""
    max_limit: int | None = None
    send_total: bool = True
    send_links: bool = True
    token_lifetime: int = 3600
    requests: list[LoggedRequest] = field(default_factory=list)

    def __post_init__(self):
        self.base_path = BASE_PATHS[self.version]
        self.roster = Roster(Path(self.csv_dir))
        self.shaper = Shaper(self.version, self.roster)
        self._faults: dict[int, Fault] = {}
        self._token_faults: dict[int, Fault] = {}
        self._always: Fault | None = None
        self._dropped: dict[tuple[str, int], Fault] = {}
        self._nonces: set[tuple[str, str]] = set()
        self._tokens: dict[str, float] = {}
        self._counts = {"data": 0, "token": 0}
        self._lock = threading.Lock()

    # -- switches for tests --
    def source_settings(self) -> dict[str, object]:
        """RestSource fields for this server (plain http on loopback, so allowed by name)."""
        return {
            "base_url": self.base_url,
            "version": self.version,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "allowed_hosts": ("127.0.0.1",),
        }

    def fail(
        self, *numbers: int, status: int = 500, retry_after: str | None = None, body: str | None = None
    ) -> None:
        """Answer the collection requests with these numbers (from 1) with ``status``."""
        for number in numbers:
            self._faults[number] = Fault(status, retry_after, body=body)

    def fail_all(self, status: int = 500) -> None:
        self._always = Fault(status)

    def slow(self, *numbers: int, seconds: float) -> None:
        """Hold these collection requests for ``seconds`` before answering normally."""
        for number in numbers:
            self._faults[number] = Fault(delay=seconds)

    def drop_page(self, collection: str, offset: int, *, status: int | None = 404, keep: int = 0) -> None:
        """Break the page at ``offset``: answer ``status``, or (status None) 200 with only
        ``keep`` rows while X-Total-Count and Link still promise the rest."""
        self._dropped[(collection, offset)] = Fault(status, body=str(keep))

    def fail_token(self, *numbers: int, status: int = 503, retry_after: str | None = None):
        for number in numbers:
            self._token_faults[number] = Fault(status, retry_after)

    def touch(self, collection: str, sourced_id: str, when: str, status: str = "active"):
        """Mark a record modified at ``when`` (OneRoster DateTime) with ``status``."""
        self.roster.touch(collection, sourced_id, when, status)

    @property
    def data_requests(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.number is not None]

    @property
    def token_requests(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path == TOKEN_PATH]

    # -- WSGI --
    def __call__(self, environ, start_response):
        request = Request(environ)
        entry = LoggedRequest(
            None,
            request.method,
            request.path,
            dict(request.args),
            environ.get("QUERY_STRING", ""),
            auth=request.headers.get("Authorization", "").split(" ")[0],
        )
        with self._lock:
            self.requests.append(entry)
        response = self._dispatch(request, entry)
        entry.status = response.status_code
        return response(environ, start_response)

    def _dispatch(self, request: Request, entry: LoggedRequest) -> Response:
        if request.path == TOKEN_PATH and self.version == "1.2":
            return self._token(request)
        collection = request.path.removeprefix(self.base_path + "/")
        if not request.path.startswith(self.base_path + "/") or collection not in COLLECTIONS:
            return _error(404, "unknownobject", f"No such endpoint: {request.path}")
        if request.method != "GET":
            return _error(405, "invalid_data", "Only GET is served.")
        entry.number = self._next("data")
        fault = self._faults.get(entry.number) or self._always
        if fault and fault.delay:
            time.sleep(fault.delay)
        elif fault:
            return _fault_response(fault)
        refusal = self._check_auth(request)
        if refusal:
            return _error(401, "unauthorisedrequest", refusal)
        return self._page(request, collection)

    def _next(self, counter: str) -> int:
        with self._lock:
            self._counts[counter] += 1
            return self._counts[counter]

    def _page(self, request: Request, collection: str) -> Response:
        try:
            limit = int(request.args.get("limit", DEFAULT_LIMIT))
            offset = int(request.args.get("offset", 0))
        except ValueError:
            return _error(400, "invalid_data", "limit and offset must be integers.")
        if limit < 1 or offset < 0:
            return _error(400, "invalid_data", "limit must be positive, offset not negative.")
        limit = min(limit, self.max_limit or limit)
        selection = self._select(collection, request.args.get("filter"))
        if selection is None:
            return _error(400, "invalid_selection_field", f"Unsupported filter: {request.args.get('filter')}")
        total = len(selection)
        indexes = selection[offset : offset + limit]
        dropped = self._dropped.get((collection, offset))
        if dropped and dropped.status:
            return _error(dropped.status, "unknownobject", f"No page at offset {offset}.")
        if dropped:
            indexes = indexes[: int(dropped.body or 0)]
        table = self.roster.tables.get(collection)
        records = [self.shaper.record(collection, row) for row in table.rows(indexes)] if table else []
        return self._page_response(request, collection, records, offset, limit, total)

    def _select(self, collection: str, filter_text: str | None):
        if filter_text is None:
            return range(self.roster.count(collection))
        match = _FILTER.match(filter_text)
        try:
            return self.roster.matching(collection, match.group(1), match.group(2))
        except (AttributeError, ValueError):  # no match, or not a DateTime
            return None

    def _page_response(
        self, request: Request, collection: str, records: list, offset: int, limit: int, total: int
    ) -> Response:
        response = Response(
            json.dumps({collection: records}, separators=(",", ":")), content_type="application/json"
        )
        if self.send_total:
            response.headers["X-Total-Count"] = str(total)
        if self.send_links and offset + limit < total:
            last = max(0, (total - 1) // limit * limit)
            response.headers["Link"] = ", ".join(
                f'<{self._link(request, limit, at)}>; rel="{rel}"'
                for rel, at in (("next", offset + limit), ("last", last))
            )
        return response

    def _link(self, request: Request, limit: int, offset: int) -> str:
        params = [(k, v) for k, v in request.args.items(multi=True) if k not in ("limit", "offset")]
        params += [("limit", str(limit)), ("offset", str(offset))]
        return f"{request.host_url.rstrip('/')}{request.path}?{urlencode(params, quote_via=quote)}"

    # -- authentication --
    def _check_auth(self, request: Request) -> str | None:
        if self.version == "1.1":
            return self._check_oauth1(request)
        return self._check_bearer(request)

    def _check_oauth1(self, request: Request) -> str | None:
        oauth = parse_oauth_header(request.headers.get("Authorization", ""))
        if oauth is None:
            return "An OAuth 1.0a Authorization header is required."
        problem = _oauth1_parameters_problem(oauth, self.client_id)
        if problem:
            return problem
        uri = base_string_uri(
            "http", request.host, request.environ.get("RAW_URI", request.path).split("?")[0]
        )
        query = parse_qsl(request.environ.get("QUERY_STRING", ""), keep_blank_values=True)
        base = signature_base_string(request.method, uri, query + list(oauth.items()))
        expected = hmac_sha256_signature(base, self.client_secret)
        if not hmac.compare_digest(expected, oauth.get("oauth_signature", "")):
            return "Invalid signature."
        with self._lock:
            nonce = (oauth["oauth_timestamp"], oauth["oauth_nonce"])
            if nonce in self._nonces:
                return "The nonce was used before."
            self._nonces.add(nonce)
        return None

    def _check_bearer(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "A bearer token is required."
        expires = self._tokens.get(token)
        if expires is None or expires < time.time():
            return "The access token is unknown or expired."
        return None

    def _token(self, request: Request) -> Response:
        number = self._next("token")
        fault = self._token_faults.get(number)
        if fault:
            return _fault_response(fault)
        if request.method != "POST":
            return _oauth_error(405, "invalid_request")
        if request.form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type")
        if not self._client_authenticated(request):
            return _oauth_error(401, "invalid_client")
        scopes = set(request.form.get("scope", "").split()) or set(SCOPES_V1P2)
        if not scopes <= SCOPES_V1P2:
            return _oauth_error(400, "invalid_scope")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.time() + self.token_lifetime
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "scope": " ".join(sorted(scopes)),
        }
        return Response(
            json.dumps(body), content_type="application/json", headers={"Cache-Control": "no-store"}
        )

    def _client_authenticated(self, request: Request) -> bool:
        auth = request.authorization
        if auth and auth.type == "basic":
            # RFC 6749 section 2.3.1: both parts are form-encoded before Basic encoding.
            client_id, secret = unquote_plus(auth.username or ""), unquote_plus(auth.password or "")
        else:
            client_id = request.form.get("client_id", "")
            secret = request.form.get("client_secret", "")
        return client_id == self.client_id and hmac.compare_digest(
            secret.encode(), self.client_secret.encode()
        )


def _oauth1_parameters_problem(oauth: dict[str, str], client_id: str) -> str | None:
    if oauth.get("oauth_consumer_key") != client_id:
        return "Unknown oauth_consumer_key."
    if oauth.get("oauth_signature_method") != "HMAC-SHA256":
        return "oauth_signature_method must be HMAC-SHA256."
    if oauth.get("oauth_version", "1.0") != "1.0":
        return "oauth_version must be 1.0."
    if not oauth.get("oauth_nonce"):
        return "oauth_nonce is missing."
    try:
        timestamp = int(oauth.get("oauth_timestamp", ""))
    except ValueError:
        return "oauth_timestamp is missing or not a number."
    if abs(time.time() - timestamp) > TIMESTAMP_WINDOW:
        return "oauth_timestamp is too far from the server's clock."
    return None


def _error(status: int, code: str, description: str) -> Response:
    body = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [
                {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": code}
            ]
        },
    }
    return Response(json.dumps(body), status=status, content_type="application/json")


def _oauth_error(status: int, error: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="oneroster"'} if status == 401 else {}
    return Response(
        json.dumps({"error": error}), status=status, content_type="application/json", headers=headers
    )


def _fault_response(fault: Fault) -> Response:
    if fault.body is not None:
        return Response(fault.body, status=fault.status or 200, content_type="text/html")
    response = _error(fault.status or 500, "server_fault", "Injected fault.")
    if fault.retry_after is not None:
        response.headers["Retry-After"] = fault.retry_after
    return response


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-") -> None:
        pass  # a benchmark makes thousands of requests; tests read api.requests instead


@contextmanager
def serve_oneroster(csv_dir, version: str = "1.1", **options) -> Iterator[OneRosterAPI]:
    """Serve ``csv_dir`` on 127.0.0.1 (a free port) for the duration of the ``with`` block.

    ``options`` set :class:`OneRosterAPI` fields (client_id, client_secret, max_limit,
    send_total, send_links, token_lifetime). The yielded object has ``base_url``,
    ``source_settings()``, the fault switches and the request log.
    """
    api = OneRosterAPI(Path(csv_dir), version, **options)
    server = make_server("127.0.0.1", 0, api, threaded=True, request_handler=_QuietHandler)
    # A short poll interval lets shutdown() return quickly at the end of each test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="oneroster-api", daemon=True)
    thread.start()
    api.base_url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
