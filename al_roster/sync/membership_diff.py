"""The membership half of reconciliation: who joins, returns to and leaves imported classes.

The changes are worked out first into a temporary table, in two set-based passes (the roster
against the memberships, and the memberships against the roster), then applied by three
statements that read only that table. A :class:`MemberScope` limits the passes to some
classes (an import, a class brought back) or to some people (those a sync touched).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..models import Enrollment, ImportedClass, Membership, RosterUser
from ..models.base import is_postgres
from ..models.current import CURRENT_STUDENT
from ..models.district import utcnow
from ..models.events import MEMBER_ADDED, MEMBER_REMOVED, MEMBER_RESTORED
from .change_events import member_select, stage_member_events
from .events import stage_returning

T_CLASS = ImportedClass._meta.table_name
T_MEMBER = Membership._meta.table_name
T_ENROL = Enrollment._meta.table_name
T_USER = RosterUser._meta.table_name
DIFF = "alr_reconcile_diff"
#: Filled by the caller with the sourcedIds of the people a people-scoped pass looks at.
PEOPLE = "alr_reconcile_people"
ADD, RESTORE, REMOVE = "add", "restore", "remove"


@dataclass
class MemberScope:
    """Which memberships a pass looks at: a district's active imported classes, optionally
    only ``class_ids``, optionally only the people listed in the :data:`PEOPLE` table."""

    district_id: int
    today: dt.date
    class_ids: list[int] | None = None
    people_only: bool = False
    params: list = field(init=False)

    def __post_init__(self):
        self.params = list(self.class_ids or [])

    def classes(self, p: str) -> str:
        if self.class_ids is None:
            return ""
        return f"AND ic.id IN ({', '.join([p] * len(self.class_ids))})"

    def people(self, column: str) -> str:
        return f'AND {column} IN (SELECT sourced_id FROM "{PEOPLE}")' if self.people_only else ""


def belongs(p: str) -> str:
    """SQL true when enrollment ``e`` of present user ``u`` puts its user in the class:
    a present teacher enrollment, or a current student one. Parameters:
    ``CURRENT_STUDENT.params(today)``."""
    return ("u.removed_run_id IS NULL AND ((e.role = 'teacher' AND e.removed_run_id IS NULL) "
            f"OR ({CURRENT_STUDENT.sql('e', p)}))")


def reconcile_members(db, scope: MemberScope, run_id: int | None) -> dict[str, int]:
    """Adds, restores and removes memberships in scope; returns how many of each."""
    _plan(db, scope)
    try:
        now = utcnow()
        return {"members_added": _add_students(db, scope, run_id, now),
                "members_restored": _restore(db, run_id),
                "members_removed": _remove(db, run_id, now)}
    finally:
        db.execute_sql(f'DROP TABLE IF EXISTS "{DIFF}"')


def _plan(db, scope: MemberScope) -> None:
    p = db.param
    db.execute_sql(f'DROP TABLE IF EXISTS "{DIFF}"')
    db.execute_sql(f'CREATE TEMPORARY TABLE "{DIFF}" (member_id INTEGER, class_id INTEGER, '
                   "user_sourced_id TEXT, role TEXT, action TEXT)")
    today = CURRENT_STUDENT.params(scope.today)
    # Everyone the roster puts in a class, against their membership: new students are
    # added; removed members (students or teachers) whose enrollment is back are restored.
    db.execute_sql(
        f'INSERT INTO "{DIFF}" (member_id, class_id, user_sourced_id, role, action) '
        f"SELECT m.id, ic.id, e.user_sourced_id, e.role, CASE WHEN m.id IS NULL "
        f"THEN '{ADD}' ELSE '{RESTORE}' END FROM \"{T_CLASS}\" ic JOIN \"{T_ENROL}\" e "
        "ON e.district_id = ic.district_id AND e.class_sourced_id = ic.sourced_id "
        f'JOIN "{T_USER}" u ON u.district_id = e.district_id AND u.sourced_id = e.user_sourced_id '
        f'LEFT JOIN "{T_MEMBER}" m ON m.imported_class_id = ic.id '
        f"AND m.user_sourced_id = e.user_sourced_id {scope.people('m.user_sourced_id')} "
        f"WHERE ic.district_id = {p} AND ic.status = 'active' {scope.classes(p)} "
        f"{scope.people('e.user_sourced_id')} AND {belongs(p)} "
        "AND ((m.id IS NULL AND e.role = 'student') OR m.removed_at IS NOT NULL)",
        [scope.district_id, *scope.params, *today])
    # Members no enrollment keeps in their class any more.
    db.execute_sql(
        f'INSERT INTO "{DIFF}" (member_id, class_id, user_sourced_id, role, action) '
        f"SELECT m.id, m.imported_class_id, m.user_sourced_id, m.role, '{REMOVE}' "
        f'FROM "{T_MEMBER}" m JOIN "{T_CLASS}" ic ON ic.id = m.imported_class_id '
        f"WHERE m.district_id = {p} AND ic.status = 'active' {scope.classes(p)} "
        f"{scope.people('m.user_sourced_id')} AND m.removed_at IS NULL "
        f'AND NOT EXISTS (SELECT 1 FROM "{T_ENROL}" e JOIN "{T_USER}" u '
        "ON u.district_id = e.district_id AND u.sourced_id = e.user_sourced_id "
        "WHERE e.district_id = ic.district_id AND e.class_sourced_id = ic.sourced_id "
        f"AND e.user_sourced_id = m.user_sourced_id {scope.people('e.user_sourced_id')} "
        f"AND {belongs(p)})",
        [scope.district_id, *scope.params, *today])


def _add_students(db, scope: MemberScope, run_id: int | None, now) -> int:
    p = db.param
    # ON CONFLICT: an import and a sync (or two imports) may add the same student at once;
    # DISTINCT: a student may have two enrollments in one class.
    added = db.execute_sql(
        f'INSERT INTO "{T_MEMBER}" (imported_class_id, district_id, user_sourced_id, role, '
        f"added_at, added_run_id) SELECT DISTINCT d.class_id, {p}, d.user_sourced_id, "
        f"'student', {p}, CAST({p} AS INTEGER) FROM \"{DIFF}\" d WHERE d.action = '{ADD}' "
        "ON CONFLICT (imported_class_id, user_sourced_id) DO NOTHING",
        [scope.district_id, now, run_id]).rowcount
    if added:  # the rows this statement made: those added at its moment
        stage_member_events(db, MEMBER_ADDED, DIFF, ADD, run_id,
                            "m.imported_class_id = d.class_id AND m.user_sourced_id = "
                            f"d.user_sourced_id AND m.added_at = {p}", [now])
    return added


def _restore(db, run_id: int | None) -> int:
    """Removed members whose enrollment is back return: the same row, so their work too."""
    dml = (f'UPDATE "{T_MEMBER}" SET removed_at = NULL, removed_run_id = NULL WHERE id IN '
           f'(SELECT d.member_id FROM "{DIFF}" d WHERE d.action = \'{RESTORE}\') '
           "AND removed_at IS NOT NULL")
    if is_postgres(db):  # the rows this statement brought back, whoever else is writing
        return stage_returning(
            db, dml + " RETURNING id", [],
            member_select(db, MEMBER_RESTORED, f'done JOIN "{T_MEMBER}" m ON m.id = done.id')
            + " ORDER BY m.imported_class_id, m.user_sourced_id", [run_id])
    restored = db.execute_sql(dml).rowcount
    if restored:  # one writer at a time: what the diff names and is back is this statement's
        stage_member_events(db, MEMBER_RESTORED, DIFF, RESTORE, run_id,
                            "m.id = d.member_id AND m.removed_at IS NULL")
    return restored


def _remove(db, run_id: int | None, now) -> int:
    """Removes departed members softly; a teacher only while another teacher stays."""
    p = db.param
    teacher_stays = (
        f'EXISTS (SELECT 1 FROM "{T_MEMBER}" o WHERE o.imported_class_id = d.class_id '
        "AND o.role = 'teacher' AND o.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
        f"\"{DIFF}\" g WHERE g.member_id = o.id AND g.action = '{REMOVE}'))")
    removed = db.execute_sql(
        f'UPDATE "{T_MEMBER}" SET removed_at = {p}, removed_run_id = {p} WHERE id IN ('
        f'SELECT d.member_id FROM "{DIFF}" d WHERE d.action = \'{REMOVE}\' '
        f"AND (d.role <> 'teacher' OR {teacher_stays}))",
        [now, run_id]).rowcount
    if removed:  # the rows this statement removed: those removed at its moment
        stage_member_events(db, MEMBER_REMOVED, DIFF, REMOVE, run_id,
                            f"m.id = d.member_id AND m.removed_at = {p}", [now])
    return removed
