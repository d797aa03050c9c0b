"""Guard: which of a planned run's changes are too risky to apply without a reviewer.

Three guards weigh the plan, each against a per-district share:

- removals of an entity, district-wide (``deletion_threshold``, 10%), by bulk file or delta;
- removals of enrollments, classes or users within one school (an org of type school) or
  one term (``scope_threshold``, 25%): a small school left out of a big district's export is
  2-3% of the district and 100% of the school;
- updates rewriting an entity's present records (``update_threshold``, 50%): a shifted
  column renames every student.

What trips is a :class:`Trip`; :func:`weigh_risks` gathers them into a :class:`Guard`. Every
school and term is weighed. Finding that nothing trips counts a school's or a term's
enrollments only as far as its removals need (:func:`_may_trip`); where something may, the
breakdown of removals by school and term the reviewer reads is one GROUP BY statement per
entity, not a query per school.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import peewee

from ..models.base import is_postgres
from ..models.district import District
from ..oneroster.entities import ENTITY_BY_NAME, all_stored_columns
from .plan import EntityPlan, removal_condition
from .staging import Stage
from .tables import roster_table, stage_table, whole_rows

#: Fewer updated records than this are never a mass update: a handful of edits in a small
#: entity (a district's three orgs renamed) is routine, and each is listed for review anyway.
MASS_UPDATE_MIN = 25
#: How many schools or terms a run's breakdown keeps, most removals first.
BREAKDOWN_KEEP = 50


def scope_keys(entity: str) -> tuple[str, str | None, str]:
    """SQL of (school key, term key) of the roster rows ``r`` of ``entity``, and the join
    that reaching the term needs. Enrollments reach their term through their class."""
    school, term, join = scope_columns(entity)
    return school or "NULL", term, join


def scope_columns(entity: str) -> tuple[str | None, str | None, str]:
    """(school column, term column, join) of the roster rows ``r`` of any entity: where a
    school's or a term's records are, in every file that names them."""
    if entity == "enrollments":
        classes = roster_table(ENTITY_BY_NAME["classes"])
        return ("r.school_sourced_id", "c.term_sourced_ids",
                f'LEFT JOIN "{classes}" c ON c.district_id = r.district_id '
                "AND c.sourced_id = r.class_sourced_id")
    return {"orgs": ("r.sourced_id", None, ""), "academicSessions": (None, "r.sourced_id", ""),
            "courses": ("r.org_sourced_id", None, ""), "roles": ("r.org_sourced_id", None, ""),
            "classes": ("r.school_sourced_id", "r.term_sourced_ids", ""),
            "users": ("r.org_sourced_ids", None, "")}[entity]


SCOPED = ("enrollments", "classes", "users")


@dataclass
class Trip:
    """One guard that tripped: what would change, where, and how much of it."""

    entity: str
    change: str  # "removal" or "update"
    scope: str  # "district", "school" or "term"
    count: int
    present: int
    threshold: float
    key: str | None = None  # the school's or term's sourcedId(s), as the rows carry them
    label: str = ""
    fields: dict[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.count / self.present if self.present else 1.0

    def describe(self) -> str:
        if self.change == "update":
            changed = "; ".join(f"{name} changed on {n:,} of {self.present:,} {self.entity}"
                                for name, n in sorted(self.fields.items(), key=lambda f: -f[1]))
            return (f"{changed or f'{self.count:,} of {self.present:,} {self.entity} changed'} "
                    f"(more than the district's {self.threshold:.0%} limit for updates)")
        if self.scope == "district":
            return (f"this upload would remove {self.count:,} of {self.present:,} "
                    f"{self.entity} ({self.share:.0%}), more than the district's "
                    f"{self.threshold:.0%} limit")
        return (f"{self.label}: {self.count:,} of {self.present:,} {self.entity} would be "
                f"removed ({self.share:.0%}, more than the district's {self.threshold:.0%} "
                f"limit for a {self.scope})")

    def to_dict(self) -> dict:
        return {"entity": self.entity, "change": self.change, "scope": self.scope,
                "key": self.key, "label": self.label, "count": self.count,
                "present": self.present, "threshold": self.threshold, "fields": self.fields,
                "text": self.describe()}


@dataclass
class Guard:
    """What tripped, and the breakdown of removals by school and term the reviewer reads."""

    trips: list[Trip]
    whole_run: bool
    breakdown: dict[str, dict[str, list[dict]]] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)  # users removed, per grade

    def to_dict(self) -> dict:
        return {"trips": [t.to_dict() for t in self.trips], "wholeRun": self.whole_run,
                "breakdown": self.breakdown, "grades": self.grades}

    @property
    def entity(self) -> str:
        return self.trips[0].entity

    def describe(self) -> str:
        parts = "; ".join(t.describe() for t in self.trips)
        if self.whole_run:
            return f"Held for review: {parts}. Nothing was changed."
        return f"Held for review: {parts}."

    def keys(self, scope: str) -> list[str]:
        """The sourcedId keys of the schools (or terms) that tripped, once each."""
        return list(dict.fromkeys(t.key for t in self.trips if t.scope == scope and t.key))


def weigh_risks(db: peewee.Database, stage: Stage, plans: dict[str, EntityPlan],
                district: District) -> Guard | None:
    """The guards that trip on this plan, or None if it may apply as it is."""
    names = _names(db, stage.district_id)
    scope_share = max(district.scope_threshold, district.deletion_threshold)
    if not _may_trip(db, stage, plans, district, names, scope_share):
        return None
    trips = district_removals(plans, district.deletion_threshold)
    breakdown: dict = {}
    for entity in SCOPED:
        plan = plans.get(entity)
        if plan is None or not plan.deleted:
            continue
        every = _breakdown(removal_groups(db, stage, entity), names)
        if not any(t.entity == entity for t in trips):
            trips += _scope_trips(entity, every, plan.present_before, scope_share)
        breakdown[entity] = {kind: rows[:BREAKDOWN_KEEP] for kind, rows in every.items()}
    trips += mass_updates(db, stage, plans, district.update_threshold)
    if not trips:
        return None
    grades = removed_grades(db, stage) if plans.get("users") and plans["users"].deleted else {}
    return Guard(trips, district.hold_whole_runs, breakdown, grades)


def _may_trip(db, stage: Stage, plans: dict[str, EntityPlan], district: District,
              names: dict, scope_share: float) -> bool:
    """Whether any guard may trip: False only where none does. The guards' own counts (every
    present enrollment of the district, by school and class) are what a reviewer reads of a
    held run; to find that nothing trips, a school's or a term's enrollments are counted only
    as far as its removals need (see :func:`_enrollment_scopes_trip`)."""
    if district_removals(plans, district.deletion_threshold):
        return True
    if any(_mass_update(plan, district.update_threshold) for plan in plans.values()):
        return True
    for entity in SCOPED:
        plan = plans.get(entity)
        if plan is None or not plan.deleted:
            continue
        if entity == "enrollments":
            if _enrollment_scopes_trip(db, stage, plan.present_before, scope_share, names):
                return True
        elif _scope_trips(entity, _breakdown(removal_groups(db, stage, entity), names),
                          plan.present_before, scope_share):
            return True
    return False


def _enrollment_scopes_trip(db, stage: Stage, present_total: int, threshold: float,
                            names: dict) -> bool:
    """Whether a school or a term loses more than ``threshold`` of its present enrollments.
    Its removals are counted from the few rows the plan found; its present enrollments only
    up to the least count that keeps those removals within the share (a school losing 40 of
    its enrollments at 25% needs 161 counted, not its 20,000), each from an index."""
    if threshold <= 0:
        return True
    p, d = db.param, stage.district_id
    enrollments = stage.roster(ENTITY_BY_NAME["enrollments"])
    classes = stage.roster(ENTITY_BY_NAME["classes"])
    removed: dict[str, dict] = {"schools": {}, "terms": {}}
    for school, term, count in db.execute_sql(
            f'SELECT r.school_sourced_id, c.term_sourced_ids, COUNT(*) FROM "{enrollments}" r '
            f'LEFT JOIN "{classes}" c ON c.district_id = {p} AND c.sourced_id = r.class_sourced_id '
            f"WHERE r.district_id = {p} AND {removal_condition(stage, 'enrollments')} "
            "GROUP BY r.school_sourced_id, c.term_sourced_ids", [d, d]).fetchall():
        for kind, key in (("schools", school), ("terms", term)):
            removed[kind][key] = removed[kind].get(key, 0) + count
    within = {"schools": f"r.school_sourced_id = {p}",
              "terms": (f'r.class_sourced_id IN (SELECT c.sourced_id FROM "{classes}" c '
                        f"WHERE c.district_id = {p} AND c.term_sourced_ids = {p})")}
    for kind, counts in removed.items():
        for key, count in counts.items():
            if _label(key, names[kind]) is None:
                continue
            enough = int(count / threshold) + 1  # present >= enough: count / present <= share
            while count / enough > threshold:
                enough += 1
            found = db.execute_sql(
                f'SELECT COUNT(*) FROM (SELECT 1 FROM "{enrollments}" r WHERE r.district_id = {p} '
                f"AND r.removed_run_id IS NULL AND {within[kind]} LIMIT {enough}) x",
                [d, key] if kind == "schools" else [d, d, key]).fetchone()[0]
            if found < enough and found < present_total and count / found > threshold:
                return True
    return False


def district_removals(plans: dict[str, EntityPlan], threshold: float) -> list[Trip]:
    return [Trip(name, "removal", "district", plan.deleted, plan.present_before, threshold)
            for name, plan in plans.items()
            if plan.deleted and plan.present_before
            and plan.deleted / plan.present_before > threshold]


def removal_groups(db, stage: Stage, entity: str) -> list[tuple]:
    """(school key, term key, present, removed) of the entity's present rows, grouped."""
    if entity == "enrollments":
        return _enrollment_groups(db, stage)
    school, term, join = scope_keys(entity)
    keys = f"{school}, {term}" if term else school
    p = db.param
    rows = db.execute_sql(
        f"SELECT {keys}, COUNT(*), SUM(CASE WHEN "
        f"{removal_condition(stage, entity)} THEN 1 ELSE 0 END) "
        f'FROM "{stage.roster(ENTITY_BY_NAME[entity])}" r {join} WHERE r.district_id = {p} '
        f"AND r.removed_run_id IS NULL GROUP BY {keys}", [stage.district_id]).fetchall()
    return rows if term else [(row[0], None, *row[1:]) for row in rows]


def _enrollment_groups(db, stage: Stage) -> list[tuple]:
    """Enrollments reach their term through their class: counted per school and class
    first, then joined to the classes (one look-up a class, not one an enrollment). The
    removals are counted apart, from the few rows the plan found, so the district's own
    enrollments are counted from their index alone (at 6.9 M, in half the time)."""
    p = db.param
    enrollments = stage.roster(ENTITY_BY_NAME["enrollments"])
    classes = stage.roster(ENTITY_BY_NAME["classes"])

    def counted(condition: str) -> str:
        return ("SELECT r.school_sourced_id AS school, r.class_sourced_id AS class_id, "
                f'COUNT(*) AS counted FROM "{enrollments}" r WHERE r.district_id = {p} '
                f"AND r.removed_run_id IS NULL{condition} "
                "GROUP BY r.school_sourced_id, r.class_sourced_id")
    removed = counted(f" AND {removal_condition(stage, 'enrollments')}")
    return db.execute_sql(
        "SELECT x.school, c.term_sourced_ids, CAST(SUM(x.counted) AS BIGINT), "
        f"CAST(SUM(COALESCE(y.counted, 0)) AS BIGINT) FROM ({counted('')}) x "
        f"LEFT JOIN ({removed}) y ON y.school = x.school AND y.class_id = x.class_id "
        f'LEFT JOIN "{classes}" c ON c.district_id = {p} AND c.sourced_id = x.class_id '
        "GROUP BY x.school, c.term_sourced_ids",
        [stage.district_id, stage.district_id, stage.district_id]).fetchall()


def removed_grades(db, stage: Stage) -> dict[str, int]:
    """How many of the users the file removes are in each grade (as the rows list them)."""
    rows = db.execute_sql(
        f'SELECT r.grades, COUNT(*) FROM "{stage.roster(ENTITY_BY_NAME["users"])}" r '
        f"WHERE r.district_id = {db.param} AND {removal_condition(stage, 'users')} "
        "GROUP BY r.grades", [stage.district_id]).fetchall()
    return {grade or "": count for grade, count in rows}


def _names(db, district_id: int) -> dict[str, dict[str, str]]:
    """sourcedId -> name of the district's schools, and of its terms."""
    p = db.param
    orgs = roster_table(ENTITY_BY_NAME["orgs"])
    terms = roster_table(ENTITY_BY_NAME["academicSessions"])
    schools = dict(db.execute_sql(
        f"SELECT sourced_id, name FROM \"{orgs}\" WHERE district_id = {p} AND type = 'school'",
        [district_id]).fetchall())
    sessions = dict(db.execute_sql(
        f'SELECT sourced_id, title FROM "{terms}" WHERE district_id = {p}',
        [district_id]).fetchall())
    return {"schools": schools, "terms": sessions}


def _label(key: str | None, names: dict[str, str]) -> str | None:
    """The name(s) of the ids in ``key``; None if any is not of the kind (not a school)."""
    ids = [v for v in (key or "").split(",") if v]
    if not ids or any(v not in names for v in ids):
        return None
    return " and ".join(names[v] or v for v in ids)


def _breakdown(groups: list[tuple], names: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for kind, at, known in (("schools", 0, names["schools"]), ("terms", 1, names["terms"])):
        totals: dict[str, list[int]] = {}
        for row in groups:
            key = row[at]
            if _label(key, known) is None:
                continue
            total = totals.setdefault(key, [0, 0])
            total[0] += row[2]
            total[1] += row[3] or 0
        rows = [{"key": key, "name": _label(key, known), "present": present, "removed": removed}
                for key, (present, removed) in totals.items() if removed]
        rows.sort(key=lambda r: (-r["removed"], r["name"]))
        out[kind] = rows
    return out


def _scope_trips(entity: str, breakdown: dict[str, list[dict]], present_total: int,
                 threshold: float) -> list[Trip]:
    """Schools and terms losing more than their share; one covering the whole entity is the
    district-wide guard's to weigh."""
    trips = []
    for kind, scope in (("schools", "school"), ("terms", "term")):
        for row in breakdown.get(kind, ()):
            if row["present"] >= present_total or row["removed"] / row["present"] <= threshold:
                continue
            trips.append(Trip(entity, "removal", scope, row["removed"], row["present"],
                              threshold, key=row["key"], label=row["name"]))
    return trips


def mass_updates(db, stage: Stage, plans: dict[str, EntityPlan], threshold: float) -> list[Trip]:
    trips = []
    for name, plan in plans.items():
        if not _mass_update(plan, threshold):
            continue
        trips.append(Trip(name, "update", "district", plan.updated, plan.present_before,
                          threshold, fields=changed_fields(db, stage, name, plan.present_before,
                                                           threshold)))
    return trips


def _mass_update(plan: EntityPlan, threshold: float) -> bool:
    """Whether the file rewrites more than ``threshold`` of an entity's present records
    (and at least MASS_UPDATE_MIN of them)."""
    return (plan.updated >= MASS_UPDATE_MIN and bool(plan.present_before)
            and plan.updated / plan.present_before > threshold)


def changed_fields(db, stage: Stage, name: str, present: int, threshold: float) -> dict[str, int]:
    """Per column, how many present records the file rewrites; those past the share."""
    entity = ENTITY_BY_NAME[name]
    columns = [(c.name, c.attr) for c in all_stored_columns(entity)] + [("metadata", "extra")]
    differs = "IS DISTINCT FROM" if is_postgres(db) else "IS NOT"
    sums = ", ".join(f'SUM(CASE WHEN r."{attr}" {differs} s."{attr}" THEN 1 ELSE 0 END)'
                     for _, attr in columns)
    row = db.execute_sql(
        f'SELECT {sums} FROM "{stage_table(entity)}" s JOIN "{stage.roster(entity)}" r '
        f"ON r.district_id = {db.param} AND r.sourced_id = s.sourced_id "
        f"WHERE s.status = 'active' AND {whole_rows()} AND r.removed_run_id IS NULL "
        "AND r.row_hash <> s.row_hash",
        [stage.district_id]).fetchone()
    counts = {label: n or 0 for (label, _), n in zip(columns, row, strict=True)}
    return {label: n for label, n in counts.items() if n / present > threshold} or {
        label: n for label, n in counts.items() if n}
