"""A TCP proxy on loopback that can pass, hang or drop connections, for fault tests.

Put it in front of a peer (the OpenID provider, an LTI platform, PostgreSQL) and point the
app at the proxy's port instead of the peer's:

    with tcp_proxy(("127.0.0.1", peer_port)) as proxy:
        app.config[...] = f"http://127.0.0.1:{proxy.port}/..."
        proxy.hang()    # new connections are accepted and never answered
        proxy.drop()    # every connection (open ones too) is cut; new ones are closed at once
        proxy.pass_()   # back to forwarding bytes both ways

``target`` may be set after the proxy started (a peer whose address must name the proxy:
start the proxy, then the peer, then set ``proxy.target``). Only 127.0.0.1 is listened on
and only loopback targets are accepted.

``hang(when=...)`` and ``drop(when=...)`` take byte strings: then only connections whose
first bytes (an HTTP request line: ``b"GET /jwks"``) hold one of them are hung or dropped,
and the others pass. ``first_lines`` records the first line each connection sent, so a test
can count the requests a peer was sent (``proxy.count(b"/.well-known/")``).
"""
from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator

PASS, HANG, DROP = "pass", "hang", "drop"


class TcpProxy:
    def __init__(self, target: tuple[str, int] | None = None):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.mode = PASS
        self.when: tuple[bytes, ...] = ()  # empty: the mode applies to every connection
        self.first_lines: list[bytes] = []
        self._target: tuple[str, int] | None = None
        self.target = target
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self.accepted = 0  # connections accepted so far, whatever the mode
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def target(self) -> tuple[str, int] | None:
        return self._target

    @target.setter
    def target(self, value: tuple[str, int] | None) -> None:
        if value is not None and value[0] not in ("127.0.0.1", "localhost"):
            raise ValueError("the fault proxy forwards to loopback only")
        self._target = value

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- modes ------------------------------------------------------------------------------

    def pass_(self) -> None:
        self.mode, self.when = PASS, ()

    def hang(self, when: tuple[bytes, ...] | bytes = ()) -> None:
        """New connections are accepted, read from and never answered (open ones go on)."""
        self.when = (when,) if isinstance(when, bytes) else tuple(when)
        self.mode = HANG

    def drop(self, when: tuple[bytes, ...] | bytes = ()) -> None:
        """Cuts every open connection and closes new ones as soon as they arrive; with
        ``when``, only new connections whose first bytes hold one of those."""
        self.when = (when,) if isinstance(when, bytes) else tuple(when)
        self.mode = DROP
        if not self.when:
            self._close_all()

    def count(self, fragment: bytes) -> int:
        """How many connections so far opened with a first line holding ``fragment``."""
        return sum(fragment in line for line in list(self.first_lines))

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self._close_all()

    # -- the loop -----------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            mode, when = self.mode, self.when
            if (mode == DROP and not when) or self._target is None:
                _cut(client)
                continue
            self._track(client)
            threading.Thread(target=self._handle, args=(client, mode, when),
                             daemon=True).start()

    def _handle(self, client: socket.socket, mode: str, when: tuple[bytes, ...]) -> None:
        try:  # every connection's first line is recorded (clients here speak first)
            client.settimeout(5)
            first = client.recv(65536)
            client.settimeout(None)
        except OSError:
            self._forget(client)
            return
        self.first_lines.append(first.split(b"\r\n", 1)[0])
        applies = mode != PASS and (not when or any(w in first for w in when))
        if applies and mode == DROP:
            self._forget(client)
        elif applies:
            self._hold(client)
        else:
            self._forward(client, first)

    def _hold(self, client: socket.socket) -> None:
        """Reads whatever comes and answers nothing until the connection or proxy ends."""
        try:
            while not self._stopping.is_set():
                ready, _, _ = select.select([client], [], [], 0.1)
                if ready and not client.recv(65536):
                    break
        except OSError:
            pass
        finally:
            self._forget(client)

    def _forward(self, client: socket.socket, first: bytes = b"") -> None:
        try:
            upstream = socket.create_connection(self._target, timeout=5)
            upstream.settimeout(None)
            if first:
                upstream.sendall(first)
        except OSError:
            self._forget(client)
            return
        self._track(upstream)
        pair = {client: upstream, upstream: client}
        try:
            while not self._stopping.is_set():
                ready, _, _ = select.select(list(pair), [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except OSError:
            pass
        finally:
            self._forget(client)
            self._forget(upstream)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        _cut(sock)

    def _close_all(self) -> None:
        with self._lock:
            socks, self._open = list(self._open), set()
        for sock in socks:
            _cut(sock)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def tcp_proxy(target: tuple[str, int] | None = None) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target)
    try:
        yield proxy
    finally:
        proxy.close()
