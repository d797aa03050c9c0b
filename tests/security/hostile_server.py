"""A hostile OneRoster API server on loopback (127.0.0.1 only), written raw by each test.

A district controls its own API server, so the pull must survive whatever one sends. Each
test passes ``answer(request, reply)``: ``reply`` writes the status line, headers and body
exactly as the test says, as slowly or as endlessly as it likes, until the client hangs up
or the server stops. Every request is kept in ``server.requests``.
"""
from __future__ import annotations

import contextlib
import json
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit


class Gone(Exception):
    """The client hung up, or the server is stopping."""


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))


@dataclass
class Reply:
    """Writes one answer on the connection; ``sent`` counts the body bytes written."""

    wfile: object
    stopping: threading.Event
    sent: int = 0

    def head(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} Hostile", "Connection: close",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        self.raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def raw(self, data: bytes) -> None:
        if self.stopping.is_set():
            raise Gone
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            raise Gone from None

    def body(self, data: bytes) -> None:
        self.raw(data)
        self.sent += len(data)

    def chunk(self, data: bytes) -> None:
        self.raw(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.sent += len(data)

    def json(self, obj, status: int = 200, headers: dict[str, str] | None = None) -> None:
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.head(status, {"Content-Type": "application/json",
                           "Content-Length": str(len(data)), **(headers or {})})
        self.body(data)

    def wait(self, seconds: float) -> None:
        if self.stopping.wait(seconds):
            raise Gone


@dataclass
class HostileServer:
    answer: Callable[[Seen, Reply], None]
    base_url: str = ""
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def data_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path != "/token"]


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        hostile = self.server.hostile
        try:
            seen = self._read_request()
            if seen is None:
                return
            hostile.requests.append(seen)
            reply = Reply(self.wfile, hostile.stopping)
            hostile.replies.append(reply)
            hostile.answer(seen, reply)
        except (Gone, OSError):
            pass  # the client stopped listening: that is what the tests want

    def _read_request(self) -> Seen | None:
        line = self.rfile.readline(65536).decode("latin-1").strip()
        if not line:
            return None
        method, target, _ = line.split(" ", 2)
        headers = {}
        while True:
            header = self.rfile.readline(65536).decode("latin-1").strip()
            if not header:
                break
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        return Seen(method, target, headers, self.rfile.read(min(length, 1 << 20)))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    hostile: HostileServer
    tls: ssl.SSLContext | None = None

    def get_request(self):
        sock, address = super().get_request()
        if self.tls is None:
            return sock, address
        sock.settimeout(5)
        try:
            return self.tls.wrap_socket(sock, server_side=True), address
        except (ssl.SSLError, OSError):
            sock.close()  # the client refused our certificate: nothing to serve
            raise


@contextlib.contextmanager
def hostile_server(answer: Callable[[Seen, Reply], None], *,
                   tls: ssl.SSLContext | None = None) -> Iterator[HostileServer]:
    """Serves ``answer`` on 127.0.0.1 (a free port) for the ``with`` block; over TLS with
    ``tls`` (a server-side context), then ``base_url`` still says http: tests set their own."""
    hostile = HostileServer(answer)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.hostile, server.tls = hostile, tls
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="hostile-api", daemon=True)
    thread.start()
    hostile.port = server.server_address[1]
    hostile.base_url = f"http://127.0.0.1:{hostile.port}"
    try:
        yield hostile
    finally:
        hostile.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def orgs(start: int, count: int) -> list[dict]:
    """``count`` well-formed orgs numbered from ``start``."""
    return [{"sourcedId": f"org-{i}", "status": "active", "name": f"School {i}",
             "type": "school"} for i in range(start, start + count)]


def next_link(base_url: str, seen: Seen, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f'<{base_url}{seen.path}?{query}>; rel="next"'


def good_token(seen: Seen, reply: Reply) -> None:
    reply.json({"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600})
