"""Likely causes of a held run, read from what the sync saw, in words a support engineer
can pass on to the district: first where the removals concentrate (a few schools, terms or
grades, named), then what is wrong with the files themselves."""
from __future__ import annotations

from collections import Counter

from ..oneroster.issues import ERROR, IssueLog
from .plan import EntityPlan

SHRINK_RATIO = 0.8
#: Removals "concentrate" when this few places hold at least this share of them.
CONCENTRATED_PLACES, CONCENTRATED_SHARE = 3, 0.8


def likely_causes(hold, plans: dict[str, EntityPlan], issues: IssueLog,
                  previous: dict | None, grades: dict[str, int] | None = None) -> list[str]:
    """``hold`` names the entity (``.entity``) and may carry a ``.breakdown`` of removals by
    school and term (sync.guards); ``grades``: removed users per grade."""
    causes = _concentrations(getattr(hold, "breakdown", None) or {}, plans, grades or {})
    shrink = _shrunk_files(plans, previous or {})
    causes += shrink
    causes += _header_problems(issues)
    causes += _skipped_rows(issues)
    if not causes:
        causes.append(f"No problem was found in the files themselves: check with the district "
                      f"that {hold.entity} were really removed in their SIS.")
    return causes


def _concentrations(breakdown: dict, plans: dict[str, EntityPlan],
                    grades: dict[str, int]) -> list[str]:
    found = []
    for entity, kinds in breakdown.items():
        removed = plans[entity].deleted + plans[entity].held_removals
        for kind, noun in (("schools", "the school"), ("terms", "the term")):
            whole = plans[entity].present_before  # one place that is the whole: no news
            places = [p for p in kinds.get(kind) or [] if p["present"] < whole]
            top = places[:CONCENTRATED_PLACES]
            if not top or sum(p["removed"] for p in top) < removed * CONCENTRATED_SHARE:
                continue
            named = ", ".join(f"{p['name']} ({p['removed']:,} of {p['present']:,})" for p in top)
            found.append(f"The removals concentrate in {named}: {removed:,} {entity} in all. "
                         f"The export may have left {noun if len(top) == 1 else kind} out "
                         "(a filter or a failed query in the SIS export).")
            break
    if grades:
        total = sum(grades.values())
        top = sorted(grades.items(), key=lambda g: -g[1])[:CONCENTRATED_PLACES]
        if total and sum(n for _, n in top) >= total * CONCENTRATED_SHARE:
            named = ", ".join(f"grade {g or '(none)'} ({n:,})" for g, n in top)
            found.append(f"The users removed concentrate in {named}: a grade may have been "
                         "left out of the export.")
    return found


def _shrunk_files(plans: dict[str, EntityPlan], previous: dict) -> list[str]:
    found = []
    for name, plan in plans.items():
        before = (previous.get(name) or {}).get("rows")
        if plan.mode == "bulk" and before and plan.rows < before * SHRINK_RATIO:
            found.append(f"{name}.csv has {plan.rows:,} rows; the last applied upload had "
                         f"{before:,} ({1 - plan.rows / before:.0%} fewer): the export may be "
                         "incomplete (a school or grade left out, a failed SIS query).")
    return found


def _header_problems(issues: IssueLog) -> list[str]:
    found = []
    for issue in issues.items:
        text = issue.message
        if issue.line == 1 and ("case-sensitive" in text or "\ufeff" in (issue.field or "")):
            found.append(f"{issue.file}: {text}")
        elif "UTF-8" in text or "BOM" in text:
            found.append(f"{issue.file}: {text}")
    return found


def _skipped_rows(issues: IssueLog) -> list[str]:
    by_kind: Counter = Counter()
    example = {}
    for issue in issues.items:
        if issue.severity == ERROR and issue.line and issue.line > 1:
            key = (issue.file, issue.field)
            by_kind[key] += issue.count
            example.setdefault(key, issue)
    found = []
    for (file, field), count in by_kind.most_common(3):
        first = example[(file, field)]
        found.append(f"{count:,}+ rows of {file} were skipped for {field}, e.g. line "
                     f"{first.line}: {first.message}")
    return found
