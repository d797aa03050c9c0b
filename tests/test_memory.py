"""A sync's processes give freed memory back to the system between their big steps (glibc
keeps freed small blocks for reuse otherwise): what a 1,000,000-student night holds at
its peak is what it uses, not what it once used."""
from __future__ import annotations

import subprocess
import sys

import pytest

from al_roster.oneroster import memory

CHILD = r"""
import sys
from al_roster.oneroster.memory import give_back

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:")) / 1024

blocks = [bytes(4000) + bytes([n % 256]) for n in range(25_000)]  # 100 MB of malloc's blocks
last = bytes(4000) + b"!"  # (one kept above them: the heap cannot simply shrink from its top)
del blocks
before = rss_mb()
give_back()
print(before, rss_mb())
"""


@pytest.mark.skipif(memory._malloc_trim() is None, reason="the C library here is not glibc")
def test_freed_blocks_are_given_back_to_the_system():
    before, after = map(float, subprocess.run([sys.executable, "-c", CHILD], check=True,
                                              capture_output=True, text=True).stdout.split())
    assert before - after > 60, (before, after)
