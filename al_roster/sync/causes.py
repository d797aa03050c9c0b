"""Likely causes of a held run, read from what the sync saw, in words a support engineer
can pass on to the district."""
from __future__ import annotations

from collections import Counter

from ..oneroster.issues import ERROR, IssueLog
from .plan import EntityPlan, Hold

SHRINK_RATIO = 0.8


def likely_causes(hold: Hold, plans: dict[str, EntityPlan], issues: IssueLog,
                  previous: dict | None) -> list[str]:
    causes = []
    shrink = _shrunk_files(plans, previous or {})
    causes += shrink
    causes += _header_problems(issues)
    causes += _skipped_rows(issues)
    if not causes:
        causes.append(f"No problem was found in the files themselves: check with the district "
                      f"that {hold.entity} were really removed in their SIS.")
    return causes


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
