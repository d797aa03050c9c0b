"""Narrow rows: held rather than staged, staged when a check needs them, and the present
records none repeats, kept by id.

A narrow row repeats a present record of the copy value for value (see
:mod:`al_roster.oneroster.unchanged`). Its values are the copy's, so it is not staged at
all: the keys they matched hold their lines (:attr:`UnchangedRows.lines`), and the records
they repeat are the present ones left out of the unmatched ids (see
:func:`~al_roster.sync.tables.lacking`); on a night that changed most records, the few held
are staged once checked instead (:func:`keep_unmatched`). Another file's references to
those records are checked against the staged rows and them alike
(:func:`~al_roster.sync.tables.repeated`). Only a file whose rows name its own records (an
org its parent) stages every narrow row, its references checked while it is read. At
1,000,000 students that is 6.9 M enrollments and 1 M users a quiet night no longer writes,
indexes and drops.

A check that reads narrow rows first stages the few it needs, as the copy holds them
(:func:`stage_held`): rows repeating a record another row repeats or a whole row names
(duplicates), and rows whose record names what the package no longer has (references).
Staged, they are checked, reported and left out exactly as narrow rows staged while
reading are.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import peewee

from ..oneroster.entities import Entity, names_itself
from ..oneroster.unchanged import UnchangedRows, np
from .sql import batches, bulk_load, create_temp_table, integer_pairs
from .tables import analyze, stage_table, unmatched_table

if TYPE_CHECKING:
    from .staging import Stage

def stage_held(db: peewee.Database, stage: Stage, entity: Entity, unchanged: UnchangedRows,
               records: str, params: list) -> int:
    """Stages the held rows repeating the copy's records of ``entity`` that ``records``
    (SQL of their sourcedId, hash and id, with ``params``) selects; returns how many."""
    positions = [unchanged.held(batch) for batch in batches(db, records, params)]
    return stage_positions(db, stage, entity, unchanged, positions)


def stage_after_reading(db: peewee.Database, stage: Stage, entity: Entity,
                        unchanged: UnchangedRows) -> None:
    """Stages, once the file is read and before its staged rows are indexed, the held rows
    its checks need: every one of a file whose rows name its own records (its references
    are checked against its staged rows while it is read), else the duplicates."""
    if names_itself(entity.name):
        stage_every_held(db, stage, entity, unchanged)
    else:
        stage_duplicates(db, stage, entity, unchanged)


def stage_duplicates(db: peewee.Database, stage: Stage, entity: Entity,
                     unchanged: UnchangedRows) -> int:
    """Stages the held rows that duplicate another row: those repeating a record more than
    one row repeats, and those repeating a record a whole row (staged) names; returns how
    many. Before the staged rows are indexed: the duplicates are then seen there."""
    count = stage_positions(db, stage, entity, unchanged, [unchanged.repeated()])
    return count + stage_held(
        db, stage, entity, unchanged,
        f'SELECT r.sourced_id, r.row_hash, r.id FROM "{stage_table(entity)}" s '
        f'JOIN "{stage.roster(entity)}" r ON r.district_id = {db.param} '
        "AND r.sourced_id = s.sourced_id WHERE r.removed_run_id IS NULL AND s.same IS NULL",
        [stage.district_id])


def stage_naming(db: peewee.Database, stage: Stage, entity: Entity,
                 unchanged: UnchangedRows, column: str, values: str) -> int:
    """Stages the held rows whose records' ``column`` holds one of the ``values`` (a table
    of them: those naming nothing now, few); returns how many."""
    return stage_held(
        db, stage, entity, unchanged,
        f'SELECT r.sourced_id, r.row_hash, r.id FROM "{stage.roster(entity)}" r '
        f"WHERE r.district_id = {db.param} AND r.removed_run_id IS NULL "
        f'AND r."{column}" IN (SELECT g.value FROM "{values}" g)', [stage.district_id])


def stage_positions(db: peewee.Database, stage: Stage, entity: Entity,
                    unchanged: UnchangedRows, positions: list) -> int:
    """Stages every held row repeating the keys at ``positions`` (arrays of them) narrow,
    its sourcedId and hash its record's, as the reading would have; they are then no
    longer held. Returns how many."""
    ids, lines = unchanged.take(positions)
    _stage_records(db, stage, entity, ids, lines)
    return len(ids)


def stage_every_held(db: peewee.Database, stage: Stage, entity: Entity,
                     unchanged: UnchangedRows) -> int:
    """Stages narrow every row held (an entity naming its own records: their references are
    checked against its staged rows), as the reading would have staged them; returns how many. The
    keys keep the lines that repeated them, so the state is that of a reading that staged
    its narrow rows itself, and nothing is held any more."""
    positions = unchanged.held_positions()
    ids = np.concatenate([unchanged.ids[positions], *(unchanged.ids[at] for at, _ in
                                                       unchanged.repeats)])
    lines = np.concatenate([unchanged.lines[positions], *(line for _, line in unchanged.repeats)])
    unchanged.hold = False
    _stage_records(db, stage, entity, ids, lines)
    return len(ids)


def _stage_records(db: peewee.Database, stage: Stage, entity: Entity, ids, lines) -> None:
    """Stages a narrow row on each line of ``lines``, of the record of the id beside it;
    in the order of the ids, so the copy's rows are read in their order (1,000,000 users
    at random took SQLite 5.2 s)."""
    if not len(ids):
        return
    order = np.argsort(ids, kind="stable")
    ids, lines = ids[order], lines[order]
    with integer_pairs(db, ids, lines) as (pairs, params):
        db.execute_sql(
            f'INSERT INTO "{stage_table(entity)}" (line, sourced_id, row_hash, status, same) '
            f"SELECT h.b, r.sourced_id, r.row_hash, 'active', TRUE FROM {pairs} "
            f'JOIN "{stage.roster(entity)}" r ON r.id = h.a', params)


def keep_unmatched(db: peewee.Database, stage: Stage, entity: Entity,
                   unchanged: UnchangedRows) -> None:
    """Counts the narrow rows the checks kept (the plan's count of them), and keeps the
    ids of the present records no narrow row repeats, where the removal search may start
    from them (:func:`~al_roster.sync.plan.lacking`): when they are fewer than those some
    row repeats. Held rows need it (the staged rows lack them), unless they are the fewer:
    then they are staged (as the checks left them: none is a duplicate, none names what
    is gone), a night that changed most records listing them rather than the rest. Rows
    staged narrow need it only while every matched record still has its row (none was
    left out by a check since)."""
    if unchanged.hold and unchanged.narrow_count() < len(unchanged) / 2:
        stage_positions(db, stage, entity, unchanged, [unchanged.held_positions()])
    staged, held = stage.entities[entity.name], unchanged.narrow_count()
    staged.narrow = db.execute_sql(
        f'SELECT COUNT(*) FROM "{stage_table(entity)}" WHERE same').fetchone()[0]
    if unchanged.hold:
        staged.narrow += held
        if not held:  # none held (any there were, staged): the staged rows tell it all
            return
    elif staged.narrow != held or held < len(unchanged) / 2:
        return
    table = unmatched_table(entity.name)
    create_temp_table(db, table, [("id", "BIGINT PRIMARY KEY")])
    bulk_load(db, table, ["id"], ((i,) for i in unchanged.unmatched_ids().tolist()))
    analyze(db, table)
    stage.unmatched.add(entity.name)
