"""Held and failed runs mail the district's contacts and support, once, through real SMTP."""
from __future__ import annotations

from admin_helpers import half_dropped, sync, two_districts

from al_roster.models import SyncRun
from al_roster.services.notifications import notify_run


def test_held_run_mails_once_with_cause_and_link(app, smtp, tmp_path):
    north, _, files, first = two_districts(tmp_path)
    north.contacts = "it@north.org, sis@north.org"
    north.hold_whole_runs = True
    north.save()
    assert notify_run(first, app.config) is False  # applied: nothing to say
    held = sync(north, tmp_path, half_dropped(files)[0], "north-2")  # the sync itself mails
    assert len(smtp.messages) == 1
    assert notify_run(SyncRun.get_by_id(held.id), app.config) is False  # once per run
    assert len(smtp.messages) == 1
    to, _, message = smtp.messages[0]
    assert sorted(to) == ["it@north.org", "sis@north.org", "support@example.com"]
    assert f"Roster sync {held.id} for North District is waiting for review" == message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert "would remove 5 of 11 users" in body and "users.csv has 6 rows" in body
    assert f"https://app.example.com/roster/admin/runs/{held.id}" in body


def test_failed_run_mails_support(app, smtp, tmp_path):
    north, *_ = two_districts(tmp_path)
    failed = SyncRun.create(district=north, status="failed",
                            message="The sync stopped before it finished.")
    assert notify_run(failed, app.config) is True
    assert notify_run(failed, app.config) is False
    to, _, message = smtp.messages[0]
    assert to == ["support@example.com"] and "failed" in message["Subject"]
    assert "The sync stopped before it finished." in message.get_payload(decode=True).decode()
