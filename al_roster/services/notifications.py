"""E-mail when a run is held or fails: to the district's contacts and to support, once per run.

``notify_run(run, config)`` is safe to call after every run: it sends only for held or failed
runs, and marks the run (``sync_run.notified_at``) in the same statement that claims it, so
two workers never send the same mail twice.
"""
from __future__ import annotations

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage

from ..models import SyncRun, database
from ..models.district import utcnow
from ..models.runs import FAILED, HELD
from ..settings import DEFAULTS

NOTIFY_STATUSES = (HELD, FAILED)


def recipients(run: SyncRun, config: Mapping) -> list[str]:
    found = [a.strip() for a in (run.district.contacts or "").split(",") if a.strip()]
    support = config.get("AL_ROSTER_SUPPORT_EMAIL")
    if support and support not in found:
        found.append(support)
    return found


def run_url(run: SyncRun, config: Mapping) -> str:
    base = str(config.get("AL_ROSTER_BASE_URL") or DEFAULTS["AL_ROSTER_BASE_URL"]).rstrip("/")
    prefix = config.get("AL_ROSTER_URL_PREFIX", DEFAULTS["AL_ROSTER_URL_PREFIX"]) or ""
    return f"{base}{prefix}/admin/runs/{run.id}"


def compose(run: SyncRun, config: Mapping, to: list[str]) -> EmailMessage:
    district = run.district
    verb = "is waiting for review" if run.status == HELD else "failed"
    message = EmailMessage()
    message["Subject"] = f"Roster sync {run.id} for {district.name} {verb}"
    message["From"] = config.get("AL_ROSTER_MAIL_FROM") or DEFAULTS["AL_ROSTER_MAIL_FROM"]
    message["To"] = ", ".join(to)
    action = ("Nothing was changed yet. Review what it would remove, then approve or reject it:"
              if run.status == HELD else
              "Nothing was changed. See the run's issues, fix the export and sync again:")
    message.set_content(
        f"The nightly roster sync of {district.name} (run {run.id}, started "
        f"{run.started_at:%Y-%m-%d %H:%M} UTC) {verb}.\n\n"
        f"Cause: {run.message or 'not recorded'}\n\n{action}\n{run_url(run, config)}\n")
    return message


def notify_run(run: SyncRun, config: Mapping) -> bool:
    """Mails the district's contacts and support about a held or failed run, once.

    Returns True when a mail was sent now."""
    if run.status not in NOTIFY_STATUSES:
        return False
    to = recipients(run, config)
    if not to or not config.get("AL_ROSTER_SMTP_HOST"):
        return False
    db = database.obj
    claimed = db.execute_sql(
        f"UPDATE sync_run SET notified_at = {db.param} WHERE id = {db.param} "
        "AND notified_at IS NULL", [utcnow(), run.id]).rowcount
    if not claimed:
        return False
    try:
        _send(compose(run, config, to), config)
    except (OSError, smtplib.SMTPException):
        db.execute_sql(f"UPDATE sync_run SET notified_at = NULL WHERE id = {db.param}", [run.id])
        raise
    return True


def _send(message: EmailMessage, config: Mapping) -> None:
    port = int(config.get("AL_ROSTER_SMTP_PORT") or 25)
    with smtplib.SMTP(config["AL_ROSTER_SMTP_HOST"], port, timeout=30) as smtp:
        if config.get("AL_ROSTER_SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("AL_ROSTER_SMTP_USERNAME"):
            smtp.login(config["AL_ROSTER_SMTP_USERNAME"], config.get("AL_ROSTER_SMTP_PASSWORD") or "")
        smtp.send_message(message)
