"""LTI 1.3 set-up: platform registrations per district and the tool's signing keys.

The tool's key pair is made on first need and kept in the database, its private half
encrypted (:mod:`.lti_keys`); ``rotate_tool_key`` makes a new one current and keeps publishing
the old one for a grace period, so a platform that cached our key set keeps verifying what we
signed. Past the grace period a retired key is deleted.
"""
from __future__ import annotations

import datetime as dt
import json
import secrets

import peewee
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ..errors import RosterError
from ..models import District, LtiDeployment, LtiRegistration, LtiToolKey
from ..models.base import write_transaction
from ..models.district import utcnow
from .lti_keys import KeyCipher, is_clear, key_cipher


class LtiSetupError(RosterError):
    message = "The LTI registration is not valid."
    code = "lti_setup"


def register_platform(district: District, *, issuer: str, client_id: str,
                      deployment_ids: list[str], auth_login_url: str, auth_token_url: str,
                      key_set_url: str) -> LtiRegistration:
    """Adds (or updates) the platform client and links its deployments to ``district``."""
    if not deployment_ids:
        raise LtiSetupError("Give at least one deployment id.")
    urls = dict(auth_login_url=auth_login_url, auth_token_url=auth_token_url,
                key_set_url=key_set_url)
    for name, url in urls.items():
        if not url.startswith(("https://", "http://")):
            raise LtiSetupError(f"{name.replace('_', '-')} must be an http(s) URL, not {url!r}.")
    with write_transaction():
        LtiRegistration.insert(issuer=issuer, client_id=client_id, created_at=utcnow(),
                               **urls).on_conflict(
            conflict_target=[LtiRegistration.issuer, LtiRegistration.client_id],
            update=urls).execute()
        registration = LtiRegistration.get(issuer=issuer, client_id=client_id)
        for deployment_id in deployment_ids:
            _link_deployment(registration, deployment_id, district)
    return registration


def _link_deployment(registration: LtiRegistration, deployment_id: str,
                     district: District) -> None:
    LtiDeployment.insert(registration=registration, deployment_id=deployment_id,
                         district=district, created_at=utcnow()).on_conflict_ignore().execute()
    owner = LtiDeployment.get(registration=registration, deployment_id=deployment_id).district
    if owner.id != district.id:
        raise LtiSetupError(f"Deployment {deployment_id} of {registration.issuer} already "
                            f"belongs to district {owner.slug}.")


def find_registration(issuer: str, client_id: str | None) -> LtiRegistration | None:
    """The registration of ``issuer`` and ``client_id``; without a client id (it is optional
    in a login initiation), the issuer's only registration."""
    query = LtiRegistration.select().where(LtiRegistration.issuer == issuer)
    if client_id is not None:
        return query.where(LtiRegistration.client_id == client_id).first()
    found = list(query.limit(2))
    return found[0] if len(found) == 1 else None


def find_deployment(issuer: str, client_id: str, deployment_id: str) -> LtiDeployment | None:
    """The deployment, with its registration and district (one query)."""
    return (LtiDeployment.select(LtiDeployment, LtiRegistration, District)
            .join(LtiRegistration).switch(LtiDeployment).join(District)
            .where((LtiRegistration.issuer == issuer) & (LtiRegistration.client_id == client_id)
                   & (LtiDeployment.deployment_id == deployment_id))
            .first())


def describe_registrations(district: District) -> list[dict]:
    rows = (LtiDeployment.select(LtiDeployment, LtiRegistration).join(LtiRegistration)
            .where(LtiDeployment.district == district)
            .order_by(LtiRegistration.id, LtiDeployment.deployment_id))
    by_registration: dict[int, dict] = {}
    for row in rows:
        reg = row.registration
        entry = by_registration.setdefault(reg.id, {
            "issuer": reg.issuer, "clientId": reg.client_id, "authLoginUrl": reg.auth_login_url,
            "authTokenUrl": reg.auth_token_url, "keySetUrl": reg.key_set_url,
            "deploymentIds": []})
        entry["deploymentIds"].append(row.deployment_id)
    return list(by_registration.values())


# --- the tool's keys ---------------------------------------------------------------


def current_tool_key() -> LtiToolKey:
    """The key the tool signs with, made on first need (one, even if two processes race).

    Needs the key secret: without AL_ROSTER_LTI_KEY_SECRET outside debug and testing mode
    this raises :class:`ConfigurationError` (no key is made)."""
    cipher = key_cipher()
    key = LtiToolKey.get_or_none(LtiToolKey.current == 1)
    if key is None:
        _insert_new_key(cipher, ignore_conflict=True)
        key = LtiToolKey.get(LtiToolKey.current == 1)
    elif is_clear(key.private_key):  # stored before keys were encrypted
        reseal_tool_keys()
        key = LtiToolKey.get(LtiToolKey.current == 1)
    return key


def tool_private_key(key: LtiToolKey | None = None) -> str:
    """The private key (PEM) the tool signs with: ``key``'s, by default the current one's."""
    key = key or current_tool_key()
    return key_cipher().unseal(key.private_key, key.kid)


def rotate_tool_key(grace_minutes: int | None = None) -> LtiToolKey:
    """Retires the current key (still published for the grace period) and makes a new one;
    keys retired longer than ``grace_minutes`` ago are deleted."""
    cipher = key_cipher()
    with write_transaction():
        (LtiToolKey.update(current=None, retired_at=utcnow())
         .where(LtiToolKey.current == 1).execute())
        _insert_new_key(cipher, ignore_conflict=False)
        if grace_minutes is not None:
            _delete_expired(grace_minutes)
    return LtiToolKey.get(LtiToolKey.current == 1)


def published_keys(grace_minutes: int) -> dict:
    """The JWKS: the current key and those retired less than ``grace_minutes`` ago (older
    ones are deleted)."""
    current_tool_key()
    cutoff = _delete_expired(grace_minutes)
    keys = (LtiToolKey.select()
            .where((LtiToolKey.current == 1) | (LtiToolKey.retired_at > cutoff))
            .order_by(LtiToolKey.current.desc(nulls="LAST"), LtiToolKey.id.desc()))
    return {"keys": [json.loads(key.public_jwk) for key in keys]}


def reseal_tool_keys() -> int:
    """Encrypts every stored key with the newest secret (clear keys and keys encrypted with
    an older secret); returns how many were rewritten."""
    cipher = key_cipher()
    rewritten = 0
    with write_transaction():
        for key in LtiToolKey.select():
            if cipher.is_sealed_with_newest(key.private_key):
                continue
            sealed = cipher.seal(cipher.unseal(key.private_key, key.kid))
            LtiToolKey.update(private_key=sealed).where(LtiToolKey.id == key.id).execute()
            rewritten += 1
    return rewritten


def _delete_expired(grace_minutes: int) -> dt.datetime:
    cutoff = utcnow() - dt.timedelta(minutes=grace_minutes)
    (LtiToolKey.delete()
     .where(LtiToolKey.current.is_null() & (LtiToolKey.retired_at <= cutoff)).execute())
    return cutoff


def _insert_new_key(cipher: KeyCipher, *, ignore_conflict: bool) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = secrets.token_urlsafe(16)
    jwk = {**RSAAlgorithm.to_jwk(private.public_key(), as_dict=True),
           "kid": kid, "alg": "RS256", "use": "sig"}
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    query = LtiToolKey.insert(kid=kid, private_key=cipher.seal(pem), public_jwk=json.dumps(jwk),
                              current=1, created_at=utcnow())
    if ignore_conflict:
        query = query.on_conflict_ignore()
    try:
        query.execute()
    except peewee.IntegrityError as exc:
        raise LtiSetupError("Another process is rotating the tool key; try again.") from exc
