"""E-mail when a run is held or fails: to the district's contacts and to support, once per run.

``notify_run(run, config)`` is safe to call after every run: it sends only for held or failed
runs and never raises. A run is claimed (``sync_run.notified_at`` set in the statement that
claims it, so two workers never send the same mail twice) only once its mail is composed;
the claim is dropped again if sending fails, and ``notified_at`` is rewritten with the time
the mail went out. A mail that was not sent is tried again on the next look at the district
(:func:`unsent_runs`, for runs of the last ``RESEND_DAYS`` days).

Contacts and names are a district's data, possibly stored before they were checked on
entry: a contact that is not one plain address is skipped (and logged), and the subject is
kept on one line whatever the district's name holds.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import smtplib
import time
from collections.abc import Iterable, Mapping
from email.message import EmailMessage

from peewee import SQL

from ..logsafe import for_log
from ..models import District, SyncRun, database
from ..models.district import utcnow
from ..models.runs import FAILED, HELD, PARTIAL
from ..settings import DEFAULTS

log = logging.getLogger(__name__)

NOTIFY_STATUSES = (HELD, PARTIAL, FAILED)
#: Unsent mail of runs started in the last RESEND_DAYS days is tried again, at most
#: RESEND_LIMIT runs of a district each look.
RESEND_DAYS = 3
RESEND_LIMIT = 5
#: After a mail server could not be reached, it is left alone this long (seconds), so that
#: looking at many districts does not wait for its timeout again and again.
SERVER_PAUSE_SECONDS = 60

#: One plain address: no display name, no brackets, no spaces or line breaks.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@" + _LABEL
                           + r"(?:\." + _LABEL + r")+")
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_unreachable_until: dict[tuple[str, int], float] = {}


def is_plain_address(value: str) -> bool:
    return len(value) <= 254 and PLAIN_ADDRESS.fullmatch(value) is not None


def recipients(run: SyncRun, config: Mapping) -> list[str]:
    """The district's contacts, then support; any that is not a plain address is skipped."""
    found: list[str] = []
    candidates = (run.district.contacts or "").split(",")
    for address in [*candidates, config.get("AL_ROSTER_SUPPORT_EMAIL") or ""]:
        address = address.strip()
        if not address or address in found:
            continue
        if is_plain_address(address):
            found.append(address)
        else:
            log.warning("run %s: recipient %s skipped: not a plain e-mail address", run.id,
                        for_log(address, 100))
    return found


def one_line(text: str) -> str:
    """``text`` with every run of control characters and line breaks made one space."""
    return _BREAKS.sub(" ", text).strip()


def run_url(run: SyncRun, config: Mapping) -> str:
    base = str(config.get("AL_ROSTER_BASE_URL") or DEFAULTS["AL_ROSTER_BASE_URL"]).rstrip("/")
    prefix = config.get("AL_ROSTER_URL_PREFIX", DEFAULTS["AL_ROSTER_URL_PREFIX"]) or ""
    return f"{base}{prefix}/admin/runs/{run.id}"


def compose(run: SyncRun, config: Mapping, to: list[str]) -> EmailMessage:
    district = run.district
    verb = {HELD: "is waiting for review",
            PARTIAL: "was applied; its removals are waiting for review"}.get(run.status, "failed")
    message = EmailMessage()
    message["Subject"] = f"Roster sync {run.id} for {one_line(district.name or '')} {verb}"
    message["From"] = config.get("AL_ROSTER_MAIL_FROM") or DEFAULTS["AL_ROSTER_MAIL_FROM"]
    message["To"] = ", ".join(to)
    action = {
        HELD: "Nothing was changed yet. Review what it would remove, then approve or reject it:",
        PARTIAL: ("Its new and changed records are in place (new students can sign in). The "
                  "removals listed were not made: review them, then approve or reject them:"),
    }.get(run.status, "Nothing was changed. See the run's issues, fix the export and sync "
                      "again:")
    message.set_content(
        f"The nightly roster sync of {district.name} (run {run.id}, started "
        f"{run.started_at:%Y-%m-%d %H:%M} UTC) {verb}.\n\n"
        f"Cause: {run.message or 'not recorded'}\n\n{action}\n{run_url(run, config)}\n")
    return message


def notify_run(run: SyncRun, config: Mapping) -> bool:
    """Mails the district's contacts and support about a held or failed run, once.

    Returns True when a mail was sent now. Never raises: what went wrong is logged with the
    run's id, and a mail that was not sent stays due for the next look."""
    try:
        return _notify(run, config)
    except Exception:  # the database, say: the sync is finished whatever happens here
        log.exception("run %s: the notification failed", run.id)
        return False


def _notify(run: SyncRun, config: Mapping) -> bool:
    if run.status not in NOTIFY_STATUSES or not config.get("AL_ROSTER_SMTP_HOST"):
        return False
    server = (str(config["AL_ROSTER_SMTP_HOST"]), int(config.get("AL_ROSTER_SMTP_PORT") or 25))
    if _unreachable_until.get(server, 0.0) > time.monotonic():
        log.info("run %s: notification left for the next look: mail server %s:%s was not "
                 "reachable a moment ago", run.id, *server)
        return False
    to = recipients(run, config)
    if not to:
        return False
    try:
        message = compose(run, config, to)
    except (ValueError, TypeError) as exc:
        log.error("run %s: the notification could not be composed and was not sent: %s",
                  run.id, for_log(exc))
        return False
    if not _claim(run):
        return False
    try:
        refused = _send(message, config)
    except Exception as exc:
        _release(run)
        if _unreachable(exc):
            _unreachable_until[server] = time.monotonic() + SERVER_PAUSE_SECONDS
        log.warning("run %s: the notification to %s could not be sent (%s); it is tried again "
                    "on the next look", run.id, for_log(", ".join(to)), for_log(exc))
        return False
    _unreachable_until.pop(server, None)
    _mark_sent(run)
    log.info("run %s: notification sent to %s", run.id, for_log(", ".join(to)))
    if refused:
        log.warning("run %s: the mail server refused %s", run.id,
                    for_log(", ".join(sorted(refused))))
    return True


def _unreachable(exc: Exception) -> bool:
    """The server could not be reached or talked to (not: it refused this one mail)."""
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def _claim(run: SyncRun) -> bool:
    db = database.obj
    return bool(db.execute_sql(
        f"UPDATE sync_run SET notified_at = {db.param} WHERE id = {db.param} "
        "AND notified_at IS NULL", [utcnow(), run.id]).rowcount)


def _release(run: SyncRun) -> None:
    db = database.obj
    db.execute_sql(f"UPDATE sync_run SET notified_at = NULL WHERE id = {db.param}", [run.id])


def _mark_sent(run: SyncRun) -> None:
    db = database.obj
    db.execute_sql(f"UPDATE sync_run SET notified_at = {db.param} WHERE id = {db.param}",
                   [utcnow(), run.id])


def is_notified(run: SyncRun) -> bool:
    db = database.obj
    row = db.execute_sql(f"SELECT notified_at FROM sync_run WHERE id = {db.param}",
                         [run.id]).fetchone()
    return row is not None and row[0] is not None


def unsent_runs(district: District, *, exclude: Iterable[int] = ()) -> list[SyncRun]:
    """The district's held or failed runs of the last RESEND_DAYS days whose mail has not
    gone out, newest first, at most RESEND_LIMIT."""
    query = (SyncRun.select()
             .where((SyncRun.district == district) & SyncRun.status.in_(NOTIFY_STATUSES)
                    & (SyncRun.started_at >= utcnow() - dt.timedelta(days=RESEND_DAYS))
                    & SQL("notified_at IS NULL"))
             .order_by(SyncRun.id.desc()).limit(RESEND_LIMIT))
    skip = set(exclude)
    return [run for run in query if run.id not in skip]


def resend_unsent(district: District, config: Mapping, *, done: Iterable[int] = ()) -> None:
    """Tries again the district's recent held or failed runs whose mail has not gone out
    (not those in ``done``, just tried), newest first; the first still unsent afterwards
    ends it (the mail server is down, or there is no one to tell), so a look at a district
    costs at most one failed attempt. Never raises, as :func:`notify_run`."""
    try:
        runs = unsent_runs(district, exclude=done)
    except Exception:
        log.exception("district %s: unsent notifications could not be looked up", district.id)
        return
    for run in runs:
        log.debug("run %s: its notification did not go out; trying again", run.id)
        notify_run(run, config)
        if not is_notified(run):
            return


def _send(message: EmailMessage, config: Mapping) -> dict:
    port = int(config.get("AL_ROSTER_SMTP_PORT") or 25)
    with smtplib.SMTP(config["AL_ROSTER_SMTP_HOST"], port, timeout=30) as smtp:
        if config.get("AL_ROSTER_SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("AL_ROSTER_SMTP_USERNAME"):
            smtp.login(config["AL_ROSTER_SMTP_USERNAME"], config.get("AL_ROSTER_SMTP_PASSWORD") or "")
        return smtp.send_message(message)
