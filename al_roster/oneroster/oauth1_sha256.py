"""OAuth 1.0a HMAC-SHA256 signatures for authlib's client.

OneRoster 1.1 REST servers (ClassLink's Roster Server among them) expect OAuth 1.0a
requests signed with HMAC-SHA256: RFC 5849 section 3.4.2 with SHA-256 in place of SHA-1
(https://www.rfc-editor.org/rfc/rfc5849#section-3.4.2). authlib ships HMAC-SHA1, RSA-SHA1
and PLAINTEXT only, so the method is registered here on its ``ClientAuth``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from authlib.oauth1 import ClientAuth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from authlib.oauth1.rfc5849.util import escape

SIGNATURE_HMAC_SHA256 = "HMAC-SHA256"


def hmac_sha256_signature(base_string: str, client_secret: str | None,
                          token_secret: str | None) -> str:
    """Sign a signature base string; the key is built exactly as for HMAC-SHA1."""
    key = escape(client_secret or "") + "&" + escape(token_secret or "")
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_hmac_sha256(client, request) -> str:
    """authlib signature hook: ``client`` is a ``ClientAuth``, ``request`` an ``OAuth1Request``."""
    base_string = generate_signature_base_string(request)
    return hmac_sha256_signature(base_string, client.client_secret, client.token_secret)


def register() -> None:
    """Make ``signature_method="HMAC-SHA256"`` available to authlib's OAuth 1 clients.

    ``SIGNATURE_METHODS`` is a class attribute shared by every ``ClientAuth`` subclass
    (``OAuth1Auth``, ``OAuth1Session``), so one registration serves them all; repeating
    it is harmless.
    """
    ClientAuth.register_signature_method(SIGNATURE_HMAC_SHA256, sign_hmac_sha256)
