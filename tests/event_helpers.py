"""Shared by the roster event tests: the school with imported classes, reading the feed, and a
receiver that records each signal with whether its event was committed when it came."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager

from packages import write_package
from rosters import account_for, school
from test_reconcile import TODAY

from al_roster.models import RosterEvent
from al_roster.services.class_import import import_classes
from al_roster.services.districts import add_district
from al_roster.signals import EVENT_SIGNALS
from al_roster.sync.runner import sync_package


def north_school(app, tmp_path, *, imported=True):
    """North, synced from ``rosters.school``: Ada (tch-1) and Grace (tch-2) with accounts,
    stu-1 with one; with ``imported``, Ada imported Algebra I (cls-alg1) and Geometry (cls-co),
    Grace Geometry too. Returns (district, sync(files) -> run)."""
    district = add_district("north", "North District", plan="prime", rostering=True,
                            deletion_threshold=1.0)
    options = app.extensions["al_roster"].sync_options
    steps = iter(range(100))

    def sync(files):
        return sync_package(district, write_package(tmp_path / f"p{next(steps)}", files), options)

    assert sync(school(TODAY)).status == "applied"
    ada = account_for(district, "tch-1", "teacher")
    grace = account_for(district, "tch-2", "teacher")
    account_for(district, "stu-1", "student")
    if imported:
        import_classes(ada, ["cls-alg1", "cls-co"], today=TODAY)
        import_classes(grace, ["cls-co"], today=TODAY)
    return district, sync


def last_id() -> int:
    return RosterEvent.select(RosterEvent.id).order_by(RosterEvent.id.desc()).scalar() or 0


def feed(after: int = 0) -> list[tuple]:
    """(kind, class sourcedId, user sourcedId, payload) of the events after ``after``."""
    return [(e.kind, e.class_sourced_id, e.user_sourced_id, e.payload)
            for e in RosterEvent.select().where(RosterEvent.id > after).order_by(RosterEvent.id)]


def committed_ids(db_url: str, ids: list[int]) -> set[int]:
    """Which of the event ids another connection sees: what is committed."""
    marks = ", ".join(["?"] * len(ids))
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.split(":///", 1)[1])
        try:
            rows = conn.execute(f"SELECT id FROM roster_event WHERE id IN ({marks})", ids)
            return {r[0] for r in rows}
        finally:
            conn.close()
    import psycopg2
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT id FROM roster_event WHERE id IN ({marks.replace('?', '%s')})",
                        ids)
            return {r[0] for r in cur.fetchall()}
    finally:
        conn.close()


class Received:
    """What the roster signals delivered: (kind, event id, committed then, account id)."""

    def __init__(self, db_url: str):
        self.db_url = db_url
        self.items: list[tuple] = []

    def __call__(self, sender, event, account=None, **extra):
        seen = committed_ids(self.db_url, [event.id])
        self.items.append((event.kind, event.id, event.id in seen,
                           account.id if account is not None else None))

    def kinds(self) -> list[str]:
        return [kind for kind, *_ in self.items]


@contextmanager
def receiving(app, db_url: str):
    """Connects one recording receiver to every roster signal, for ``app``."""
    received = Received(db_url)
    for signal in EVENT_SIGNALS.values():
        signal.connect(received, app)
    try:
        yield received
    finally:
        for signal in EVENT_SIGNALS.values():
            signal.disconnect(received, app)
