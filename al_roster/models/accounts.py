"""App accounts made on first sign-in, linked to a roster user by (district, sourcedId)."""
from __future__ import annotations

import peewee

from .base import BaseModel
from .district import District, utcnow

#: Marks our accounts' ids in the Flask-Login session, apart from a host app's own users.
ACCOUNT_ID_PREFIX = "alr:"


class Account(BaseModel):
    district = peewee.ForeignKeyField(District, backref="accounts", on_delete="CASCADE")
    sourced_id = peewee.TextField()
    classlink_user_id = peewee.CharField(max_length=64, null=True)
    role = peewee.CharField(max_length=32)  # teacher, student, administrator
    given_name = peewee.TextField(null=True)
    family_name = peewee.TextField(null=True)
    email = peewee.TextField(null=True)
    username = peewee.TextField(null=True)
    is_staff = peewee.BooleanField(default=False)
    #: Sees their district's support console though the roster does not name them an admin.
    district_admin = peewee.BooleanField(default=False)
    #: The roster names them an administrator of the whole district (refreshed at sign-in).
    roster_admin = peewee.BooleanField(default=False)
    #: Bumped by logout: a session stamped with an older version has ended (services.sessions).
    session_version = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField(default=utcnow)
    last_login_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = (
            (("district", "sourced_id"), True),
            (("district", "classlink_user_id"), True),
        )

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p) or self.sourced_id

    # Flask-Login's user protocol, without importing Flask here.
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{ACCOUNT_ID_PREFIX}{self.id}"


class AccountEvent(BaseModel):
    """Something worth keeping about an account: a relink after a sourcedId change, say."""

    account = peewee.ForeignKeyField(Account, backref="events", on_delete="CASCADE")
    kind = peewee.CharField(max_length=32)
    detail = peewee.TextField(null=True)
    at = peewee.DateTimeField(default=utcnow)
