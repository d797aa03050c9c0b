"""Attack: a district's contacts or name carry CR/LF, to add mail headers or to stop the mail.

Values stored before the fields were checked on entry may hold a CR/LF. Composing must not
fail on them (the email package raises ValueError for such a header): the recipients that
are not a plain address are skipped and logged, the district's name is flattened in the
subject, and support is still told. A mail that could not be sent is not marked sent, never
breaks the sync, and goes out on the next look at the district.
"""
from __future__ import annotations

import datetime as dt
import logging

from admin_helpers import half_dropped, holding_whole_runs, sync, two_districts
from packages import small_district
from peers.smtp import free_port

from al_roster.extension import roster_state
from al_roster.models import District, SyncRun, database
from al_roster.services.notifications import notify_run
from al_roster.sync.review import approve_run
from al_roster.sync.runner import check_abandoned_runs

SPY = "spy@evil.example"




def notified_at(run: SyncRun):
    """Kept off the model on purpose (a stale ``run.save()`` must not clear it)."""
    db = database.obj
    return db.execute_sql(f"SELECT notified_at FROM sync_run WHERE id = {db.param}",
                          [run.id]).fetchone()[0]


def set_district(district, **fields) -> District:
    District.update(**fields).where(District.id == district.id).execute()
    return District.get_by_id(district.id)


def test_contacts_with_crlf_cannot_add_a_bcc_nor_stop_the_mail(app, smtp, tmp_path, caplog):
    north, _, files, _ = two_districts(tmp_path)
    holding_whole_runs(north)
    north = set_district(north, contacts=f"it@north.org\r\nBcc: {SPY}, sis@north.org,"
                                          f" <{SPY}>, x@north.org\nCc: {SPY}")
    caplog.set_level(logging.INFO, logger="al_roster")
    held = sync(north, tmp_path, half_dropped(files)[0], "north-2")  # must not raise
    assert held.status == "held"
    assert len(smtp.messages) == 1
    to, raw, message = smtp.messages[0]
    assert to == ["sis@north.org", "support@example.com"]
    assert SPY.encode() not in raw and message["Bcc"] is None and message["Cc"] is None
    assert notified_at(held) is not None
    skipped = [r for r in caplog.records if "not a plain e-mail address" in r.getMessage()]
    assert len(skipped) == 3 and all(f"run {held.id}" in r.getMessage() for r in skipped)
    assert all("\n" not in r.getMessage() and "\r" not in r.getMessage() for r in skipped)


def test_district_name_with_crlf_stays_in_the_subject(app, smtp, tmp_path):
    north, *_ = two_districts(tmp_path)
    north = set_district(north, name=f"North\r\nBcc: {SPY}\r\n\r\nbody")
    failed = SyncRun.create(district=north, status="failed", message="It stopped.")
    assert notify_run(failed, app.config) is True
    to, raw, message = smtp.messages[0]
    assert to == ["support@example.com"] and message["Bcc"] is None
    assert message["Subject"] == f"Roster sync {failed.id} for North Bcc: {SPY} body failed"
    assert len(message.get_all("Subject")) == 1


def test_a_mail_that_cannot_be_composed_is_logged_and_not_marked_sent(app, smtp, tmp_path,
                                                                      caplog):
    north, *_ = two_districts(tmp_path)
    app.config["AL_ROSTER_MAIL_FROM"] = "roster@example.com\r\nBcc: " + SPY
    failed = SyncRun.create(district=north, status="failed", message="It stopped.")
    assert notify_run(failed, app.config) is False  # no ValueError out of the sync
    assert smtp.messages == [] and notified_at(failed) is None
    assert any(f"run {failed.id}" in r.getMessage() and r.levelno >= logging.WARNING
               for r in caplog.records)


def test_a_mail_that_failed_goes_out_on_the_next_look(app, smtp, tmp_path, runner, caplog):
    north, _, files, _ = two_districts(tmp_path)
    holding_whole_runs(north)
    north = set_district(north, contacts="it@north.org")
    port = app.config["AL_ROSTER_SMTP_PORT"]
    app.config["AL_ROSTER_SMTP_PORT"] = free_port()  # the mail server is down tonight
    held = sync(north, tmp_path, half_dropped(files)[0], "north-2")
    assert held.status == "held" and smtp.messages == []
    assert notified_at(held) is None
    assert any(f"run {held.id}" in r.getMessage() for r in caplog.records
               if r.levelno >= logging.WARNING)
    # An old unsent run is not mailed any more: the look is bounded.
    old = SyncRun.create(district=north, status="failed", message="Long ago.",
                         started_at=dt.datetime(2020, 1, 1), finished_at=dt.datetime(2020, 1, 1))
    app.config["AL_ROSTER_SMTP_PORT"] = port  # back up
    shown = runner.invoke(args=["al-roster", "district", "show", "north"])
    assert shown.exit_code == 0, shown.output
    assert len(smtp.messages) == 1 and f"Roster sync {held.id} " in smtp.messages[0][2]["Subject"]
    assert notified_at(held) is not None
    assert notified_at(old) is None
    check_abandoned_runs(north, roster_state().sync_options)  # the next look: nothing new
    assert len(smtp.messages) == 1


def test_the_next_nightly_sync_sends_what_the_last_one_could_not(app, smtp, tmp_path):
    north, _, files, _ = two_districts(tmp_path)
    holding_whole_runs(north)
    port = app.config["AL_ROSTER_SMTP_PORT"]
    app.config["AL_ROSTER_SMTP_PORT"] = free_port()
    held = sync(north, tmp_path, half_dropped(files)[0], "north-2")
    assert smtp.messages == []
    app.config["AL_ROSTER_SMTP_PORT"] = port
    applied = sync(north, tmp_path, small_district(10), "north-3")
    assert applied.status == "applied"
    assert [m[2]["Subject"] for m in smtp.messages] == [
        f"Roster sync {held.id} for North District is waiting for review"]


def test_approving_a_held_run_does_not_mail_its_stale_review_request(app, smtp, tmp_path):
    north, _, files, _ = two_districts(tmp_path)
    port = app.config["AL_ROSTER_SMTP_PORT"]
    app.config["AL_ROSTER_SMTP_PORT"] = free_port()
    held = sync(north, tmp_path, half_dropped(files)[0], "north-2")
    app.config["AL_ROSTER_SMTP_PORT"] = port
    approved = approve_run(SyncRun.get_by_id(held.id), roster_state().sync_options, by="staff")
    assert approved.status == "applied" and smtp.messages == []
