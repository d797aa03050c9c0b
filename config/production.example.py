"""Example production settings: copy, fill in, and load them into the host app's config
(``app.config.from_pyfile(...)``) or export the same names as environment variables for
the ``al-roster`` command, ``rq worker`` and ``rq cron`` processes.

Secrets come from the environment, never from this file.
"""
import os

SECRET_KEY = os.environ["SECRET_KEY"]

# The roster copy and app tables.
AL_ROSTER_DATABASE_URL = "postgresql://al_roster@db.internal:5432/al_roster"
# Jobs (nightly sync, sync on demand) and single-use nonces.
AL_ROSTER_REDIS_URL = "redis://redis.internal:6379/0"
AL_ROSTER_QUEUE = "al_roster"
# In UTC (rq 2.x): 07:00 UTC is 2-3 am in US Eastern.
AL_ROSTER_SYNC_CRON = "0 7 * * *"
# Kept packages (held runs, processed CSV drops): a disk every worker can reach.
AL_ROSTER_STORAGE_DIR = "/srv/al_roster/storage"
AL_ROSTER_BASE_URL = "https://app.example.org"
# Support staff by al_roster account id (never e-mail), or ALRoster(app, is_staff=...).
AL_ROSTER_STAFF = os.environ.get("AL_ROSTER_STAFF", "")
# A sign-in ends after this many hours, however active (shared classroom devices).
AL_ROSTER_SESSION_HOURS = 12

AL_ROSTER_CLASSLINK_CLIENT_ID = os.environ.get("AL_ROSTER_CLASSLINK_CLIENT_ID")
AL_ROSTER_CLASSLINK_CLIENT_SECRET = os.environ.get("AL_ROSTER_CLASSLINK_CLIENT_SECRET")
# Fernet key(s) the LTI tool's private keys are encrypted with, newest first, comma-separated.
AL_ROSTER_LTI_KEY_SECRET = os.environ.get("AL_ROSTER_LTI_KEY_SECRET")

# Cookies only over HTTPS, not readable by scripts, not sent on cross-site requests.
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_SECURE = True
REMEMBER_COOKIE_HTTPONLY = True
PREFERRED_URL_SCHEME = "https"
