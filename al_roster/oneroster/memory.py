"""Memory a process freed, given back to the system.

glibc keeps the small blocks a process frees (SQLite's cached pages, Python's objects) for
its next allocations, so a sync that held a 64 MB page cache, or a reading process that read
a million users, goes on holding that memory while it builds its next arrays. Where the C
library is glibc, :func:`give_back` hands every free page back (``malloc_trim``); elsewhere
it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None).malloc_trim
    except (OSError, AttributeError):  # (not glibc)
        return None


def give_back() -> None:
    """Returns the free pages of the process's heap to the system, where it can."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
