"""LTI tool keys encrypted at rest: lti_tool_key.private_pem becomes private_key, the PEM
encrypted with AL_ROSTER_LTI_KEY_SECRET (a Fernet token; see al_roster.services.lti_keys).

The secret is the one of the app the upgrade runs in (`flask al-roster db upgrade` in the
host app, or `al-roster db upgrade`, whose own app reads AL_ROSTER_* from the environment);
in debug or testing mode without it, the development secret. Without any secret the keys
are left in clear (the column is renamed all the same) and a warning is logged: the app
encrypts them the first time it uses them with the secret set (outside debug and testing
it refuses to use them until then), and `al-roster lti reseal-keys` does it at once.

down: the keys are decrypted back to clear PEM under private_pem. Without the secret that
decrypts them it refuses, rather than leave keys nobody can read.
"""
import logging
import os

from al_roster.errors import ConfigurationError
from al_roster.services.lti_keys import SECRET_SETTING, configured_cipher, is_clear, key_cipher

log = logging.getLogger("al_roster.migrations")


def _cipher():
    from flask import current_app, has_app_context
    if not has_app_context():
        return configured_cipher(os.environ)
    app = current_app._get_current_object()
    cipher = configured_cipher(app.config)
    if cipher is None and (app.debug or app.testing):
        cipher = key_cipher(app)
    return cipher


def _rewrite(db, rows):
    for key_id, value in rows:
        db.execute_sql(f"UPDATE lti_tool_key SET private_key = {db.param} WHERE id = {db.param}",
                       [value, key_id])


def up(migrator, db):
    migrator.migrate(migrator.rename_column('lti_tool_key', 'private_pem', 'private_key'))
    clear = [(key_id, value) for key_id, value
             in db.execute_sql("SELECT id, private_key FROM lti_tool_key").fetchall()
             if is_clear(value)]
    if not clear:
        return
    cipher = _cipher()
    if cipher is None:
        log.warning("%s is not set: %d LTI tool key(s) stay in clear until the app uses them "
                    "with it set (or `al-roster lti reseal-keys`).", SECRET_SETTING, len(clear))
        return
    _rewrite(db, [(key_id, cipher.seal(pem)) for key_id, pem in clear])


def down(migrator, db):
    sealed = [(key_id, value) for key_id, value
              in db.execute_sql("SELECT id, private_key FROM lti_tool_key").fetchall()
              if not is_clear(value)]
    if sealed:
        cipher = _cipher()
        if cipher is None:
            raise ConfigurationError(
                f"Reverting this migration writes the LTI tool keys back in clear, which needs "
                f"{SECRET_SETTING} to decrypt them; it is not set.")
        _rewrite(db, [(key_id, cipher.unseal(value)) for key_id, value in sealed])
    migrator.migrate(migrator.rename_column('lti_tool_key', 'private_key', 'private_pem'))
