"""A run as the JSON the command line, the API and the console show."""
from __future__ import annotations

from ..models import RunIssue, SyncRun
from ..models.runs import STATUS_LABELS

COUNT_KEYS = ("created", "updated", "deleted", "unchanged", "restored", "rows",
              "held_removals", "held_updates", "missing")


def run_report(run: SyncRun, *, issue_limit: int | None = None) -> dict:
    counts = run.counts or {}
    entity_counts = {name: {k: c.get(k, 0) for k in COUNT_KEYS}
                     for name, c in counts.items() if isinstance(c, dict) and "mode" in c}
    issues = RunIssue.select().where(RunIssue.run == run).order_by(RunIssue.id)
    if issue_limit is not None:
        issues = issues.limit(issue_limit)
    return {
        "run": run.id,
        "district": run.district.slug,
        "status": run.status,
        "statusLabel": STATUS_LABELS.get(run.status, run.status),
        "source": run.source,
        "sourceName": run.source_name,
        "version": run.oneroster_version,
        "files": run.modes or {},
        "counts": entity_counts,
        "reconciliation": counts.get("reconciliation"),
        "held": held_part(counts),
        "errors": run.error_count,
        "warnings": run.warning_count,
        "issues": [{"file": i.file, "line": i.line, "field": i.field, "severity": _severity(i),
                    "message": i.message, "count": i.count} for i in issues],
        "message": run.message,
        "startedAt": run.started_at.isoformat() + "Z" if run.started_at else None,
        "finishedAt": run.finished_at.isoformat() + "Z" if run.finished_at else None,
        "seconds": run.seconds,
    }


def held_part(counts: dict) -> dict | None:
    """What a guard held and why, and what became of it (approved or rejected)."""
    guard = counts.get("guard")
    if guard is None:
        return None
    return {"trips": guard.get("trips", []), "wholeRun": guard.get("wholeRun", False),
            "breakdown": guard.get("breakdown", {}),
            "approved": counts.get("held_applied"),
            "reconciliation": counts.get("held_reconciliation"),
            "rejected": counts.get("held_rejected")}


def _severity(issue: RunIssue) -> str:
    """A file identical to the last one is news, not a problem: information."""
    if issue.severity == "warning" and issue.message.startswith("Identical to the file run"):
        return "info"
    return issue.severity
