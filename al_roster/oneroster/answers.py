"""Reading what a district's OneRoster API server answers, without trusting any of it.

- :func:`read_body`: a body streamed within a byte cap, on the wire and decompressed (gzip
  and deflate unpacked here in bounded steps, so a gzip bomb never unpacks);
- :func:`parse_json`: UTF-8 JSON, refused (not crashed on) when nested beyond the parser;
- :func:`check_token_response`: an OAuth 2 token answer we can use (a printable bearer
  token, a finite lifetime), checked before authlib reads it;
- :func:`clean`, :func:`excerpt`, :func:`show_url`: the server's words as a run message
  may show them: one line, no control characters, short.
"""
from __future__ import annotations

import json
import math
import unicodedata
import zlib
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import requests
from urllib3.exceptions import ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError

from al_roster.errors import SourceError

MB = 1024 * 1024
#: Bytes asked of the socket at a time while a body streams in.
CHUNK = 64 * 1024


def size_text(count: int) -> str:
    for unit, size in (("GB", 1024 * MB), ("MB", MB), ("KB", 1024)):
        if count >= size:
            return f"{count / size:g} {unit}"
    return f"{count} bytes"


# -- bodies -------------------------------------------------------------------------------

def read_body(response: requests.Response, cap: int, what: str) -> bytes:
    """The body, decompressed; refused as soon as it is more than ``cap`` bytes either on
    the wire or decompressed."""
    announced = response.headers.get("Content-Length", "").strip()
    if announced.isdigit() and int(announced) > cap:
        raise SourceError(f"{what}: the answer announces {int(announced)} bytes, more than "
                          f"{size_text(cap)} a response may have (AL_ROSTER_PULL_MAX_RESPONSE_BYTES)"
                          "; it was not read.")
    decoder = _decoder(response.headers.get("Content-Encoding", ""), what)
    out, wire = bytearray(), 0
    while True:
        chunk = _read(response.raw)
        if not chunk:
            break
        wire += len(chunk)
        if wire > cap:
            raise SourceError(f"{what}: the answer is more than {size_text(cap)} "
                              "(AL_ROSTER_PULL_MAX_RESPONSE_BYTES); the rest was not read.")
        decoder(chunk, out, cap, what)
    decoder(b"", out, cap, what)
    return bytes(out)


def _read(raw) -> bytes:
    try:
        return raw.read(CHUNK, decode_content=False)
    except ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc) from None
    except (ProtocolError, Urllib3SSLError, OSError) as exc:
        raise requests.exceptions.ConnectionError(exc) from None


def _decoder(encoding: str, what: str):
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return _plain
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflate(codings[0])
    raise SourceError(f"{what}: the answer is encoded as {clean(encoding)[:60]!r}, which was not "
                      "asked for (gzip or deflate only).")


def _plain(chunk: bytes, out: bytearray, cap: int, what: str) -> None:
    out += chunk


class _Inflate:
    """gzip or deflate, decompressed at most ``cap`` bytes at a time."""

    def __init__(self, coding: str):
        self.coding = coding
        # deflate: zlib-wrapped as RFC 9110 says, raw deflate as some servers send it.
        self.inflater = zlib.decompressobj(31 if "gzip" in coding else 15)
        self.started = False

    def __call__(self, chunk: bytes, out: bytearray, cap: int, what: str) -> None:
        try:
            if not chunk:
                out += self.inflater.flush()
                if not self.inflater.eof and self.started:
                    raise SourceError(f"{what}: the {self.coding} body was cut short.")
                self._check(out, cap, what)
                return
            data = chunk
            while data:
                out += self._inflate(data, cap - len(out) + 1)
                self._check(out, cap, what)
                data = self.inflater.unconsumed_tail
                if self.inflater.eof:
                    break
        except zlib.error:
            raise SourceError(f"{what}: the {self.coding} body is corrupt.") from None

    def _inflate(self, data: bytes, room: int) -> bytes:
        if not self.started and self.coding == "deflate":
            self.started = True
            try:
                return self.inflater.decompress(data, room)
            except zlib.error:
                self.inflater = zlib.decompressobj(-15)
        self.started = True
        return self.inflater.decompress(data, room)

    @staticmethod
    def _check(out: bytearray, cap: int, what: str) -> None:
        if len(out) > cap:
            raise SourceError(f"{what}: the answer is more than {size_text(cap)} once decompressed "
                              "(AL_ROSTER_PULL_MAX_RESPONSE_BYTES); the rest was not unpacked.")


def parse_json(body: bytes, what: str, max_values: int | None = None):
    """JSON from a server's body. ValueError when it is not UTF-8 JSON; SourceError when it
    is nested deeper than Python's parser goes, or holds more than ``max_values`` values
    (objects, arrays and list or object items, counted from the body's ``{``, ``[`` and
    ``,``, over and never under): parsed, each costs up to some 70 bytes, so a body of
    nothing but ``{},`` would take 25 times its size in memory. OneRoster pages hold one
    value for every 20 to 25 bytes."""
    if max_values is not None and (
            body.count(b",") + body.count(b"{") + body.count(b"[") > max_values):
        raise SourceError(f"{what}: the answer holds more than {max_values} JSON values, far "
                          "more than records of its size need; it was not parsed.")
    text = body.decode("utf-8-sig")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise SourceError(f"{what}: the JSON is nested too deeply to be OneRoster data.") \
            from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


# -- the 1.2 token answer ----------------------------------------------------------------------

def check_token_response(response: requests.Response) -> requests.Response:
    """An authlib ``access_token_response`` hook: a 200 answer must be a token we can use."""
    if response.status_code != 200:
        return response  # errors are reported from the status
    what = f"POST {show_url(response.url)}"
    try:
        token = parse_json(response.content, what)
    except ValueError:
        raise SourceError(f"{what} did not return JSON: {excerpt(response.content)}") from None
    if not isinstance(token, dict):
        raise SourceError(f"{what} returned JSON that is not an object.")
    if "error" in token:
        return response
    access = token.get("access_token")
    if not (isinstance(access, str) and 0 < len(access) <= 8192 and access.isascii()
            and access.isprintable() and " " not in access):
        raise SourceError(f"{what} answered without a usable access_token.")
    kind = token.get("token_type")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise SourceError(f"{what} issued a {clean(str(kind))[:40]!r} token; only Bearer tokens "
                          "can be used.")
    for key in ("expires_in", "expires_at"):
        if token.get(key) is not None and not _seconds(token[key]):
            raise SourceError(f"{what}: {key} is not a usable number of seconds "
                              f"({clean(repr(token[key]))[:40]}).")
    return response


def _seconds(value) -> bool:
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return math.isfinite(number) and 0 <= number < 1e11


# -- what a server says, as a message may show it ------------------------------------------

def clean(text: str) -> str:
    """``text`` on one line without control, format or surrogate characters."""
    return " ".join("".join(" " if unicodedata.category(ch)[0] == "C" else ch
                            for ch in text).split())


def excerpt(body: bytes, redact: Callable[[str], str] = str, limit: int = 200) -> str:
    """The start of a server's body for a message: cleaned, secrets redacted, short."""
    text = redact(clean(body[: limit * 8].decode("utf-8", "replace")))
    return text[:limit] or "(empty body)"


def show_url(url: str) -> str:
    """The URL as a support engineer wants it in a message: path and query, decoded."""
    parts = urlsplit(url)
    query = "&".join(f"{k}={v}" for k, v in parse_qsl(parts.query, keep_blank_values=True))
    return clean(parts.path + (f"?{query}" if query else ""))


def tls_reason(exc: Exception) -> str:
    """The part of a TLS failure that says what went wrong (the certificate, usually)."""
    reason = str(exc)
    for marker in ("certificate verify failed", "CERTIFICATE_VERIFY_FAILED", "SSL:"):
        if marker in reason:
            reason = reason[reason.index(marker):]
            break
    return clean(reason)[:200]
