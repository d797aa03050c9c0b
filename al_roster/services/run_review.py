"""What a reviewer of a run reads: counts from the plan, where its held removals are, the
people and places behind each change row, teachers who would lose classes, and each entity's
present count over the district's last runs.

Counts come from the run's plan (``run.counts``), never from the kept preview of a held run
(at most 1,000 changes per entity and kind): where a list is shorter than its count, it says
"showing N of M". Every lookup is one statement per entity, whatever the page shows.
"""
from __future__ import annotations

import json

from ..models import ROSTER_MODELS, District, RunChange, SyncRun, database
from ..models.runs import APPLIED, HELD, PARTIAL, STATUS_LABELS

CHANGE_KINDS = ("created", "updated", "restored", "removed", "held_removal", "held_update")
HISTORY_RUNS = 30
TEACHERS_SHOWN = 100
#: How a record of each entity is named on a change row: SQL over the row ``r``.
_PERSON = ("COALESCE((SELECT u.given_name || ' ' || u.family_name FROM roster_users u "
           "WHERE u.district_id = r.district_id AND u.sourced_id = r.user_sourced_id), "
           "r.user_sourced_id)")
_CLASS = ("COALESCE((SELECT k.title FROM roster_classes k WHERE k.district_id = r.district_id "
          "AND k.sourced_id = r.class_sourced_id), r.class_sourced_id)")
NAMES = {
    "orgs": "r.name", "academicSessions": "r.title", "courses": "r.title",
    "classes": "r.title", "users": "r.given_name || ' ' || r.family_name",
    "roles": f"{_PERSON} || ' (' || r.role || ')'",
    "enrollments": f"{_PERSON} || ' in ' || {_CLASS}",
}
#: The school a record belongs to, where it names one.
SCHOOLS = {"courses": "r.org_sourced_id", "classes": "r.school_sourced_id",
           "users": "r.org_sourced_ids", "enrollments": "r.school_sourced_id",
           "roles": "r.org_sourced_id"}


def review_data(run: SyncRun) -> dict:
    counts = run.counts or {}
    guard = counts.get("guard") or {}
    return {"statusLabel": STATUS_LABELS.get(run.status, run.status),
            "plan": plan_counts(counts), "trips": guard.get("trips", []),
            "breakdown": guard.get("breakdown", {}),
            "teachers": teachers_losing_classes(run), "history": present_history(run)}


def plan_counts(counts: dict) -> dict[str, dict[str, int]]:
    keys = ("created", "restored", "updated", "deleted", "held_removals", "held_updates",
            "missing", "unchanged", "present_before")
    return {name: {k: c.get(k, 0) for k in keys} for name, c in counts.items()
            if isinstance(c, dict) and "mode" in c}


def shown_of(run: SyncRun, totals: dict[str, dict[str, int]]) -> list[dict]:
    """Where the change records listed are fewer than the plan's count (a held run keeps a
    preview): entity, kind, shown and planned, for "showing 1,000 of 2,201"."""
    if run.status != HELD:
        return []
    plan = plan_counts(run.counts or {})
    pairs = {"removed": "deleted", "updated": "updated", "restored": "restored",
             "created": "created"}
    short = []
    for name, kinds in totals.items():
        for kind, key in pairs.items():
            planned = plan.get(name, {}).get(key, 0)
            if planned > kinds.get(kind, 0):
                short.append({"entity": name, "kind": kind, "shown": kinds.get(kind, 0),
                              "planned": planned})
    return short


def name_rows(district_id: int, items: list[dict]) -> list[dict]:
    """Adds ``name`` (and ``school``) to change rows: one query per entity shown."""
    by_entity: dict[str, set[str]] = {}
    for item in items:
        by_entity.setdefault(item["entity"], set()).add(item["sourcedId"])
    found: dict[tuple[str, str], tuple] = {}
    for entity, ids in by_entity.items():
        found.update(_names(district_id, entity, sorted(ids)))
    for item in items:
        name, school = found.get((item["entity"], item["sourcedId"]), (None, None))
        item["name"], item["school"] = name, school
    return items


def _names(district_id: int, entity: str, ids: list[str]) -> dict[tuple[str, str], tuple]:
    db, p = database.obj, database.obj.param
    table = ROSTER_MODELS[entity]._meta.table_name
    orgs = ROSTER_MODELS["orgs"]._meta.table_name
    school = SCHOOLS.get(entity)
    school_name = (f'(SELECT o.name FROM "{orgs}" o WHERE o.district_id = r.district_id '
                   f"AND o.sourced_id = {school})" if school else "NULL")
    marks = ", ".join([p] * len(ids))
    rows = db.execute_sql(
        f'SELECT r.sourced_id, {NAMES[entity]}, {school_name} FROM "{table}" r '
        f"WHERE r.district_id = {p} AND r.sourced_id IN ({marks})", [district_id, *ids])
    return {(entity, sid): (name, school) for sid, name, school in rows.fetchall()}


def teachers_losing_classes(run: SyncRun) -> list[dict]:
    """Teachers of the classes the run removes or holds for removal, with how many."""
    db, p = database.obj, database.obj.param
    classes = ROSTER_MODELS["classes"]._meta.table_name
    enrollments = ROSTER_MODELS["enrollments"]._meta.table_name
    users = ROSTER_MODELS["users"]._meta.table_name
    rows = db.execute_sql(
        f"SELECT u.sourced_id, u.given_name, u.family_name, COUNT(DISTINCT c.id) "
        f'FROM "{RunChange._meta.table_name}" rc JOIN "{classes}" c ON c.id = rc.row_id '
        f'JOIN "{enrollments}" e ON e.district_id = c.district_id '
        f"AND e.class_sourced_id = c.sourced_id AND e.role = 'teacher' "
        f'JOIN "{users}" u ON u.district_id = e.district_id AND u.sourced_id = e.user_sourced_id '
        f"WHERE rc.run_id = {p} AND rc.entity = 'classes' "
        f"AND rc.kind IN ('removed', 'held_removal') "
        f"GROUP BY u.sourced_id, u.given_name, u.family_name "
        f"ORDER BY COUNT(DISTINCT c.id) DESC, u.family_name LIMIT {TEACHERS_SHOWN}", [run.id])
    return [{"sourcedId": sid, "name": f"{given} {family}", "classes": n}
            for sid, given, family, n in rows.fetchall()]


def present_history(run: SyncRun) -> dict[str, list[dict]]:
    """Per entity, its present count after each of the district's last runs (a held run:
    what it would leave), oldest first, up to and including ``run``."""
    runs = list(SyncRun.select(SyncRun.id, SyncRun.status, SyncRun.counts)
                .where((SyncRun.district == run.district_id) & (SyncRun.id <= run.id)
                       & SyncRun.status.in_((APPLIED, PARTIAL, HELD)))
                .order_by(SyncRun.id.desc()).limit(HISTORY_RUNS))
    history: dict[str, list[dict]] = {}
    for each in reversed(runs):
        for name, c in plan_counts(each.counts or {}).items():
            if not c["present_before"] and not c["created"]:
                continue  # a delta that removed nothing: its count was not taken
            after = c["present_before"] + c["created"] + c["restored"] - c["deleted"]
            history.setdefault(name, []).append({"run": each.id, "present": after})
    return history


# -- what a run did, page by page ------------------------------------------------------

def run_changes(run: SyncRun, *, entity: str | None = None, kind: str | None = None,
                limit: int = 50, offset: int = 0) -> dict:
    """A page of what the run did (or, held, would do), per entity and kind of change.

    Creations are read off the rows the run first saw; updates, restorations and removals
    off its change records, with before and after values for updates.
    """
    db = database.obj
    items: list[dict] = []
    totals: dict[str, dict[str, int]] = {}
    for name, model in ROSTER_MODELS.items():
        if entity and name != entity:
            continue
        table = model._meta.table_name
        totals[name] = _kind_totals(db, run, name, table)
        for each in CHANGE_KINDS:
            if kind and kind != each:
                continue
            items += _change_rows(db, run, name, table, each, limit + offset)
    items.sort(key=lambda i: (i["entity"], i["kind"], i["sourcedId"]))
    return {"run": run.id, "status": run.status, "totals": totals,
            "changes": name_rows(run.district_id, items[offset:offset + limit]),
            "offset": offset, "limit": limit,
            "held": run.status == HELD and {"plan": run.counts}}


def _kind_totals(db, run, name, table) -> dict[str, int]:
    p = db.param
    created = db.execute_sql(f'SELECT COUNT(*) FROM "{table}" WHERE district_id = {p} '
                             f"AND first_run_id = {p}", [run.district_id, run.id]).fetchone()[0]
    totals = {"created": created}
    for kind, count in db.execute_sql(
            f'SELECT kind, COUNT(*) FROM "{RunChange._meta.table_name}" WHERE run_id = {p} '
            f"AND entity = {p} GROUP BY kind", [run.id, name]).fetchall():
        totals[kind] = count
    return totals


def _change_rows(db, run, name, table, kind, limit) -> list[dict]:
    p = db.param
    if kind == "created" and run.status != HELD:
        rows = db.execute_sql(
            f'SELECT sourced_id FROM "{table}" WHERE district_id = {p} AND first_run_id = {p} '
            f"ORDER BY sourced_id LIMIT {int(limit)}", [run.district_id, run.id]).fetchall()
        return [{"entity": name, "kind": kind, "sourcedId": r[0]} for r in rows]
    rows = db.execute_sql(
        f'SELECT sourced_id, before, after FROM "{RunChange._meta.table_name}" WHERE run_id = {p} '
        f"AND entity = {p} AND kind = {p} ORDER BY sourced_id LIMIT {int(limit)}",
        [run.id, name, kind]).fetchall()
    out = []
    for sourced_id, before, after in rows:
        item = {"entity": name, "kind": kind, "sourcedId": sourced_id}
        if before and after:
            b, a = json.loads(before), json.loads(after)
            item["changed"] = {k: {"before": b.get(k), "after": v} for k, v in a.items()
                               if k not in ("row_hash",) and b.get(k) != v}
        out.append(item)
    return out


def district_runs(district: District, limit: int = 50) -> list[SyncRun]:
    return list(district.runs.order_by(SyncRun.id.desc()).limit(limit))
