"""A ClassLink-like OpenID Connect provider on loopback, for tests.

The provider itself is the npm package ``oidc-provider`` run by Node (see
``oidc/server.js``); this module installs its dependencies when they are
missing, starts it on 127.0.0.1 on a free port, and drives its sign-in pages
with a ``requests.Session`` the way a browser would.

    with run_oidc_provider(["http://127.0.0.1:5000/sso/callback"], accounts) as op:
        ...  # configure the app with op.metadata_url, op.client_id, op.client_secret
        callback_url = complete_login(session, response_from_app_login, "cl-1001")
        session.get(callback_url)  # the app exchanges the code

An account is a dict with ``sub`` (also the login name typed on the provider's
sign-in page), the OpenID claims ``email``, ``given_name``, ``family_name``,
``name`` (and any other claims), and optionally ``info``: the fields of
ClassLink's ``GET /v2/my/info`` answer (UserId, TenantId, SourcedId, Role,
LoginId, Email, FirstName, LastName, DisplayName, BuildingId). Missing info
fields are derived from the claims, see :func:`account_info`.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

OIDC_DIR = Path(__file__).resolve().parent / "oidc"

DEFAULT_CLIENT_ID = "al-roster-test"
DEFAULT_CLIENT_SECRET = "al-roster-test-secret-0123456789abcdef"

#: Keys of ClassLink's /v2/my/info answer, in ClassLink's order.
INFO_FIELDS = (
    "UserId",
    "TenantId",
    "SourcedId",
    "Role",
    "LoginId",
    "Email",
    "FirstName",
    "LastName",
    "DisplayName",
    "BuildingId",
)

_READY_PREFIX = "OIDC_PEER_READY "
_installed = False


class OidcPeerError(RuntimeError):
    """The provider could not be installed or started, or a sign-in page went wrong."""


def node_missing_reason() -> str | None:
    """Why the provider cannot run here (no node or npm on PATH), or None."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH (the OIDC test provider runs on Node)"
    return None


def require_node() -> None:
    """Skip the calling test when Node or npm is missing, but fail when CI is "true"."""
    import pytest

    reason = node_missing_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must provide them")
    pytest.skip(reason)


def ensure_node_modules() -> None:
    """Run ``npm ci`` in the provider's folder unless the pinned oidc-provider is installed."""
    global _installed
    if _installed:
        return
    lock_path = Path(tempfile.gettempdir()) / "al-roster-oidc-peer-npm.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _node_modules_current():
                npm = shutil.which("npm")
                if npm is None:
                    raise OidcPeerError(node_missing_reason() or "npm not found")
                done = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund"],
                    cwd=OIDC_DIR,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
                if done.returncode != 0 or not _node_modules_current():
                    raise OidcPeerError(
                        f"npm ci failed in {OIDC_DIR.name}/ ({done.returncode}):\n"
                        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
                    )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _installed = True


def _node_modules_current() -> bool:
    wanted = json.loads((OIDC_DIR / "package.json").read_text())["dependencies"]["oidc-provider"]
    installed = OIDC_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not installed.exists():
        return False
    return json.loads(installed.read_text()).get("version") == wanted


def account_info(account: Mapping[str, Any]) -> dict[str, Any]:
    """The /v2/my/info JSON the provider serves for ``account``.

    Fields given in ``account["info"]`` win; the others are derived: UserId from
    ``sub`` (its value if numeric, else a stable number), TenantId 1, SourcedId
    ``sub``, Role "Student", LoginId and Email the email, FirstName, LastName and
    DisplayName from given_name, family_name and name, BuildingId 0.
    """
    sub = str(account["sub"])
    given = account.get("given_name", "")
    family = account.get("family_name", "")
    email = account.get("email", "")
    derived = {
        "UserId": int(sub) if sub.isdigit() else zlib.crc32(sub.encode()) % 10_000_000,
        "TenantId": 1,
        "SourcedId": sub,
        "Role": "Student",
        "LoginId": email or sub,
        "Email": email,
        "FirstName": given,
        "LastName": family,
        "DisplayName": account.get("name") or f"{given} {family}".strip(),
        "BuildingId": 0,
    }
    given_info = dict(account.get("info") or {})
    info = {key: given_info.pop(key, derived[key]) for key in INFO_FIELDS}
    info.update(given_info)
    return info


def _normalize_account(account: Mapping[str, Any]) -> dict[str, Any]:
    if not account.get("sub"):
        raise ValueError(f"account without sub: {account!r}")
    claims = {key: value for key, value in account.items() if key != "info"}
    claims["sub"] = str(claims["sub"])
    if "name" not in claims and ("given_name" in claims or "family_name" in claims):
        claims["name"] = f"{claims.get('given_name', '')} {claims.get('family_name', '')}".strip()
    if "email" in claims:
        claims.setdefault("email_verified", True)
    return {
        "claims": claims,
        "info": account_info(claims | {"info": account.get("info")}),
    }


@dataclass
class OidcProvider:
    """A running provider, as yielded by :func:`run_oidc_provider`."""

    issuer: str
    # /.well-known/openid-configuration, for authlib's server_metadata_url
    metadata_url: str
    userinfo_url: str  # ClassLink's GET /v2/my/info (bearer access token)
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    oidc_userinfo_url: str  # the standard OpenID Connect userinfo endpoint
    accounts: dict[str, dict[str, Any]] = field(repr=False)  # sub -> {"claims", "info"}
    _admin_token: str = field(repr=False, default="")

    def info_for(self, account_id: str) -> dict[str, Any]:
        """The /v2/my/info JSON served for this account."""
        return copy.deepcopy(self.accounts[account_id]["info"])

    def claims_for(self, account_id: str) -> dict[str, Any]:
        """The account's OpenID claims (the id_token carries those of the granted scopes)."""
        return copy.deepcopy(self.accounts[account_id]["claims"])

    def set_account(self, account: Mapping[str, Any]) -> None:
        """Add or replace an account while the provider runs (e.g. a changed SourcedId)."""
        normalized = _normalize_account(account)
        sub = normalized["claims"]["sub"]
        self._admin("PUT", f"/__peer/accounts/{quote(sub, safe='')}", normalized)
        self.accounts[sub] = normalized

    def remove_account(self, account_id: str) -> None:
        """Remove an account: its tokens stop working at /v2/my/info."""
        self._admin("DELETE", f"/__peer/accounts/{quote(account_id, safe='')}")
        self.accounts.pop(account_id, None)

    def set_redirect_uris(self, redirect_uris: Iterable[str]) -> None:
        """Replace the client's registered redirect URIs."""
        uris = list(redirect_uris)
        self._admin("PUT", "/__peer/client", {"redirect_uris": uris})
        self.redirect_uris = uris

    def complete_login(
        self,
        session: requests.Session,
        start: str | requests.Response,
        account_id: str,
        **kwargs: Any,
    ) -> str:
        """:func:`complete_login` for this provider."""
        return complete_login(session, start, account_id, **kwargs)

    def _admin(self, method: str, path: str, body: Any = None) -> None:
        response = requests.request(
            method,
            self.issuer + path,
            json=body,
            headers={"X-Peer-Admin": self._admin_token},
            timeout=10,
        )
        if response.status_code != 200:
            raise OidcPeerError(f"{method} {path}: {response.status_code} {response.text}")


@contextlib.contextmanager
def run_oidc_provider(
    redirect_uris: Iterable[str],
    accounts: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]],
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    *,
    token_endpoint_auth_method: str = "client_secret_basic",
    ttl: Mapping[str, int] | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[OidcProvider]:
    """Run the provider on 127.0.0.1 (a free port) for the duration of the block.

    ``accounts`` is a list of account dicts (see the module docstring) or a
    mapping whose values are account dicts. ``token_endpoint_auth_method`` is the
    client's (client_secret_basic or client_secret_post). ``ttl`` overrides
    lifetimes in seconds by oidc-provider model name (AuthorizationCode: 300,
    AccessToken: 3600, IdToken: 3600, ...).
    """
    reason = node_missing_reason()
    if reason:
        raise OidcPeerError(reason)
    ensure_node_modules()

    account_list = list(accounts.values()) if isinstance(accounts, Mapping) else list(accounts)
    normalized = {}
    for account in account_list:
        entry = _normalize_account(account)
        normalized[entry["claims"]["sub"]] = entry
    admin_token = secrets.token_urlsafe(24)
    config = {
        "host": "127.0.0.1",
        "port": 0,
        "client": {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uris": list(redirect_uris),
            "token_endpoint_auth_method": token_endpoint_auth_method,
        },
        "accounts": normalized,
        "admin_token": admin_token,
        "cookie_keys": [secrets.token_urlsafe(32)],
        "ttl": dict(ttl or {}),
        "parent_pid": os.getpid(),
    }

    with tempfile.TemporaryDirectory(prefix="oidc-peer-") as workdir:
        config_path = Path(workdir) / "config.json"
        config_path.write_text(json.dumps(config))
        log_path = Path(workdir) / "provider.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [shutil.which("node") or "node", "server.js", str(config_path)],
                cwd=OIDC_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            ready = _wait_ready(process, log_path, startup_timeout)
            issuer = ready["issuer"]
            metadata_url = issuer + "/.well-known/openid-configuration"
            metadata = _wait_discovery(process, metadata_url, log_path, startup_timeout)
            yield OidcProvider(
                issuer=issuer,
                metadata_url=metadata_url,
                userinfo_url=issuer + "/v2/my/info",
                client_id=client_id,
                client_secret=client_secret,
                redirect_uris=list(redirect_uris),
                authorization_endpoint=metadata["authorization_endpoint"],
                token_endpoint=metadata["token_endpoint"],
                jwks_uri=metadata["jwks_uri"],
                oidc_userinfo_url=metadata["userinfo_endpoint"],
                accounts=normalized,
                _admin_token=admin_token,
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_ready(process: subprocess.Popen, log_path: Path, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith(_READY_PREFIX):
                return json.loads(line[len(_READY_PREFIX) :])
        if process.poll() is not None:
            raise OidcPeerError(
                f"the OIDC provider exited ({process.returncode}):\n{log_path.read_text(errors='replace')}"
            )
        time.sleep(0.05)
    raise OidcPeerError(
        f"the OIDC provider did not start in {timeout}s:\n{log_path.read_text(errors='replace')}"
    )


def _wait_discovery(process: subprocess.Popen, url: str, log_path: Path, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            response = requests.get(url, timeout=5)
            if response.status_code == 200:
                return response.json()
            last_error = OidcPeerError(f"{response.status_code} {response.text[:500]}")
        except requests.RequestException as error:
            last_error = error
        time.sleep(0.05)
    raise OidcPeerError(
        f"discovery at {url} did not answer: {last_error}\n{log_path.read_text(errors='replace')}"
    )


class _Forms(HTMLParser):
    """The forms (action, method, inputs) and links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.links: list[str] = []
        self._form: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = {
                "action": attributes.get("action", ""),
                "method": attributes.get("method", "get").lower(),
                "fields": {},
            }
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and attributes.get("name"):
            self._form["fields"][attributes["name"]] = attributes.get("value", "")
        elif tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def complete_login(
    session: requests.Session,
    authorize_response_or_url: str | requests.Response,
    account_id: str,
    *,
    password: str = "password",
    consent: bool = True,
    max_steps: int = 20,
) -> str:
    """Sign in as ``account_id`` on the provider's pages and consent, like a browser.

    ``authorize_response_or_url`` is the authorization URL (with the client's
    state, nonce and PKCE challenge), or the app's response that redirects to it
    (not followed), or a response that already landed on a provider page.
    Cookies go through ``session``. Returns the URL the provider finally
    redirects to, the client's redirect_uri with ``code`` and ``state`` (or
    ``error``), without requesting it: the test requests it, or replays or
    alters it. ``consent=False`` cancels at the consent page instead (the
    callback then carries ``error=access_denied``).
    """
    response: requests.Response | None = None
    if isinstance(authorize_response_or_url, requests.Response):
        start = authorize_response_or_url
        if start.is_redirect:
            url = urljoin(start.url, start.headers["Location"])
        else:
            response, url = start, start.url
    else:
        url = authorize_response_or_url
    provider = _origin(url)

    for _ in range(max_steps):
        if response is None:
            response = session.get(url, allow_redirects=False, timeout=10)
        if response.is_redirect:
            url = urljoin(response.url, response.headers["Location"])
            if _origin(url) != provider:
                return url
            response = None
            continue
        if response.status_code != 200:
            raise OidcPeerError(
                f"provider answered {response.status_code} at {response.url}:\n{response.text[:2000]}"
            )
        page = _Forms()
        page.feed(response.text)
        form = next((f for f in page.forms if "prompt" in f["fields"]), None)
        if form is None:
            if page.forms and _origin(urljoin(response.url, page.forms[0]["action"])) != provider:
                raise OidcPeerError("response_mode=form_post is not supported; use query")
            raise OidcPeerError(f"no sign-in form at {response.url}:\n{response.text[:2000]}")
        fields = dict(form["fields"])
        if fields["prompt"] == "login":
            fields.update(login=account_id, password=password)
        elif fields["prompt"] == "consent" and not consent:
            abort = next(
                (link for link in page.links if link.rstrip("/").endswith("/abort")),
                None,
            )
            if abort is None:
                raise OidcPeerError(f"no cancel link at {response.url}")
            url, response = urljoin(response.url, abort), None
            continue
        action = urljoin(response.url, form["action"])
        response = session.post(action, data=fields, allow_redirects=False, timeout=10)
    raise OidcPeerError(f"sign-in did not reach the client within {max_steps} steps")
