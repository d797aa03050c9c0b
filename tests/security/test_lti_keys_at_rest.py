"""Attack: someone gets a dump (or a backup) of the database and reads the LTI tool's private
key, to sign as the tool.

The private keys are stored encrypted with AL_ROSTER_LTI_KEY_SECRET (Fernet, newest secret
first): a dump holds no PEM, and the secret, not the database, is what unlocks them. A
production app without the secret refuses to make or use a key; the migration encrypts keys
stored in clear before it.
"""
from __future__ import annotations

import sqlite3
import subprocess

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from al_roster import schema
from al_roster.errors import ConfigurationError
from al_roster.models import LtiToolKey, database
from al_roster.services import lti as lti_service

MIGRATION = "0008_lti_keys_encrypted"


def dump(app) -> str:
    url = app.config["AL_ROSTER_DATABASE_URL"]
    database.obj.close()
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        with open(path, "rb") as raw:
            data = raw.read().decode("latin-1")
        with sqlite3.connect(path) as conn:
            return data + "\n".join(conn.iterdump())
    return subprocess.run(["pg_dump", url], check=True, capture_output=True, text=True).stdout


def assert_no_private_key_in(text: str):
    markers = ("PRIVATE KEY", "-----BEGIN",
               "BgkqhkiG9w0BAQEFAASC")  # the DER of an RSA key, should the armour be stripped
    assert [m for m in markers if m in text] == []


def matches_published(pem: str, kid: str) -> bool:
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    published = {k["kid"]: k for k in lti_service.published_keys(60)["keys"]}[kid]
    return RSAAlgorithm.from_jwk(published).public_numbers() == \
        private.public_key().public_numbers()


def test_a_database_dump_reveals_no_private_key(app):
    app.config["AL_ROSTER_LTI_KEY_SECRET"] = Fernet.generate_key().decode()
    first = lti_service.current_tool_key()
    lti_service.rotate_tool_key()
    assert_no_private_key_in(dump(app))
    current = lti_service.current_tool_key()
    assert matches_published(lti_service.tool_private_key(current), current.kid)
    assert matches_published(lti_service.tool_private_key(LtiToolKey.get(kid=first.kid)),
                             first.kid)


def test_the_dump_is_no_use_without_the_secret(app):
    app.config["AL_ROSTER_LTI_KEY_SECRET"] = Fernet.generate_key().decode()
    key = lti_service.current_tool_key()
    app.config["AL_ROSTER_LTI_KEY_SECRET"] = Fernet.generate_key().decode()  # another secret
    with pytest.raises(ConfigurationError, match="AL_ROSTER_LTI_KEY_SECRET"):
        lti_service.tool_private_key(key)


def test_without_the_secret_a_production_app_refuses_keys(app, client):
    app.testing = False
    assert not app.debug and not app.config.get("AL_ROSTER_LTI_KEY_SECRET")
    with pytest.raises(ConfigurationError, match="AL_ROSTER_LTI_KEY_SECRET"):
        lti_service.current_tool_key()
    answer = client.get("/roster/lti/jwks")
    assert answer.status_code == 503 and "SECRET" not in answer.get_data(as_text=True)
    assert LtiToolKey.select().count() == 0  # no key was made in clear


def test_development_mode_uses_a_kept_development_secret(app, caplog):
    assert app.testing and not app.config.get("AL_ROSTER_LTI_KEY_SECRET")
    key = lti_service.current_tool_key()
    assert_no_private_key_in(key.private_key)
    assert matches_published(lti_service.tool_private_key(key), key.kid)


def test_the_secret_rotates_newest_first(app, runner):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app.config["AL_ROSTER_LTI_KEY_SECRET"] = old
    key = lti_service.current_tool_key()
    app.config["AL_ROSTER_LTI_KEY_SECRET"] = f"{new}, {old}"
    assert matches_published(lti_service.tool_private_key(key), key.kid)
    result = runner.invoke(args=["al-roster", "lti", "reseal-keys"])
    assert result.exit_code == 0 and "1 tool key" in result.output, result.output
    app.config["AL_ROSTER_LTI_KEY_SECRET"] = new  # the old secret can go now
    assert matches_published(lti_service.tool_private_key(LtiToolKey.get(kid=key.kid)), key.kid)


def test_a_malformed_secret_is_named_not_shown(app):
    app.config["AL_ROSTER_LTI_KEY_SECRET"] = "not-a-fernet-key"
    with pytest.raises(ConfigurationError, match="AL_ROSTER_LTI_KEY_SECRET") as refused:
        lti_service.current_tool_key()
    assert "not-a-fernet-key" not in refused.value.message


def test_retired_keys_are_deleted_after_the_grace_period(app):
    first = lti_service.current_tool_key()
    second = lti_service.rotate_tool_key(60)
    assert {k.kid for k in LtiToolKey.select()} == {first.kid, second.kid}
    lti_service.published_keys(0)
    assert [k.kid for k in LtiToolKey.select()] == [second.kid]
    third = lti_service.rotate_tool_key(0)
    assert [k.kid for k in LtiToolKey.select()] == [third.kid]


def test_the_upgrade_encrypts_keys_stored_in_clear(app):
    app.config["AL_ROSTER_LTI_KEY_SECRET"] = Fernet.generate_key().decode()
    db = app.extensions["al_roster"].db
    key = lti_service.current_tool_key()
    try:
        schema.downgrade(db, MIGRATION)  # as before: the key in clear
        pem = db.execute_sql("SELECT private_pem FROM lti_tool_key").fetchone()[0]
        assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    finally:
        schema.upgrade(db)
    assert_no_private_key_in(dump(app))
    assert matches_published(lti_service.tool_private_key(LtiToolKey.get(kid=key.kid)), key.kid)


def test_an_upgrade_without_the_secret_leaves_keys_for_the_app_to_encrypt(app):
    app.config["AL_ROSTER_LTI_KEY_SECRET"] = secret = Fernet.generate_key().decode()
    db = app.extensions["al_roster"].db
    key = lti_service.current_tool_key()
    schema.downgrade(db, MIGRATION)
    app.config["AL_ROSTER_LTI_KEY_SECRET"], app.testing = None, False  # production, no secret
    try:
        schema.upgrade(db)
    finally:
        app.testing = True
    assert LtiToolKey.get(kid=key.kid).private_key.startswith("-----BEGIN")
    app.config["AL_ROSTER_LTI_KEY_SECRET"] = secret
    assert lti_service.current_tool_key().kid == key.kid  # first use encrypts it
    assert_no_private_key_in(dump(app))
