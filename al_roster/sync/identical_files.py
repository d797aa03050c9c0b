"""Which bulk files the roster copy still holds exactly as they were read.

A bulk file byte-identical to the one an entity's copy came from is not read again: on a
quiet night that is most of the package. It is safe only while the copy provably still
holds what reading that file gave it, so :func:`files_the_copy_holds` names, per entity,
the file (digest, rows, run) only when:

- the run that read it (its *source run*) is still applied, not undone;
- nothing of that read is still pending: the run was not applied with its removals held
  (nor were they rejected), and it marked no record missing under removal grace (every
  bulk run counts those again);
- that read was clean: no row skipped, no reference to a record that exists nowhere. Such
  a file could read differently once other files change (a user fixed at midday, a term
  added), so it is read again;
- since that run, no run applied and no undo changed the entity, nor any entity it refers
  to (its ``refers_to`` columns: a term removed later turns the same classes file into one
  whose rows no longer stand).

Runs and undos are ordered by when they happened: a run when it finished (an approved held
run finishes when it is approved), an undo when it was decided; ties count as later. A run
that skipped the file as identical did not touch it and is looked through. The stager adds
what only the package can tell: the file is read when a file it refers to is read too.
"""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from ..models import District, SyncRun
from ..models.runs import APPLIED, PARTIAL, UNDONE
from ..oneroster.entities import ENTITIES, Entity, all_stored_columns
from ..oneroster.issues import IssueLog
from ..oneroster.package import CsvPackage

#: The latest applied or undone runs looked at; a source run further back is read again.
HISTORY = 100
_LATEST = dt.datetime.max


class HeldFile(NamedTuple):
    digest: str
    rows: int
    run_id: int


def repeats_previous_file(package: CsvPackage, issues: IssueLog, stage,
                          previous: HeldFile | None, staged) -> bool:
    """Whether the bulk file of ``staged`` (a StagedEntity of ``stage``) is byte-identical to
    the one the copy provably still holds as read (``previous``), and every file it refers
    to was skipped for the same reason (or left absent): then it changes nothing, and is
    noted as such (its digest, rows and the run that read it; a warning)."""
    entity = staged.entity
    staged.digest = package.digest(entity.file_name)
    if previous is None or previous.digest != staged.digest:
        return False
    if any(stage.entities[t].mode != "absent" for t in refers_to(entity)):
        return False
    staged.rows, staged.identical_to = previous.rows, previous.run_id
    issues.warning(entity.file_name, None, None,
                   f"Identical to the file run {previous.run_id} applied, byte for byte: "
                   "not read again; nothing in it changed.")
    return True


def refers_to(entity: Entity) -> set[str]:
    """The other entities whose records ``entity``'s rows name."""
    return {c.refers_to for c in all_stored_columns(entity) if c.refers_to} - {entity.name}


def files_the_copy_holds(district: District) -> dict[str, HeldFile]:
    """Per entity, the bulk file its copy provably still holds as read (see the module)."""
    events = _events(district)
    held: dict[str, HeldFile] = {}
    for entity in ENTITIES:
        found = _source_file(entity, events)
        if found is not None:
            held[entity.name] = found
    return held


def _events(district: District) -> list[tuple[dt.datetime, bool, SyncRun]]:
    """(when, is an undo, run) of every apply and undo that may matter, newest first."""
    fields = (SyncRun.id, SyncRun.status, SyncRun.counts, SyncRun.finished_at,
              SyncRun.decided_at)
    runs = list(SyncRun.select(*fields)
                .where((SyncRun.district == district)
                       & SyncRun.status.in_([APPLIED, PARTIAL, UNDONE]))
                .order_by(SyncRun.finished_at.desc(), SyncRun.id.desc()).limit(HISTORY))
    undone = SyncRun.select(*fields).where((SyncRun.district == district)
                                           & (SyncRun.status == UNDONE))
    if len(runs) == HISTORY:  # an undo after the oldest run looked at still matters
        undone = undone.where(SyncRun.decided_at.is_null()
                              | (SyncRun.decided_at >= runs[-1].finished_at))
    events = [(run.finished_at or _LATEST, False, run) for run in runs]
    events += [(run.decided_at or _LATEST, True, run) for run in undone]
    events.sort(key=lambda e: (e[0], e[1], e[2].id), reverse=True)
    return events


def _source_file(entity: Entity, events) -> HeldFile | None:
    name, others = entity.name, refers_to(entity)
    for _, is_undo, run in events:
        counts = (run.counts or {}).get(name)
        if not is_undo and _read(counts):
            if (run.status == APPLIED and counts["mode"] == "bulk" and counts.get("digest")
                    and counts.get("clean") is True and not counts.get("missing")
                    and not run.counts.get("held_rejected")):
                return HeldFile(counts["digest"], counts.get("rows", 0), run.id)
            return None  # the copy last came from a delta, an unclean read or an undone run
        if any(_changed(run, other) for other in others | ({name} if is_undo else set())):
            return None
    return None


def _read(counts) -> bool:
    """Whether a run's plan for an entity came from reading its file."""
    return isinstance(counts, dict) and "mode" in counts and counts.get("identical_to") is None


def _changed(run: SyncRun, name: str) -> bool:
    counts = (run.counts or {}).get(name)
    return _read(counts) and any(counts.get(k) for k in ("created", "restored", "updated",
                                                           "deleted"))
