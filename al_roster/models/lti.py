"""LTI 1.3: the platforms that launch us, the tool's own keys, and nonces already spent.

A registration is one platform client (issuer + client_id: ClassLink, say). Its deployments
name the districts: ClassLink's deployment id is the district's tenant id, so one
registration can serve many districts, and a launch's district is read off its deployment.
"""
from __future__ import annotations

import peewee

from .base import BaseModel
from .district import District, utcnow


class LtiRegistration(BaseModel):
    issuer = peewee.TextField()
    client_id = peewee.TextField()
    auth_login_url = peewee.TextField()
    auth_token_url = peewee.TextField()
    key_set_url = peewee.TextField()
    auth_audience = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("issuer", "client_id"), True),)


class LtiDeployment(BaseModel):
    registration = peewee.ForeignKeyField(LtiRegistration, backref="deployments",
                                          on_delete="CASCADE")
    deployment_id = peewee.TextField()
    district = peewee.ForeignKeyField(District, backref="lti_deployments", on_delete="CASCADE")
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("registration", "deployment_id"), True),)


class LtiToolKey(BaseModel):
    """The tool's RSA key pair. One is current (``current`` = 1, unique, so two processes
    making the first key at once make one); retired keys keep ``retired_at`` and stay in
    the JWKS for a grace period, so platforms holding the old key set keep working, and are
    deleted after it. ``private_key`` is the PEM encrypted with AL_ROSTER_LTI_KEY_SECRET (a
    Fernet token, see :mod:`al_roster.services.lti_keys`); only a key stored before that, not
    yet used since, is clear PEM."""

    kid = peewee.CharField(max_length=64, unique=True)
    private_key = peewee.TextField()
    public_jwk = peewee.TextField()  # JSON
    current = peewee.IntegerField(null=True, unique=True)
    created_at = peewee.DateTimeField(default=utcnow)
    retired_at = peewee.DateTimeField(null=True)


class UsedNonce(BaseModel):
    """A nonce or state already spent; the unique key makes spending it twice fail."""

    key = peewee.CharField(max_length=128, unique=True)  # "kind:sha256(value)"
    used_at = peewee.DateTimeField(default=utcnow, index=True)


LTI_MODELS = [LtiRegistration, LtiDeployment, LtiToolKey, UsedNonce]
