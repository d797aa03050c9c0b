"""Imported classes follow the roster copy: after every applied sync, undo and import.

Set-based, in the caller's transaction, no query per student:
- a student with a present, current enrollment is in the class (added, or brought back with
  their work if they had been removed); one whose enrollment was removed or has ended is
  removed softly (the membership is marked, never deleted);
- teachers follow their teacher enrollments, but the last teacher of a class keeps it;
- a class removed in the SIS is archived (and un-archived if the SIS brings it back);
- titles follow the SIS, and so do the names and e-mails of accounts.
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


def _desired(p: str, class_filter: str) -> str:
    """(class id, user sourcedId, role) of everyone the roster says belongs in each class."""
    return (
        f"SELECT ic.id AS class_id, e.user_sourced_id AS user_sourced_id, MAX(e.role) AS role "
        f'FROM "{T_CLASS}" ic JOIN "{T_ENROL}" e ON e.district_id = ic.district_id '
        "AND e.class_sourced_id = ic.sourced_id "
        f'JOIN "{T_USER}" u ON u.district_id = e.district_id AND u.sourced_id = e.user_sourced_id '
        f"WHERE ic.district_id = {p} AND ic.status = 'active' {class_filter} "
        "AND e.removed_run_id IS NULL AND u.removed_run_id IS NULL "
        "AND (e.role = 'teacher' OR (e.role = 'student' "
        f"AND (e.begin_date IS NULL OR e.begin_date <= {p}) "
        f"AND (e.end_date IS NULL OR e.end_date >= {p}))) "
        "GROUP BY ic.id, e.user_sourced_id")


def reconcile_imported_classes(db: peewee.Database, district_id: int, run_id: int | None,
                               class_ids: list[int] | None = None,
                               today: dt.date | None = None) -> dict[str, int]:
    """Brings the district's imported classes in line with its roster; returns the counts."""
    p = db.param
    today_s = (today or dt.date.today()).isoformat()
    counts = {"classes_archived": 0, "classes_restored": 0, "titles_updated": 0}
    counts.update(_archive(db, district_id, run_id, class_ids))
    class_filter = ""
    filter_params: list = []
    if class_ids is not None:
        if not class_ids:
            return counts
        class_filter = f"AND ic.id IN ({', '.join([p] * len(class_ids))})"
        filter_params = list(class_ids)
    desired = _desired(p, class_filter)
    desired_params = [district_id, *filter_params, today_s, today_s]
    now = utcnow()
    counts["members_added"] = db.execute_sql(
        f'INSERT INTO "{T_MEMBER}" (imported_class_id, district_id, user_sourced_id, role, '
        f"added_at, added_run_id) SELECT d.class_id, {p}, d.user_sourced_id, d.role, {p}, {p} "
        f"FROM ({desired}) d WHERE NOT EXISTS (SELECT 1 FROM \"{T_MEMBER}\" m WHERE "
        "m.imported_class_id = d.class_id AND m.user_sourced_id = d.user_sourced_id)",
        [district_id, now, run_id, *desired_params]).rowcount
    counts["members_restored"] = db.execute_sql(
        f'UPDATE "{T_MEMBER}" SET removed_at = NULL, removed_run_id = NULL, role = d.role '
        f"FROM ({desired}) d WHERE \"{T_MEMBER}\".imported_class_id = d.class_id AND "
        f'"{T_MEMBER}".user_sourced_id = d.user_sourced_id AND "{T_MEMBER}".removed_at IS NOT NULL',
        desired_params).rowcount
    counts["members_removed"] = _remove_departed(db, district_id, run_id, desired,
                                                 desired_params, class_filter, filter_params, now)
    counts["titles_updated"] = _follow_titles(db, district_id)
    counts["accounts_updated"] = _follow_names(db, district_id)
    return counts


def _remove_departed(db, district_id, run_id, desired, desired_params, class_filter,
                     filter_params, now) -> int:
    p = db.param
    # The last active teacher of a class is never removed: the class would have no owner.
    keep_last_teacher = (
        f"AND NOT (m.role = 'teacher' AND NOT EXISTS (SELECT 1 FROM \"{T_MEMBER}\" o "
        "WHERE o.imported_class_id = m.imported_class_id AND o.role = 'teacher' "
        "AND o.removed_at IS NULL AND o.id <> m.id AND EXISTS (SELECT 1 FROM "
        f"({desired}) d2 WHERE d2.class_id = o.imported_class_id "
        "AND d2.user_sourced_id = o.user_sourced_id)))")
    departed = (
        f'SELECT m.id FROM "{T_MEMBER}" m JOIN "{T_CLASS}" ic ON ic.id = m.imported_class_id '
        f"WHERE ic.district_id = {p} AND ic.status = 'active' {class_filter} "
        "AND m.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM "
        f"({desired}) d WHERE d.class_id = m.imported_class_id "
        f"AND d.user_sourced_id = m.user_sourced_id) {keep_last_teacher}")
    ids = [r[0] for r in db.execute_sql(
        departed, [district_id, *filter_params, *desired_params, *desired_params]).fetchall()]
    if ids:
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            (Membership.update(removed_at=now, removed_run_id=run_id)
             .where(Membership.id.in_(part)).execute())
    return len(ids)


def _archive(db, district_id: int, run_id: int | None, class_ids) -> dict[str, int]:
    p = db.param
    scope = ""
    if class_ids:
        scope = f"AND id IN ({', '.join(str(int(i)) for i in class_ids)})"
    gone = (f'NOT EXISTS (SELECT 1 FROM "{T_RCLASS}" r WHERE r.district_id = "{T_CLASS}".district_id '
            f'AND r.sourced_id = "{T_CLASS}".sourced_id AND r.removed_run_id IS NULL)')
    archived = db.execute_sql(
        f'UPDATE "{T_CLASS}" SET status = {p}, archived_at = {p}, archived_run_id = {p} '
        f"WHERE district_id = {p} AND status = {p} {scope} AND {gone}",
        [ARCHIVED, utcnow(), run_id, district_id, ACTIVE]).rowcount
    # Only classes archived by a sync come back by themselves; others were archived by people.
    restored = db.execute_sql(
        f'UPDATE "{T_CLASS}" SET status = {p}, archived_at = NULL, archived_run_id = NULL '
        f"WHERE district_id = {p} AND status = {p} AND archived_run_id IS NOT NULL {scope} "
        f"AND NOT {gone}", [ACTIVE, district_id, ARCHIVED]).rowcount
    return {"classes_archived": archived, "classes_restored": restored}


def _follow_titles(db, district_id: int) -> int:
    p = db.param
    return db.execute_sql(
        f'UPDATE "{T_CLASS}" SET title = r.title FROM "{T_RCLASS}" r '
        f'WHERE "{T_CLASS}".district_id = {p} AND r.district_id = "{T_CLASS}".district_id '
        f'AND r.sourced_id = "{T_CLASS}".sourced_id AND r.removed_run_id IS NULL '
        f'AND r.title IS NOT NULL AND r.title <> "{T_CLASS}".title', [district_id]).rowcount


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
