"""The LTI tool's private keys are stored encrypted (Fernet, from ``cryptography``).

The secret is AL_ROSTER_LTI_KEY_SECRET: one Fernet key, or several separated by commas,
newest first. Keys are encrypted with the first and decrypted with any, so a new secret is
put in front, ``al-roster lti reseal-keys`` re-encrypts every stored key with it, and the old
one can then be dropped. Make a secret with::

    python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"

Without the setting, an app in debug or testing mode (the ``make run`` demo, the tests) uses
a development secret it generates once in its storage folder, and logs a warning; any other
app refuses to make or use a tool key (:class:`ConfigurationError` naming the setting).

A key stored before encryption (clear PEM, an upgrade run without the secret) is still read,
and is encrypted the first time the app uses it with a secret.
"""
from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ..errors import ConfigurationError

log = logging.getLogger(__name__)

SECRET_SETTING = "AL_ROSTER_LTI_KEY_SECRET"
MAKE_ONE = ('python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"')
CLEAR_PREFIX = "-----BEGIN"
DEV_SECRET_FILE = "lti-key-secret.dev"

_warned: set[str] = set()


class KeyCipher:
    """Encrypts with the newest secret, decrypts with any of them."""

    def __init__(self, keys: list[bytes]):
        self.newest = Fernet(keys[0])
        self.any = MultiFernet([Fernet(k) for k in keys])

    def seal(self, pem: str) -> str:
        return self.newest.encrypt(pem.encode("ascii")).decode("ascii")

    def unseal(self, stored: str, kid: str = "") -> str:
        if is_clear(stored):
            return stored
        try:
            return self.any.decrypt(stored.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise ConfigurationError(
                f"The LTI tool key {kid} cannot be decrypted with {SECRET_SETTING}: it was "
                "encrypted with a secret that is not in the list. Put the old secret back, "
                "after the new one (comma-separated, newest first).") from None

    def is_sealed_with_newest(self, stored: str) -> bool:
        if is_clear(stored):
            return False
        try:
            self.newest.decrypt(stored.encode("ascii"))
        except InvalidToken:
            return False
        return True


def is_clear(stored: str) -> bool:
    return stored.lstrip().startswith(CLEAR_PREFIX)


def parse_secret(value: str) -> KeyCipher:
    """``value``: Fernet keys separated by commas, newest first."""
    keys = [part.strip().encode("ascii", "replace") for part in value.split(",") if part.strip()]
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigurationError(
                f"{SECRET_SETTING} must be one or more Fernet keys separated by commas, "
                f"newest first; entry {number} is not one. Make one with: {MAKE_ONE}") from None
    if not keys:
        raise ConfigurationError(f"{SECRET_SETTING} is empty. Make a secret with: {MAKE_ONE}")
    return KeyCipher(keys)


def configured_cipher(config: Mapping) -> KeyCipher | None:
    """The cipher of the configured secret, or None when there is none."""
    value = config.get(SECRET_SETTING)
    return parse_secret(str(value)) if value else None


def key_cipher(app=None) -> KeyCipher:
    """The cipher for this app's tool keys (see the module docstring)."""
    if app is None:
        from flask import current_app
        app = current_app
    cipher = configured_cipher(app.config)
    if cipher is not None:
        return cipher
    if app.debug or app.testing:
        return KeyCipher([_development_secret(app)])
    raise ConfigurationError(
        f"The LTI tool's private keys are stored encrypted with {SECRET_SETTING}, which is not "
        "set. Set it in the environment (or the app's config) to a Fernet key; make one with: "
        f"{MAKE_ONE}")


def _development_secret(app) -> bytes:
    """A secret made once and kept in the app's storage folder (debug and testing only)."""
    folder = Path(app.config.get("AL_ROSTER_STORAGE_DIR") or app.instance_path)
    path = folder / DEV_SECRET_FILE
    if str(path) not in _warned:
        _warned.add(str(path))
        log.warning("%s is not set: LTI tool keys are encrypted with a development secret kept "
                    "in %s. Set %s in production.", SECRET_SETTING, path, SECRET_SETTING)
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    draft = folder / f".{DEV_SECRET_FILE}.{secrets.token_hex(6)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(Fernet.generate_key())
    try:
        os.link(draft, path)  # the first process to get here decides; others read its secret
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_bytes().strip()
