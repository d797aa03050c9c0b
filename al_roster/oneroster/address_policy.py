"""Where a district's OneRoster API source may send requests, and connections that go there.

Staff set a source's URLs, but the server behind them is the district's, and so is the DNS
that resolves its name. Unchecked, a URL (or a name that resolves "inside") would have the
worker send credentials to, or read from, loopback services, the private network or a cloud
metadata address. The rule:

- a URL is ``https`` with a host name or public address, no user name or password in it;
- its name must resolve only to public unicast addresses: never loopback, private (RFC 1918,
  unique local), shared (RFC 6598), link-local (cloud metadata lives there), multicast,
  reserved, documentation or unspecified addresses, IPv4 or IPv6, nor an IPv6 address that
  embeds such an IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64);
- a host the operator lists in ``allowed_hosts`` (``name`` for every port, ``name:port``,
  ``[v6]:port``) may use plain http and any address: a test server, or a server on the
  district network the operator vouches for.

The name is resolved once for each connection, every address is checked, and the socket
is connected to a checked address, so a second DNS answer cannot slip in between the check
and the connection (DNS rebinding). The connection keeps the host name for everything
else: TLS server name (SNI), the certificate's host name check and the Host header.
"""
from __future__ import annotations

import socket
import sys
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from al_roster.errors import SourceError

ALLOWED_HOSTS_SETTING = "AL_ROSTER_SOURCE_ALLOWED_HOSTS"
_NAT64 = IPv6Network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_allowed_hosts(value: str | Iterable[str] | None) -> frozenset[str]:
    """``"a.example, b.example:8443, [fd00::5]:443"`` (or a list of them), normalised."""
    if not value:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(item.strip().lower() for item in items if item and item.strip())


def is_allowed(host: str, port: int, allowed: frozenset[str]) -> bool:
    """Whether the operator listed ``host`` (any port) or ``host:port``."""
    host = host.lower().rstrip(".")
    shown = f"[{host}]" if ":" in host else host
    return bool({host, shown, f"{shown}:{port}"} & allowed)


def forbidden_reason(address: str) -> str | None:
    """Why ``address`` is no place for a source to be, or None for a public unicast one."""
    ip = ip_address(address.split("%", 1)[0])
    if isinstance(ip, IPv6Address):
        for embedded in _embedded_ipv4(ip):
            reason = forbidden_reason(str(embedded))
            if reason:
                return f"{reason}, inside an IPv6 address"
    for reason, applies in (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
                            ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                            ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if applies:
            return reason
    if not ip.is_global:
        return "not globally routable"
    return None


def _embedded_ipv4(ip: IPv6Address) -> list[IPv4Address]:
    found = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    if ip in _NAT64:
        found.append(IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in found if address is not None]


def check_url(url: str, allowed: frozenset[str]) -> None:
    """Refuses, before any request, a URL the rule above can already tell is not allowed:
    not https, an address literal that is not public, a name such as ``localhost``."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in _DEFAULT_PORTS or not host:
        raise SourceError(f"{url!r} is not an https address of a server.")
    if parts.username is not None or parts.password is not None:
        raise SourceError(f"{parts.scheme}://{parts.hostname}/...: a source's URL may not "
                          "carry a user name or password; the client id and secret say who "
                          "we are.")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise SourceError(f"{url!r} has a port that is not a number.") from None
    if is_allowed(host, port, allowed):
        return
    if parts.scheme != "https":
        raise SourceError(f"{url} is not an https address; credentials would travel in clear "
                          f"text. Use https, or list {_show_host(host, port)} in "
                          f"{ALLOWED_HOSTS_SETTING}.")
    reason = _literal_reason(host)
    if reason:
        raise SourceError(f"{url}: {host} is not a public address ({reason}). A source must "
                          f"be a server on the internet, or be listed in "
                          f"{ALLOWED_HOSTS_SETTING}.")


def _literal_reason(host: str) -> str | None:
    host = host.rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    try:
        return forbidden_reason(host)
    except ValueError:
        return None  # a name: checked when it is resolved


def _show_host(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def resolve(host: str, port: int) -> list[tuple]:
    """The addresses to try for ``host``, as :func:`socket.getaddrinfo` gives them."""
    family = urllib3_connection.allowed_gai_family()
    return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)


def checked_addresses(host: str, port: int, allowed: frozenset[str]) -> list[tuple]:
    """``host`` resolved once; raises SourceError if any of its addresses is not public
    (unless the host is allowed)."""
    infos = resolve(host, port)
    host = host.rstrip(".")
    if is_allowed(host, port, allowed):
        return infos
    for info in infos:
        address = info[4][0]
        reason = forbidden_reason(address)
        if reason:
            raise SourceError(f"{host} resolves to {address}, which is not a public address "
                              f"({reason}); nothing was sent to it. A source must be a server "
                              f"on the internet, or be listed in {ALLOWED_HOSTS_SETTING}.")
    return infos


class _Pinned:
    """An urllib3 connection that connects to the address it checked (see the module doc)."""

    allowed_hosts: frozenset[str] = frozenset()
    watch = None  # a http_bounds.PageWatch, which may cut the connection when time is up

    def _new_conn(self) -> socket.socket:
        try:
            infos = checked_addresses(self._dns_host, self.port, self.allowed_hosts)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        sock = self._connect(infos)
        sys.audit("http.client.connect", self, self.host, self.port)
        if self.watch is not None:
            self.watch.track(self, sock)
        return sock

    def _connect(self, infos: list[tuple]) -> socket.socket:
        """The first of the checked addresses that answers, as urllib3 would try them."""
        error: OSError | None = None
        for _, _, _, _, sockaddr in infos:
            try:
                # A numeric address: create_connection resolves nothing more.
                return urllib3_connection.create_connection(
                    (sockaddr[0], self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except OSError as exc:
                error = exc
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                            f"(connect timeout={self.timeout})") from error
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


def pinned_pool_classes(allowed: frozenset[str], watch=None) -> dict[str, type]:
    """urllib3 pool classes, by scheme, whose connections follow the rule above."""
    settings = {"allowed_hosts": allowed, "watch": watch}
    http = type("PinnedHTTPConnection", (_Pinned, HTTPConnection), settings)
    https = type("PinnedHTTPSConnection", (_Pinned, HTTPSConnection), settings)
    return {"http": type("PinnedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("PinnedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https})}
