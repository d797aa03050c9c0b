"""One big file read in two parts at once, each by its own reading process (both cores).

The file's bytes go, as they come from the package, to the first reader up to a cut near
the middle, and from there on, after the header line, to the second. The cut is a line
break where the quotes seen so far pair up: where a record ends in well-formed CSV. The
first reader confirms it (its last record ended there, no quoted value left open), or the
split is given up (:class:`SplitAbandoned`) and the file is read again by one reader, which
is also how a file that fails in either part is read, so that its failure is worded as one
reader words it.

The second reader numbers its records from :data:`SECOND_BASE`. Once the first has said
how many it read, :attr:`Split.offset` renumbers them, and the second's issues are
replayed, renumbered, after all of the first's: the run ends with the rows, issues and
hashes of one reader reading the file.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait

from .entities import ENTITY_BY_NAME
from .package import _BUFFER, CsvPackage
from .reading_process import ReadingProcess, job, replay
from .text import MAX_LINE_BYTES

#: Where the second part's record numbers start, until renumbered.
SECOND_BASE = 1_000_000_000
#: The second part's issues wait for the first's; past this many, the split is given up
#: (a file with so many bad rows is read by one reader, its issues folded as they come).
MAX_WAITING_CALLS = 100_000


class SplitAbandoned(Exception):
    """The two parts would not read as the whole file does: read it as one."""


@dataclass
class Split:
    """What the caller needs once the chunks are loaded: the number to add to a second-part
    record's number, less :data:`SECOND_BASE` (None when there was no second part)."""

    offset: int | None = None

    def line(self, line):
        if line is None or self.offset is None or line < SECOND_BASE:
            return line
        return line + self.offset


def read_in_two(readers: tuple[ReadingProcess, ReadingProcess], package: CsvPackage,
                entity_name: str, mode: str, checks: list, fmt: str, issues, unchanged,
                split: Split) -> Iterator[tuple]:
    """The chunks of both readers as they come (see :meth:`ReadingProcess.chunks`); the
    first's issues replayed onto ``issues`` at once, the second's when the first is done.
    Sets ``split.offset``; raises :class:`SplitAbandoned` (readers left busy, so closing
    stops them) when the parts would not read as the whole file."""
    first, second = readers
    first.begin(job(package, entity_name, mode, checks, fmt, unchanged))
    second.begin(job(package, entity_name, mode, checks, fmt, unchanged,
                     first_line=SECOND_BASE, header_issues=False))
    cut, failure = _Cut(), []
    name = ENTITY_BY_NAME[entity_name].file_name
    feeders = [threading.Thread(target=feed, args=(package, name, reader, cut, failure),
                                name=f"al-roster-feed-{n}", daemon=True)
               for n, (feed, reader) in enumerate(((_feed_first, first),
                                                   (_feed_second, second)))]
    for feeder in feeders:
        feeder.start()
    outcomes: dict[int, tuple] = {}
    waiting: list = []
    by_connection = {first.results: (0, first), second.results: (1, second)}
    while len(outcomes) < 2:
        for connection in wait([c for c, (n, _) in by_connection.items() if n not in outcomes]):
            n, reader = by_connection[connection]
            kind, data, count, calls = reader.receive()
            if n == 0:
                replay(calls, issues)
            else:
                waiting += calls
                if len(waiting) > MAX_WAITING_CALLS:
                    raise SplitAbandoned
            if kind == "chunk":
                if not failure:
                    yield data, count
            else:
                outcomes[n] = (kind, data)
                reader.busy = False
    for feeder in feeders:
        feeder.join()
    if failure:  # the package itself refused more bytes (a zip bomb): that comes first
        raise failure[0]
    if any(kind != "done" for kind, _ in outcomes.values()):
        raise SplitAbandoned
    next_line, ran_dry = outcomes[0][1]
    if ran_dry and cut.at is not None:
        raise SplitAbandoned
    split.offset = None if cut.at is None else next_line - SECOND_BASE
    replay([(name, (args[0], split.line(args[1]), *args[2:])) for name, args in waiting],
           issues)


class _Cut:
    """Where the file is cut, in bytes from its start (None: nowhere), once ``found``."""

    def __init__(self):
        self.at: int | None = None
        self.found = threading.Event()


_NOWHERE = 1 << 62


def _feed_first(package: CsvPackage, name: str, first: ReadingProcess, cut: _Cut,
                failure: list) -> None:
    """The file's bytes up to the cut (which is never before the middle), to the first."""
    limit, sent = package.size(name) // 2, 0
    try:
        with package.open_binary(name) as raw:
            while True:
                if sent >= limit:
                    cut.found.wait()
                    limit = _NOWHERE if cut.at is None else cut.at
                    if sent >= limit:
                        break
                block = raw.read(min(_BUFFER, limit - sent))
                if not block:
                    break
                first.feed(block)
                sent += len(block)
    except BaseException as exc:
        failure.append(exc)
    finally:
        first.end_feed()


def _feed_second(package: CsvPackage, name: str, second: ReadingProcess, cut: _Cut,
                 failure: list) -> None:
    """Finds the cut (counting quotes up to it), then sends the header and the bytes from
    the cut on to the second: it reads its part while the first reads its own."""
    try:
        with package.open_binary(name) as raw:
            header = raw.readline(MAX_LINE_BYTES + 1)
            second.feed(header)
            quotes, sent = header.count(b'"'), len(header)
            # a header spanning lines (its quotes unpaired): no cut, the first reads it all
            middle = package.size(name) // 2 if quotes % 2 == 0 else _NOWHERE
            while cut.at is None and (block := raw.read(_BUFFER)):
                at = _cut(block, quotes, max(0, middle - sent)) \
                    if sent + len(block) > middle else None
                if at is None:
                    quotes, sent = quotes + block.count(b'"'), sent + len(block)
                    continue
                cut.at = sent + at
                cut.found.set()
                if at < len(block):
                    second.feed(block[at:])
            if cut.at is not None:
                while block := raw.read(_BUFFER):
                    second.feed(block)
    except BaseException as exc:
        failure.append(exc)
    finally:
        cut.found.set()
        second.end_feed()


def _cut(block: bytes, quotes: int, start: int) -> int | None:
    """Where in ``block``, at or after ``start``, a line ends with the quotes before it
    paired (``quotes`` were seen before the block): the index after that line break."""
    at = block.find(b"\n", start)
    if at < 0:
        return None
    quotes += block.count(b'"', 0, at)
    while quotes % 2:
        following = block.find(b"\n", at + 1)
        if following < 0:
            return None
        quotes += block.count(b'"', at, following)
        at = following
    return at + 1
