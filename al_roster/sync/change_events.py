"""The events of each change to imported classes, members and accounts, staged set-based.

One ``INSERT ... SELECT`` per kind, in the transaction of the change (see
:mod:`al_roster.sync.events`): class events select the rows an archive, restore or rename is
about to touch, with the statement's own condition; membership events read the
reconciliation's diff against the memberships its statements just changed.
"""
from __future__ import annotations

from collections.abc import Sequence

import peewee

from ..models import Account, ImportedClass, Membership, RosterClass
from ..models.events import (
    ACCOUNT_CREATED,
    ACCOUNT_RELINKED,
    CLASS_RENAMED,
    MEMBER_ADDED,
    MEMBER_RESTORED,
)
from .events import json_object, json_text, stage, stage_rows

T_CLASS = ImportedClass._meta.table_name
T_MEMBER = Membership._meta.table_name
T_ACCOUNT = Account._meta.table_name
T_RCLASS = RosterClass._meta.table_name


def stage_class_events(db: peewee.Database, kind: str, run_id: int | None, where: str,
                       params: Sequence = ()) -> None:
    """``kind`` for each imported class ``where`` (SQL on the unaliased class table) selects,
    with its title."""
    p = db.param
    payload = json_text(db, json_object(db, [("title", f'"{T_CLASS}".title')]))
    stage(db, f"SELECT '{kind}', \"{T_CLASS}\".district_id, \"{T_CLASS}\".id, "
              f'"{T_CLASS}".sourced_id, NULL, NULL, CAST({p} AS INTEGER), {payload} '
              f'FROM "{T_CLASS}" WHERE {where} ORDER BY "{T_CLASS}".id', [run_id, *params])


def stage_renames(db: peewee.Database, run_id: int | None, where: str,
                  params: Sequence = ()) -> None:
    """A ``class_renamed`` for each class ``where`` selects (SQL on the unaliased class table
    and its roster class ``r``), from its title to the roster's."""
    p = db.param
    payload = json_text(db, json_object(db, [
        ("before", json_object(db, [("title", f'"{T_CLASS}".title')])),
        ("after", json_object(db, [("title", "r.title")]))]))
    stage(db, f"SELECT '{CLASS_RENAMED}', \"{T_CLASS}\".district_id, \"{T_CLASS}\".id, "
              f'"{T_CLASS}".sourced_id, NULL, NULL, CAST({p} AS INTEGER), {payload} '
              f'FROM "{T_CLASS}", "{T_RCLASS}" r WHERE {where} ORDER BY "{T_CLASS}".id',
              [run_id, *params])


def member_select(db: peewee.Database, kind: str, source: str) -> str:
    """The SELECT of ``kind`` for the memberships ``m`` that ``source`` (the FROM clause's
    start, ending in a join condition on ``m``) names; parameter: the run id."""
    p = db.param
    payload = json_text(db, json_object(db, [("role", "m.role")]))
    return (f"SELECT DISTINCT '{kind}', m.district_id, m.imported_class_id, ic.sourced_id, "
            f"m.user_sourced_id, a.id, CAST({p} AS INTEGER), {payload} "
            f'FROM {source} JOIN "{T_CLASS}" ic ON ic.id = m.imported_class_id '
            f'LEFT JOIN "{T_ACCOUNT}" a ON a.district_id = m.district_id '
            "AND a.sourced_id = m.user_sourced_id")


def stage_member_events(db: peewee.Database, kind: str, diff: str, action: str,
                        run_id: int | None, changed: str, params: Sequence = ()) -> None:
    """``kind`` for each membership the diff table's ``action`` rows name that ``changed``
    (SQL on membership ``m`` and diff row ``d``) says the statement just changed."""
    p = db.param
    source = f'"{diff}" d JOIN "{T_MEMBER}" m ON {changed}'
    stage(db, f"{member_select(db, kind, source)} WHERE d.action = {p} "
              "ORDER BY m.imported_class_id, m.user_sourced_id", [run_id, *params, action])


def stage_joins(db: peewee.Database, account: Account, role: str, class_ids: str,
                params: Sequence = ()) -> None:
    """``member_added`` (or ``member_restored``) for each imported class whose id the SQL
    ``class_ids`` selects and that ``account`` is not an active member of, staged before the
    statement that puts them in."""
    p = db.param
    payload = json_text(db, json_object(db, [("role", f"CAST({p} AS TEXT)")]))
    stage(db,
          f"SELECT CASE WHEN m.id IS NULL THEN '{MEMBER_ADDED}' ELSE '{MEMBER_RESTORED}' END, "
          f"ic.district_id, ic.id, ic.sourced_id, CAST({p} AS TEXT), CAST({p} AS INTEGER), "
          f'CAST(NULL AS INTEGER), {payload} FROM "{T_CLASS}" ic LEFT JOIN "{T_MEMBER}" m '
          f"ON m.imported_class_id = ic.id AND m.user_sourced_id = {p} "
          f"WHERE ic.id IN ({class_ids}) AND (m.id IS NULL OR m.removed_at IS NOT NULL) "
          "ORDER BY ic.id",
          [account.sourced_id, account.id, role, account.sourced_id, *params])


def stage_placements(db: peewee.Database, account: Account, class_ids: Sequence[int],
                     added_at) -> None:
    """``member_added`` (made at ``added_at``) or ``member_restored`` for the student
    ``account``'s memberships of ``class_ids``, which a placement just made or brought back."""
    if not class_ids:
        return
    p = db.param
    payload = json_text(db, json_object(db, [("role", "m.role")]))
    stage(db,
          f"SELECT CASE WHEN m.added_at = {p} THEN '{MEMBER_ADDED}' ELSE '{MEMBER_RESTORED}' "
          f"END, m.district_id, ic.id, ic.sourced_id, m.user_sourced_id, CAST({p} AS INTEGER), "
          f'CAST(NULL AS INTEGER), {payload} FROM "{T_MEMBER}" m JOIN "{T_CLASS}" ic '
          f"ON ic.id = m.imported_class_id WHERE m.user_sourced_id = {p} "
          f"AND m.imported_class_id IN ({', '.join([p] * len(class_ids))}) ORDER BY ic.id",
          [added_at, account.id, account.sourced_id, *class_ids])


def stage_account_created(db: peewee.Database, account: Account, via: str) -> None:
    stage_rows(db, [dict(kind=ACCOUNT_CREATED, district_id=account.district_id,
                         user_sourced_id=account.sourced_id, account_id=account.id,
                         payload={"via": via})])


def stage_account_relinked(db: peewee.Database, account: Account, old: str, new: str) -> None:
    stage_rows(db, [dict(kind=ACCOUNT_RELINKED, district_id=account.district_id,
                         user_sourced_id=new, account_id=account.id,
                         payload={"before": {"sourcedId": old}, "after": {"sourcedId": new}})])


def stage_run_event(db: peewee.Database, kind: str, run, payload: dict) -> None:
    """``run_applied`` or ``run_undone``: after the run's class and member events."""
    stage_rows(db, [dict(kind=kind, district_id=run.district_id, run_id=run.id,
                         payload=payload)])
