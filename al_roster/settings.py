"""Every AL_ROSTER_* setting, its default, and how the command line reads them from the
environment when no host app is involved."""
from __future__ import annotations

import os

CLASSLINK_METADATA_URL = "https://launchpad.classlink.com/.well-known/openid-configuration"
CLASSLINK_USERINFO_URL = "https://nodeapi.classlink.com/v2/my/info"

DEFAULTS: dict[str, object] = {
    # Where the roster copy and app tables live; None: SQLite in the instance folder.
    "AL_ROSTER_DATABASE_URL": None,
    # Redis for jobs and single-use nonces; None: jobs run inline, nonces in the database.
    "AL_ROSTER_REDIS_URL": None,
    "AL_ROSTER_QUEUE": "al_roster",
    # Kept packages (held runs, processed CSV drops); None: <instance>/al_roster/packages.
    "AL_ROSTER_STORAGE_DIR": None,
    "AL_ROSTER_URL_PREFIX": "/roster",
    "AL_ROSTER_DEFAULT_DELETION_THRESHOLD": 0.10,
    "AL_ROSTER_MAX_PACKAGE_BYTES": 20 * 1024**3,
    # Where signed-in users land when no valid `next` was given.
    "AL_ROSTER_LANDING_URL": "/",
    "AL_ROSTER_DEV_LOGIN": False,
    "AL_ROSTER_SUPPORT_EMAIL": None,
    "AL_ROSTER_CLASSLINK_CLIENT_ID": None,
    "AL_ROSTER_CLASSLINK_CLIENT_SECRET": None,
    "AL_ROSTER_CLASSLINK_SERVER_METADATA_URL": CLASSLINK_METADATA_URL,
    "AL_ROSTER_CLASSLINK_USERINFO_URL": CLASSLINK_USERINFO_URL,
    "AL_ROSTER_CLASSLINK_SCOPES": "openid profile email oneroster",
    # Minutes past which a retired LTI tool key is no longer served in the JWKS (and deleted).
    "AL_ROSTER_LTI_KEY_GRACE_MINUTES": 60 * 24 * 7,
    # Fernet key(s) encrypting the LTI tool's private keys, comma-separated, newest first.
    # Required outside debug and testing mode; see al_roster/services/lti_keys.py.
    "AL_ROSTER_LTI_KEY_SECRET": None,
    # rq cron schedule of the nightly sync, in UTC (rq 2.x reads cron strings as UTC).
    "AL_ROSTER_SYNC_CRON": "0 7 * * *",
    "AL_ROSTER_SMTP_HOST": None,
    "AL_ROSTER_SMTP_PORT": 25,
    "AL_ROSTER_SMTP_USERNAME": None,
    "AL_ROSTER_SMTP_PASSWORD": None,
    "AL_ROSTER_SMTP_STARTTLS": False,
    "AL_ROSTER_MAIL_FROM": "al-roster@localhost",
    "AL_ROSTER_BASE_URL": "http://127.0.0.1:5000",
    # Comma-separated al_roster account ids granted staff access (never e-mails: a district's
    # files set those); a host app can decide instead with ALRoster(app, is_staff=...).
    "AL_ROSTER_STAFF": "",
    # Hours after which a sign-in ends however active it is (classroom devices are shared).
    "AL_ROSTER_SESSION_HOURS": 12,
    # Origins allowed to frame the plugin's pages ("https://lms.example.org ..."); none: no one.
    "AL_ROSTER_FRAME_ANCESTORS": "",
    # The template the plugin's pages extend; a host app can point it at its own layout.
    "AL_ROSTER_BASE_TEMPLATE": None,
    # -- Privacy: how long what a district sends is kept (README, "Data we keep") --------
    # Days a run's changes (before-values) and issues are kept; an older run cannot be undone.
    "AL_ROSTER_RUN_DETAIL_DAYS": 90,
    # Days the kept package of a held run and a processed CSV-drop file are kept.
    "AL_ROSTER_PACKAGE_DAYS": 30,
    # Days after its removal a tombstoned roster record keeps its personal fields (names,
    # e-mails, usernames, identifiers, phone); then they are blanked.
    "AL_ROSTER_TOMBSTONE_DAYS": 90,
    # Days roster events (the change feed of classes, members and accounts) are kept.
    "AL_ROSTER_EVENT_DAYS": 30,
    # rq cron schedule of the clean-up that applies the four above, in UTC.
    "AL_ROSTER_CLEANUP_CRON": "0 6 * * *",
    # -- OneRoster API sources: where a pull may go and what it may cost a worker --------
    # Hosts a source may reach over plain http or at a loopback/private address, comma-
    # separated ("roster.test", "10.0.0.7:8443", "[fd00::7]:443"); empty: https to public only.
    "AL_ROSTER_SOURCE_ALLOWED_HOSTS": "",
    # Largest answer to one request, in bytes, on the wire and once decompressed.
    "AL_ROSTER_PULL_MAX_RESPONSE_BYTES": 16 * 1024**2,
    # Most records one pull may bring, all collections together.
    "AL_ROSTER_PULL_MAX_ROWS": 50_000_000,
    # Most bytes (decompressed) one pull may read, all answers together.
    "AL_ROSTER_PULL_MAX_BYTES": 16 * 1024**3,
    # Most pages one pull may fetch.
    "AL_ROSTER_PULL_MAX_PAGES": 200_000,
    # Longest one request may take, first byte sent to last byte read (seconds).
    "AL_ROSTER_PULL_PAGE_SECONDS": 120.0,
    # A pull's deadline: this many times the district's last successful pull of its kind
    # (full or delta), kept between the two bounds below.
    "AL_ROSTER_PULL_DEADLINE_FACTOR": 4.0,
    # Shortest deadline, in minutes.
    "AL_ROSTER_PULL_DEADLINE_MIN_MINUTES": 30.0,
    # Longest deadline, in minutes; also the deadline of a district's first pull.
    "AL_ROSTER_PULL_DEADLINE_MAX_MINUTES": 240.0,
    # -- Faults: what a service that is down or slow may cost (README, "Faults") ------------
    # Seconds to open a connection to ClassLink or an LTI platform (discovery, token, user
    # info, key sets) before giving up.
    "AL_ROSTER_HTTP_CONNECT_TIMEOUT": 3.0,
    # Seconds to wait for each read of their answer before giving up.
    "AL_ROSTER_HTTP_READ_TIMEOUT": 5.0,
    # Seconds ClassLink's discovery document and key set, and each platform's key set, are
    # used before they are fetched again.
    "AL_ROSTER_PROVIDER_CACHE_SECONDS": 300.0,
    # Seconds past that a copy still stands in while the provider fails to answer.
    "AL_ROSTER_PROVIDER_STALE_SECONDS": 6 * 3600.0,
    # Seconds after a failed fetch before that provider is asked again (meanwhile the stale
    # copy is used, or without one the sign-in is refused at once instead of waiting).
    "AL_ROSTER_PROVIDER_RETRY_SECONDS": 15.0,
    # Seconds a Redis command (and connecting to Redis) may take before Redis counts as down.
    "AL_ROSTER_REDIS_TIMEOUT": 0.5,
    # Seconds after Redis failed during which nonces go to the database without trying Redis.
    "AL_ROSTER_REDIS_RETRY_SECONDS": 5.0,
    # Seconds to open a PostgreSQL connection before the database counts as unreachable.
    "AL_ROSTER_DATABASE_CONNECT_TIMEOUT": 5,
    # UTC cron schedule of the catch-up tick: a district whose nightly sync was lost (Redis
    # down at the nightly hour, a worker killed, a flushed queue) is queued again.
    "AL_ROSTER_CATCHUP_CRON": "*/15 * * * *",
    # "Someone missing or wrong?" on a class's page: questions one teacher may ask per window
    # of this many minutes (counted in the database, so every process shares the count).
    "AL_ROSTER_TEACHER_QUESTIONS": 30,
    "AL_ROSTER_TEACHER_QUESTIONS_MINUTES": 10.0,
    # -- Roster events for host apps (README, "For host apps") ------------------------------
    # The environment variable holding the key a host's service sends (Authorization: Bearer
    # KEY) to read GET /roster/api/events; unset or shorter than 32 characters: staff only.
    "AL_ROSTER_EVENTS_KEY_ENV": "AL_ROSTER_EVENTS_KEY",
}

#: Environment variables holding a OneRoster API source's client secret start with this;
#: no other variable (SECRET_KEY, a database password) can be named as a source's secret.
SOURCE_SECRET_PREFIX = "AL_ROSTER_SOURCE_"


def coerce(key: str, raw: str) -> object:
    """An environment string read as the type of the setting's default."""
    default = DEFAULTS.get(key)
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def from_environment(environ=None) -> dict[str, object]:
    """The AL_ROSTER_* settings found in the environment, typed like their defaults. A
    source's secret (AL_ROSTER_SOURCE_*, not a setting) stays out of the app's config."""
    environ = os.environ if environ is None else environ
    return {k: coerce(k, v) for k, v in environ.items() if k.startswith("AL_ROSTER_")
            and (k in DEFAULTS or not k.startswith(SOURCE_SECRET_PREFIX))}


def roster_state():
    """The al_roster state of the current Flask app (its settings, database, sync options)."""
    from flask import current_app
    return current_app.extensions["al_roster"]


_standalone_factory = None


def use_standalone_app(factory) -> None:
    """Names the factory of :func:`standalone_app` (the extension does, on import)."""
    global _standalone_factory
    _standalone_factory = factory


def standalone_app():
    """An app carrying only al_roster, configured from the AL_ROSTER_* environment: what the
    ``al-roster`` script and a worker without a host app run in. Made by the extension,
    which registers on the app the command line and jobs it runs, so they ask here."""
    if _standalone_factory is None:  # never: importing al_roster imports the extension
        raise RuntimeError("al_roster.extension is not imported")
    return _standalone_factory()
