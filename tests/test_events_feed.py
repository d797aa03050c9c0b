"""The event feed: the cursor in Python, over HTTP and on the command line; who may read it;
the clean-up that forgets old events; every event once across pages while two writers commit
at once (PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time

import pytest
from event_helpers import feed, last_id, north_school
from rosters import sign_in

from al_roster import api, jobs
from al_roster.cli import cli
from al_roster.errors import ConfigurationError
from al_roster.models import Account, RosterEvent, database
from al_roster.models.district import utcnow
from al_roster.services.districts import add_district
from al_roster.services.retention import Retention, clean_up
from al_roster.sync import events as event_log

KEY = "k" * 40


@pytest.fixture
def north(app, tmp_path):
    """North with its people, and 14 member_added events of Algebra I in three transactions."""
    district, sync = north_school(app, tmp_path, imported=False)
    for first, last in ((1, 5), (5, 10), (10, 15)):
        write_events(district, [dict(kind="member_added", district_id=district.id,
                                     class_sourced_id="cls-alg1", user_sourced_id=f"stu-{i}",
                                     payload={"role": "student"}) for i in range(first, last)])
    return district, sync


def write_events(district, rows) -> None:
    with event_log.publishing():
        event_log.stage_rows(database.obj, rows)


def test_the_cursor_pages_through_every_event_once_in_order(north):
    everything = [e.id for e in RosterEvent.select().order_by(RosterEvent.id)]
    assert len(everything) >= 14
    seen, cursor = [], 0
    while page := api.events(after=cursor, limit=5):
        assert len(page) <= 5
        seen += [e.id for e in page]
        cursor = page[-1].id
    assert seen == everything
    assert [e.id for e in api.events(after=0, limit=5000)] == everything[:1000]
    assert api.events(after=cursor) == []
    assert {e.district_id for e in api.events(district="north")} == {north[0].id}


def test_the_http_feed_for_staff_a_host_key_and_a_districts_own_admin(north, app, client,
                                                                     monkeypatch):
    district, _ = north
    south = add_district("south", "South District", plan="prime", rostering=True)
    write_events(south, [dict(kind="run_applied", district_id=south.id,
                              payload={"status": "applied"})])
    everything = [e.id for e in RosterEvent.select().order_by(RosterEvent.id)]

    anonymous = client.get("/roster/api/events")
    assert anonymous.status_code == 401 and anonymous.get_json()["error"] == "not_signed_in"
    assert client.get("/roster/api/events?district=nowhere").status_code == 401
    monkeypatch.setenv("AL_ROSTER_EVENTS_KEY", KEY)
    bearer = {"Authorization": f"Bearer {KEY}"}
    answer = client.get("/roster/api/events?after=0&limit=4", headers=bearer)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert [e["id"] for e in body["events"]] == everything[:4]
    assert body["next"] == everything[3] and body["oldest"] == everything[0]
    first = body["events"][0]
    assert set(first) == {"id", "kind", "district", "class", "classSourcedId", "sourcedId",
                          "account", "run", "request", "at", "payload"}
    rest = client.get(f"/roster/api/events?after={body['next']}&limit=1000", headers=bearer)
    assert [e["id"] for e in rest.get_json()["events"]] == everything[4:]
    assert client.get("/roster/api/events?after=-1", headers=bearer).status_code == 400
    for wrong in (f"Bearer {KEY[:-1]}x", f"Basic {KEY}", KEY, "Bearer "):
        assert client.get("/roster/api/events", headers={"Authorization": wrong}).status_code == 401
    monkeypatch.setenv("AL_ROSTER_EVENTS_KEY", "short")  # too short to be a key: none is taken
    assert client.get("/roster/api/events",
                      headers={"Authorization": "Bearer short"}).status_code == 401

    sign_in(client, Account.get(Account.sourced_id == "tch-1"))  # a teacher
    assert client.get("/roster/api/events").status_code == 403
    admin = Account.get(Account.sourced_id == "tch-2")
    admin.district_admin = True  # granted the district's console
    admin.save()
    sign_in(client, admin)
    own = client.get("/roster/api/events?limit=1000").get_json()["events"]
    assert own and {e["district"] for e in own} == {district.id}
    assert client.get("/roster/api/events?district=south").status_code == 403
    assert client.get("/roster/api/events?district=nowhere").status_code == 403
    staff = Account.get(Account.sourced_id == "stu-1")
    staff.is_staff = True
    staff.save()
    sign_in(client, staff)
    every = client.get("/roster/api/events?limit=1000").get_json()["events"]
    assert [e["id"] for e in every] == everything
    assert client.get("/roster/api/events?district=nowhere").status_code == 404
    only = client.get("/roster/api/events?district=south").get_json()["events"]
    assert {e["district"] for e in only} == {south.id}


def test_the_events_command(north, runner):
    everything = [e.id for e in RosterEvent.select().order_by(RosterEvent.id)]
    result = runner.invoke(cli, ["events", "--after", str(everything[1]), "--limit", "3",
                                 "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert [e["id"] for e in body["events"]] == everything[2:5] and body["next"] == everything[4]
    plain = runner.invoke(cli, ["events", "--district", "north", "--after", "0"])
    assert "member_added" in plain.output and "class=cls-alg1" in plain.output
    assert "No events after" in runner.invoke(cli, ["events", "--after",
                                                    str(everything[-1])]).output


def test_old_events_are_forgotten_by_the_nightly_clean_up(north, app, runner):
    total = RosterEvent.select().count()
    old = [e.id for e in RosterEvent.select().order_by(RosterEvent.id).limit(3)]
    RosterEvent.update(at=utcnow() - dt.timedelta(days=31)).where(RosterEvent.id.in_(old)).execute()
    storage = app.extensions["al_roster"].sync_options.storage_dir
    report = clean_up(storage, batch=2)
    assert report.events_deleted == 3
    assert RosterEvent.select().count() == total - 3
    assert api.events()[0].id > old[-1]
    assert jobs.clean_up()["eventsDeleted"] == 0  # what rq cron runs nightly
    assert "3 roster events" not in runner.invoke(cli, ["cleanup"]).output
    app.config["AL_ROSTER_EVENT_DAYS"] = 0
    with pytest.raises(ConfigurationError, match="AL_ROSTER_EVENT_DAYS"):
        Retention.from_config(app.config)
    app.config["AL_ROSTER_EVENT_DAYS"] = 1
    RosterEvent.update(at=utcnow() - dt.timedelta(days=2)).execute()
    assert clean_up(storage, Retention.from_config(app.config)).events_deleted == total - 3


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)  # SQLite: one writer at a time
def test_two_writers_at_once_never_let_the_cursor_skip_an_event(app):
    """Writers commit a moment after their ids are given out (the end of a long sync); a
    reader paging all the while still gets every event, once, in order."""
    district = add_district("north", "North District")
    written = event_log._write_staged
    stop = threading.Event()
    errors: list[BaseException] = []

    def slow_commit(db, current):
        span = written(db, current)
        time.sleep(random.uniform(0, 0.02))  # ids given out, not committed yet
        return span

    def writer(n):
        try:
            with app.app_context():
                for i in range(40):
                    with event_log.publishing():
                        rows = [dict(kind="member_added", district_id=district.id,
                                     user_sourced_id=f"w{n}-{i}-{k}") for k in range(3)]
                        event_log.stage_rows(database.obj, rows)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            database.close()

    seen: list[int] = []

    def reader():
        with app.app_context():
            cursor = 0
            while True:
                done = stop.is_set()  # one last look after the writers finished
                page = api.events(after=cursor, limit=7)
                seen.extend(e.id for e in page)
                cursor = page[-1].id if page else cursor
                if done and not page:
                    break
            database.close()

    event_log._write_staged = slow_commit
    try:
        writers = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
        look = threading.Thread(target=reader)
        look.start()
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=120)
        stop.set()
        look.join(timeout=60)
    finally:
        event_log._write_staged = written
    assert errors == []
    everything = [e.id for e in RosterEvent.select().order_by(RosterEvent.id)]
    assert len(everything) == 2 * 40 * 3
    assert seen == everything  # every one, once, in order
    assert len(feed()) == len(everything) and last_id() == everything[-1]
