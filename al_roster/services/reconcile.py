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

``class_ids`` limits the work to some classes (an import); names are then left alone, as
only a sync changes them.
"""
from __future__ import annotations

import datetime as dt

import peewee

from ..models import Account, Enrollment, ImportedClass, Membership, RosterClass, RosterUser
from ..models.classes import ACTIVE, ARCHIVED
from ..models.district import utcnow

T_CLASS = ImportedClass._meta.table_name
T_MEMBER = Membership._meta.table_name
T_ENROL = Enrollment._meta.table_name
T_USER = RosterUser._meta.table_name
T_RCLASS = RosterClass._meta.table_name
T_ACCOUNT = Account._meta.table_name

STUDENTS_ONLY = "e.role = 'student'"
TEACHERS_AND_STUDENTS = "e.role IN ('teacher', 'student')"


def _desired(p: str, class_filter: str, roles: str) -> str:
    """(class id, user sourcedId, role) of everyone the roster says belongs in each class.

    Parameters: district, the class filter's ids, today, today.
    """
    return (
        f"SELECT ic.id AS class_id, e.user_sourced_id AS user_sourced_id, MAX(e.role) AS role "
        f'FROM "{T_CLASS}" ic JOIN "{T_ENROL}" e ON e.district_id = ic.district_id '
        "AND e.class_sourced_id = ic.sourced_id "
        f'JOIN "{T_USER}" u ON u.district_id = e.district_id AND u.sourced_id = e.user_sourced_id '
        f"WHERE ic.district_id = {p} AND ic.status = 'active' {class_filter} "
        f"AND e.removed_run_id IS NULL AND u.removed_run_id IS NULL AND {roles} "
        "AND (e.role = 'teacher' OR ("
        f"(e.begin_date IS NULL OR e.begin_date <= {p}) "
        f"AND (e.end_date IS NULL OR e.end_date >= {p}))) "
        "GROUP BY ic.id, e.user_sourced_id")


class _Scope:
    """The SQL and parameters that limit reconciliation to some classes, or to none."""

    def __init__(self, db, district_id: int, class_ids: list[int] | None, today: dt.date):
        p = db.param
        self.db, self.district_id = db, district_id
        self.ids = None if class_ids is None else [int(i) for i in class_ids]
        self.sql = "" if self.ids is None else f"AND ic.id IN ({', '.join([p] * len(self.ids))})"
        self.params = list(self.ids or [])
        self.desired_params = [district_id, *self.params, today.isoformat(), today.isoformat()]

    def desired(self, roles: str) -> str:
        return _desired(self.db.param, self.sql, roles)


def reconcile_imported_classes(db: peewee.Database, district_id: int, run_id: int | None,
                               class_ids: list[int] | None = None,
                               today: dt.date | None = None) -> dict[str, int]:
    """Brings the district's imported classes in line with its roster; returns the counts."""
    counts = dict.fromkeys(("classes_archived", "classes_restored", "members_added",
                            "members_restored", "members_removed", "titles_updated",
                            "accounts_updated"), 0)
    if class_ids is not None and not class_ids:
        return counts
    scope = _Scope(db, district_id, class_ids, today or dt.date.today())
    counts.update(_archive(db, scope, run_id))
    now = utcnow()
    counts["members_added"] = _add_students(db, scope, run_id, now)
    counts["members_restored"] = _restore_members(db, scope)
    counts["members_removed"] = _remove_departed(db, scope, run_id, now)
    counts["titles_updated"] = _follow_titles(db, scope)
    if class_ids is None:
        counts["accounts_updated"] = _follow_names(db, district_id)
    return counts


def _add_students(db, scope: _Scope, run_id: int | None, now) -> int:
    p = db.param
    # ON CONFLICT: an import and a sync (or two imports) may add the same student at once.
    return db.execute_sql(
        f'INSERT INTO "{T_MEMBER}" (imported_class_id, district_id, user_sourced_id, role, '
        f"added_at, added_run_id) SELECT d.class_id, {p}, d.user_sourced_id, d.role, {p}, {p} "
        f"FROM ({scope.desired(STUDENTS_ONLY)}) d WHERE NOT EXISTS (SELECT 1 FROM "
        f'"{T_MEMBER}" m WHERE m.imported_class_id = d.class_id '
        "AND m.user_sourced_id = d.user_sourced_id) "
        "ON CONFLICT (imported_class_id, user_sourced_id) DO NOTHING",
        [scope.district_id, now, run_id, *scope.desired_params]).rowcount


def _restore_members(db, scope: _Scope) -> int:
    """Removed members whose enrollment is back return: the same row, so their work too."""
    return db.execute_sql(
        f'UPDATE "{T_MEMBER}" SET removed_at = NULL, removed_run_id = NULL, role = d.role '
        f"FROM ({scope.desired(TEACHERS_AND_STUDENTS)}) d "
        f'WHERE "{T_MEMBER}".imported_class_id = d.class_id '
        f'AND "{T_MEMBER}".user_sourced_id = d.user_sourced_id '
        f'AND "{T_MEMBER}".removed_at IS NOT NULL',
        scope.desired_params).rowcount


def _remove_departed(db, scope: _Scope, run_id: int | None, now) -> int:
    p = db.param
    desired = scope.desired(TEACHERS_AND_STUDENTS)
    # The last active teacher of a class is never removed: the class would have no owner.
    keep_last_teacher = (
        f"AND NOT (m.role = 'teacher' AND NOT EXISTS (SELECT 1 FROM \"{T_MEMBER}\" o "
        "WHERE o.imported_class_id = m.imported_class_id AND o.role = 'teacher' "
        "AND o.removed_at IS NULL AND o.id <> m.id AND EXISTS (SELECT 1 FROM "
        f"({desired}) d2 WHERE d2.class_id = o.imported_class_id "
        "AND d2.user_sourced_id = o.user_sourced_id)))")
    departed = (
        f'SELECT m.id FROM "{T_MEMBER}" m JOIN "{T_CLASS}" ic ON ic.id = m.imported_class_id '
        f"WHERE ic.district_id = {p} AND ic.status = 'active' {scope.sql} "
        f"AND m.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM ({desired}) d "
        "WHERE d.class_id = m.imported_class_id "
        f"AND d.user_sourced_id = m.user_sourced_id) {keep_last_teacher}")
    return db.execute_sql(
        f'UPDATE "{T_MEMBER}" SET removed_at = {p}, removed_run_id = {p} WHERE id IN ({departed})',
        [now, run_id, scope.district_id, *scope.params, *scope.desired_params,
         *scope.desired_params]).rowcount


def _archive(db, scope: _Scope, run_id: int | None) -> dict[str, int]:
    p = db.param
    limit = "" if scope.ids is None else f"AND id IN ({', '.join([p] * len(scope.ids))})"
    gone = (f'NOT EXISTS (SELECT 1 FROM "{T_RCLASS}" r WHERE r.district_id = "{T_CLASS}".district_id '
            f'AND r.sourced_id = "{T_CLASS}".sourced_id AND r.removed_run_id IS NULL)')
    archived = db.execute_sql(
        f'UPDATE "{T_CLASS}" SET status = {p}, archived_at = {p}, archived_run_id = {p} '
        f"WHERE district_id = {p} AND status = {p} {limit} AND {gone}",
        [ARCHIVED, utcnow(), run_id, scope.district_id, ACTIVE, *scope.params]).rowcount
    # Only classes archived by a sync come back by themselves; others were archived by people.
    restored = db.execute_sql(
        f'UPDATE "{T_CLASS}" SET status = {p}, archived_at = NULL, archived_run_id = NULL '
        f"WHERE district_id = {p} AND status = {p} AND archived_run_id IS NOT NULL {limit} "
        f"AND NOT {gone}", [ACTIVE, scope.district_id, ARCHIVED, *scope.params]).rowcount
    return {"classes_archived": archived, "classes_restored": restored}


def _follow_titles(db, scope: _Scope) -> int:
    p = db.param
    limit = "" if scope.ids is None else (
        f'AND "{T_CLASS}".id IN ({", ".join([p] * len(scope.ids))})')
    return db.execute_sql(
        f'UPDATE "{T_CLASS}" SET title = r.title FROM "{T_RCLASS}" r '
        f'WHERE "{T_CLASS}".district_id = {p} AND r.district_id = "{T_CLASS}".district_id '
        f'AND r.sourced_id = "{T_CLASS}".sourced_id AND r.removed_run_id IS NULL '
        f'AND r.title IS NOT NULL AND r.title <> "{T_CLASS}".title {limit}',
        [scope.district_id, *scope.params]).rowcount


def _follow_names(db, district_id: int) -> int:
    p = db.param
    differs = " OR ".join(
        f'COALESCE(u.{c}, \'\') <> COALESCE("{T_ACCOUNT}".{c}, \'\')'
        for c in ("given_name", "family_name", "email", "username"))
    return db.execute_sql(
        f'UPDATE "{T_ACCOUNT}" SET given_name = u.given_name, family_name = u.family_name, '
        f'email = u.email, username = u.username FROM "{T_USER}" u '
        f'WHERE "{T_ACCOUNT}".district_id = {p} AND u.district_id = "{T_ACCOUNT}".district_id '
        f'AND u.sourced_id = "{T_ACCOUNT}".sourced_id AND u.removed_run_id IS NULL AND ({differs})',
        [district_id]).rowcount
