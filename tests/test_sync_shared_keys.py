"""The keys of the copy's records are held once: the reading processes map the sync's
shared memory instead of each receiving a copy, and a sync lets go of it when read.

At 1,000,000 students the keys of the enrollments alone are 55 MB; three processes each
holding them put a night past its memory budget.
"""
from __future__ import annotations

import gc
import os
import socket
import threading
from multiprocessing.connection import Connection

import numpy as np
import pytest
from test_sync_unchanged_rows import quoted, rewritten

from al_roster.demo.generator import generate_district
from al_roster.oneroster import unchanged as unchanged_module
from al_roster.oneroster.reading_process import ReadingProcess, _received_keys, job
from al_roster.oneroster.unchanged import UnchangedRows
from al_roster.services.districts import add_district
from al_roster.sync import staging
from al_roster.sync.runner import sync_package

pytestmark = pytest.mark.skipif(not hasattr(socket, "send_fds"), reason="needs SCM_RIGHTS")


def records(count: int, seed: int = 99) -> UnchangedRows:
    return UnchangedRows.of_records(
        [[(f"enr-{n}", n * 7919 - 2**40, n) for n in range(count)]], seed)


def handed_over(keys: UnchangedRows) -> UnchangedRows:
    """``keys`` sent as a reading job sends them, and received as a reading process does."""
    ours, theirs = socket.socketpair()
    sender = ReadingProcess.__new__(ReadingProcess)
    sender._feed = Connection(ours.detach())
    receiving = Connection(theirs.detach())
    sending = threading.Thread(target=sender.begin, args=(
        job(_Package(), "enrollments", "bulk", [], "rows", keys),))
    sending.start()  # (bytes wait for the other side to read them)
    try:
        return _received_keys(receiving.recv(), receiving)
    finally:
        sending.join()
        sender._feed.close()
        receiving.close()


class _Package:
    version = "1.1"


def test_a_reading_process_maps_the_keys_the_sync_holds():
    keys = records(50_000)
    assert keys.fd is not None
    received = handed_over(keys)
    assert np.array_equal(received.keys, keys.keys) and received.lines is None
    rows = [(n + 2, f"enr-{n}", "active", None, n * 7919 - 2**40) for n in range(0, 50_000, 7)]
    assert received.split(rows)[1] == keys.split(rows)[1] != []
    # One memory, not a copy: what the sync's side holds is what the reader reads.
    keys.keys[:] = 0
    assert not received.keys.any()
    keys.close()
    assert keys.fd is None


def test_where_no_memory_can_be_shared_the_keys_go_as_bytes(monkeypatch):
    def refused(*args):
        raise OSError("no shared memory here")
    monkeypatch.setattr(unchanged_module.os, "memfd_create", refused, raising=False)
    monkeypatch.setattr(unchanged_module.os, "ftruncate", refused)
    keys = records(20_000)
    assert keys.fd is None
    received = handed_over(keys)
    assert np.array_equal(received.keys, keys.keys)
    keys.keys[:] = 0
    assert received.keys.any()  # a copy of their own


def _open_descriptors() -> list:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return sorted(found)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_night_read_beside_lets_go_of_the_shared_keys(app, tmp_path, monkeypatch):
    """A worker syncs district after district for months: each night's keys are let go."""
    monkeypatch.setattr(staging, "_two_cores", lambda: True)
    monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(staging, "SPLIT_MIN_BYTES", 0)
    district = add_district("shared", "Shared Keys", deletion_threshold=1.0)
    options = app.extensions["al_roster"].sync_options
    first = tmp_path / "first"
    generate_district(first, 200, seed=3)
    assert sync_package(district, first, options).status == "applied"
    made = []
    for maker in ("of_records", "of_lines"):  # (the copy's keys, or the known lines')
        real = getattr(UnchangedRows, maker).__func__

        def kept(cls, *args, _real=real, **kwargs):
            made.append(_real(cls, *args, **kwargs))
            return made[-1]
        monkeypatch.setattr(UnchangedRows, maker, classmethod(kept))
    open_after = []
    again = rewritten(first, tmp_path / "again", lambda stem, lines: [*lines, "\n"])
    for night in (quoted(first, tmp_path / "quoted"), again):
        run = sync_package(district, night, options)
        assert run.status == "applied" and run.message == "Applied: nothing changed."
        assert made and all(keys.fd is None for keys in made)
        del made[:]  # (their memory, and the descriptor its mapping holds, go with them)
        gc.collect()
        open_after.append(_open_descriptors())
    assert open_after[0] == open_after[1]

