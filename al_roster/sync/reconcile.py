"""Imported classes follow the roster copy: after every applied sync, undo and import.

Set-based, in the caller's transaction, no query per student:
- a student with a present, current enrollment is in the class (added, or brought back with
  their work if they had been removed); one whose enrollment was removed or has ended is
  removed softly (the membership is marked, never deleted);
- teachers join a class by importing it; one whose teacher enrollment is removed leaves it
  (softly, coming back with the enrollment), but the last teacher of a class keeps it, so
  a class is never left without anyone to teach it;
- a class removed in the SIS is archived (and un-archived if the SIS brings it back);
  archived classes are left as they were, read-only;
- titles follow the SIS, and so do the names and e-mails of accounts.

How much is looked at:
- ``class_ids`` (an import): those classes, every member; names are left alone;
- a sync still running (the nightly case): only the classes the run changed, and only the
  people whose enrollments or user records the run changed or whose enrollments began or
  ended since the district was last reconciled, plus every member of a class the run
  brought back. A quiet night with millions of enrollments costs a scan, not a comparison
  of every membership;
- anything else (the first sync, an undo, a call by hand): the whole district.

Whether an enrollment has begun or ended is read on the district's own day
(:meth:`~al_roster.models.District.today`), as sign-in and import read it.
"""
from __future__ import annotations

import datetime as dt

import peewee

from ..models import (
    Account,
    District,
    Enrollment,
    ImportedClass,
    RosterClass,
    RosterUser,
    SyncRun,
)
from ..models.base import is_postgres
from ..models.classes import ACTIVE, ARCHIVED
from ..models.district import utcnow
from ..models.events import CLASS_ARCHIVED, CLASS_RESTORED
from ..models.runs import APPLIED, PARTIAL, RUNNING, UNDONE
from .change_events import stage_class_events, stage_renames
from .membership_diff import PEOPLE, MemberScope, reconcile_members

T_CLASS = ImportedClass._meta.table_name
T_ENROL = Enrollment._meta.table_name
T_USER = RosterUser._meta.table_name
T_RCLASS = RosterClass._meta.table_name
T_ACCOUNT = Account._meta.table_name
COUNTS = ("classes_archived", "classes_restored", "members_added", "members_restored",
          "members_removed", "titles_updated", "accounts_updated")


def reconcile_imported_classes(db: peewee.Database, district_id: int, run_id: int | None,
                               class_ids: list[int] | None = None,
                               today: dt.date | None = None) -> dict[str, int]:
    """Brings the district's imported classes in line with its roster; returns the counts."""
    counts = dict.fromkeys(COUNTS, 0)
    if class_ids is not None and not class_ids:
        return counts
    district = District.get_by_id(district_id)
    today = today or district.today()
    since = None if class_ids is not None else _reconciled_since(district, run_id)
    # A nightly looks only at the classes the run changed; otherwise at every class.
    limit = _Classes(db.param, district_id, class_ids, run_id if since is not None else None)
    counts["classes_archived"] = _archive(db, district_id, run_id, limit)
    restored = _restore_classes(db, district_id, run_id, limit)
    counts["classes_restored"] = len(restored)
    scope = MemberScope(district_id, today, class_ids)
    if since is None:
        _add(counts, reconcile_members(db, scope, run_id))
    else:
        _collect_people(db, district_id, run_id, since, today)
        try:
            scope.people_only = True
            _add(counts, reconcile_members(db, scope, run_id))
        finally:
            db.execute_sql(f'DROP TABLE IF EXISTS "{PEOPLE}"')
        if restored:  # their rosters may have moved on while they were archived
            _add(counts, reconcile_members(db, MemberScope(district_id, today, restored),
                                           run_id))
    counts["titles_updated"] = _follow_titles(db, district_id, run_id, limit)
    if class_ids is None:
        counts["accounts_updated"] = _follow_names(db, district_id,
                                                   None if since is None else run_id)
    return counts


def _add(counts: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        counts[key] += value


def _reconciled_since(district: District, run_id: int | None) -> dt.date | None:
    """The district's day when it was last reconciled as a whole, if only the changes since
    then need looking at: that is, while a sync is running and an earlier one was applied.

    Read off the latest start of a run that reconciled (applied, partly applied or undone):
    each reconciled after it started, so no day is skipped, not even when a run crosses the
    district's midnight."""
    if run_id is None:
        return None
    run = SyncRun.get_or_none(SyncRun.id == run_id)
    if run is None or run.status != RUNNING:
        return None
    last = (SyncRun.select(peewee.fn.MAX(SyncRun.started_at))
            .where((SyncRun.district == district.id) & (SyncRun.id != run_id)
                   & SyncRun.status.in_((APPLIED, PARTIAL, UNDONE))).scalar())
    if last is None:
        return None
    if isinstance(last, str):  # SQLite hands back text from an aggregate
        last = dt.datetime.fromisoformat(last)
    return district.date_at(last)


def _collect_people(db, district_id: int, run_id: int, since: dt.date, today: dt.date) -> None:
    """Fills the people table: whoever the run changed, and whoever's enrollment began or
    ended between ``since`` and ``today``."""
    p = db.param
    db.execute_sql(f'DROP TABLE IF EXISTS "{PEOPLE}"')
    db.execute_sql(f'CREATE TEMPORARY TABLE "{PEOPLE}" (sourced_id TEXT PRIMARY KEY)')
    first, last = since.isoformat(), today.isoformat()
    # One index-backed look each (a run's rows, one day's starts, one day's ends), not an
    # OR that reads every enrollment of the district.
    enrolled = f'SELECT e.user_sourced_id FROM "{T_ENROL}" e WHERE e.district_id = {p} AND '
    db.execute_sql(
        f'INSERT INTO "{PEOPLE}" (sourced_id) SELECT e.user_sourced_id '
        f'FROM "{T_ENROL}" e {_by_run(db, T_ENROL)} WHERE e.district_id = {p} '
        f"AND e.last_run_id = {p} "
        f"UNION {enrolled}e.begin_date > {p} AND e.begin_date <= {p} "
        f"UNION {enrolled}e.end_date >= {p} AND e.end_date < {p} "
        f'UNION SELECT u.sourced_id FROM "{T_USER}" u {_by_run(db, T_USER)} '
        f"WHERE u.district_id = {p} AND u.last_run_id = {p}",
        [district_id, run_id, district_id, first, last, district_id, first, last,
         district_id, run_id])
    if is_postgres(db):
        db.execute_sql(f'ANALYZE "{PEOPLE}"')  # usually a few rows: let the planner know


def _by_run(db, table: str) -> str:
    """On SQLite, the index of a run's rows, named: the statistics a first load leaves say
    every row has the same ``last_run_id``, so the planner would rather read them all."""
    return "" if is_postgres(db) else f'INDEXED BY "{table}_district_id_last_run_id"'


class _Classes:
    """SQL limiting class-level work to some imported classes (by id), to the classes a run
    changed in the roster copy, or to none of them."""

    def __init__(self, p: str, district_id: int, class_ids: list[int] | None,
                 changed_by_run: int | None):
        self.p, self.district_id = p, district_id
        self.class_ids, self.run_id = class_ids, changed_by_run

    def sql(self, table: str) -> tuple[str, list]:
        p, parts, params = self.p, [], []
        if self.class_ids is not None:
            parts.append(f'AND "{table}".id IN ({", ".join([p] * len(self.class_ids))})')
            params += [int(i) for i in self.class_ids]
        if self.run_id is not None:
            # Not correlated: one pass over the roster's classes, whatever the number imported.
            parts.append(f'AND "{table}".sourced_id IN (SELECT c.sourced_id FROM "{T_RCLASS}" c '
                         f"WHERE c.district_id = {p} AND c.last_run_id = {p})")
            params += [self.district_id, self.run_id]
        return " ".join(parts), params


def _gone(table: str) -> str:
    return (f'NOT EXISTS (SELECT 1 FROM "{T_RCLASS}" r WHERE r.district_id = "{table}".district_id '
            f'AND r.sourced_id = "{table}".sourced_id AND r.removed_run_id IS NULL)')


def _archive(db, district_id: int, run_id: int | None, classes: _Classes) -> int:
    p = db.param
    limit, params = classes.sql(T_CLASS)
    where = (f'"{T_CLASS}".district_id = {p} AND "{T_CLASS}".status = {p} {limit} '
             f"AND {_gone(T_CLASS)}")
    stage_class_events(db, CLASS_ARCHIVED, run_id, where, [district_id, ACTIVE, *params])
    return db.execute_sql(
        f'UPDATE "{T_CLASS}" SET status = {p}, archived_at = {p}, archived_run_id = {p} '
        f"WHERE {where}", [ARCHIVED, utcnow(), run_id, district_id, ACTIVE, *params]).rowcount


def _restore_classes(db, district_id: int, run_id: int | None, classes: _Classes) -> list[int]:
    """Un-archives the classes the SIS brought back; returns their ids.

    Only classes archived by a sync come back by themselves; others were archived by people.
    """
    p = db.param
    limit, params = classes.sql(T_CLASS)
    ids = [r[0] for r in db.execute_sql(
        f'SELECT id FROM "{T_CLASS}" WHERE district_id = {p} AND status = {p} '
        f"AND archived_run_id IS NOT NULL {limit} AND NOT {_gone(T_CLASS)}",
        [district_id, ARCHIVED, *params]).fetchall()]
    if ids:
        stage_class_events(db, CLASS_RESTORED, run_id,
                           f'"{T_CLASS}".id IN ({", ".join([p] * len(ids))})', ids)
        (ImportedClass.update(status=ACTIVE, archived_at=None, archived_run_id=None)
         .where(ImportedClass.id.in_(ids)).execute())
    return ids


def _follow_titles(db, district_id: int, run_id: int | None, classes: _Classes) -> int:
    p = db.param
    limit, params = classes.sql(T_CLASS)
    where = (f'"{T_CLASS}".district_id = {p} AND r.district_id = "{T_CLASS}".district_id '
             f'AND r.sourced_id = "{T_CLASS}".sourced_id AND r.removed_run_id IS NULL '
             f'AND r.title IS NOT NULL AND r.title <> "{T_CLASS}".title {limit}')
    stage_renames(db, run_id, where, [district_id, *params])
    return db.execute_sql(f'UPDATE "{T_CLASS}" SET title = r.title FROM "{T_RCLASS}" r '
                          f"WHERE {where}", [district_id, *params]).rowcount


def _follow_names(db, district_id: int, run_id: int | None) -> int:
    """Account names and e-mails follow the roster; ``run_id``: only users it changed."""
    p = db.param
    differs = " OR ".join(
        f'COALESCE(u.{c}, \'\') <> COALESCE("{T_ACCOUNT}".{c}, \'\')'
        for c in ("given_name", "family_name", "email", "username"))
    changed, params = ("", []) if run_id is None else (f"AND u.last_run_id = {p}", [run_id])
    return db.execute_sql(
        f'UPDATE "{T_ACCOUNT}" SET given_name = u.given_name, family_name = u.family_name, '
        f'email = u.email, username = u.username FROM "{T_USER}" u '
        f'WHERE "{T_ACCOUNT}".district_id = {p} AND u.district_id = "{T_ACCOUNT}".district_id '
        f'AND u.sourced_id = "{T_ACCOUNT}".sourced_id AND u.removed_run_id IS NULL '
        f"{changed} AND ({differs})",
        [district_id, *params]).rowcount
