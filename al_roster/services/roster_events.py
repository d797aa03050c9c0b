"""Reading roster events in order (the cursor), announcing them as signals, forgetting old ones.

The cursor: :func:`events` returns the events with ids above ``after``, oldest first. A
consumer keeps the id of the last event it handled and asks again from there; every event
comes exactly once across pages, even while syncs and sign-ins write new ones (see
:mod:`al_roster.sync.events` for why ids commit in order). Events are kept
``AL_ROSTER_EVENT_DAYS`` (30) days: a consumer that fell further behind starts again from
the oldest kept (:func:`oldest_id` says which).
"""
from __future__ import annotations

import datetime as dt
import logging

from flask import current_app, has_app_context

from ..models import Account, RosterEvent, database
from ..models.events import ACCOUNT_CREATED
from ..signals import EVENT_SIGNALS
from ..sync import events as event_log

log = logging.getLogger(__name__)

#: Most events one page returns.
MAX_LIMIT = 1_000
DEFAULT_LIMIT = 100


def events(after: int = 0, limit: int = DEFAULT_LIMIT,
           district_id: int | None = None) -> list[RosterEvent]:
    """The events after the cursor ``after`` (an event id; 0 for the oldest kept), at most
    ``limit`` (1 to 1,000), oldest first; only ``district_id``'s when given."""
    after, limit = max(0, int(after)), min(max(1, int(limit)), MAX_LIMIT)
    query = RosterEvent.select().where(RosterEvent.id > after)
    if district_id is not None:
        query = query.where(RosterEvent.district == district_id)
    return list(query.order_by(RosterEvent.id).limit(limit))


def oldest_id() -> int | None:
    return RosterEvent.select(RosterEvent.id).order_by(RosterEvent.id).scalar()


def announce(first: int, last: int) -> None:
    """Sends each event with ids in (``first``, ``last``] as the signal of its kind, in order,
    with the current app as sender (see :mod:`al_roster.signals`). Each receiver is called on
    its own: one that raises is logged, and the others still get the event."""
    if not has_app_context():
        log.debug("events %s-%s committed outside an app: no signals sent", first + 1, last)
        return
    if not any(signal.receivers for signal in EVENT_SIGNALS.values()):
        return
    app = current_app._get_current_object()
    for page in event_log.committed(first, last):
        ids = {e.account_id for e in page if e.account_id is not None}
        accounts = {a.id: a for a in Account.select().where(Account.id.in_(ids))} if ids else {}
        for event in page:
            extra = {"via": (event.payload or {}).get("via")} if event.kind == ACCOUNT_CREATED else {}
            _send(app, event, account=accounts.get(event.account_id), **extra)


def _send(app, event: RosterEvent, **kwargs) -> None:
    signal = EVENT_SIGNALS.get(event.kind)
    if signal is None:
        return
    for receiver in signal.receivers_for(app):
        try:
            receiver(app, event=event, **kwargs)
        except Exception:  # the change is committed: a host's receiver never undoes it
            log.exception("receiver %r of %s (event %s) failed", receiver, event.kind, event.id)


def forget_old_events(cutoff: dt.datetime, batches, batch: int) -> int:
    """Deletes the events older than ``cutoff``, a batch at a time (``batches``: the
    clean-up's :class:`~al_roster.services.retention.Batches`); returns how many."""
    db, p = database.obj, database.obj.param
    table = RosterEvent._meta.table_name
    sql = (f'DELETE FROM "{table}" WHERE id IN (SELECT id FROM "{table}" WHERE at < {p} '
           f"ORDER BY id LIMIT {int(batch)})")
    return batches.run(lambda: db.execute_sql(sql, [cutoff]).rowcount, batch)

