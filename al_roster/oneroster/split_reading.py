"""One big file read in two parts at once, each by its own reading process (both cores).

The file's bytes go, as they come from the package, to the first reader up to a cut near
the middle, and from there on, after the header line, to the second. The cut is a line
break where the quotes seen so far pair up: where a record ends in well-formed CSV; the
records before it are counted the same way, so the second reader numbers its records
from where the first will stop. The first reader confirms both (its last record ended at
the cut, no quoted value left open, and it stopped at that number), or the split is given
up (:class:`SplitAbandoned`) and the file is read again by one reader, which is also how a
file that fails in either part is read, so that its failure is worded as one reader
words it. The second's issues are replayed after all of the first's: the run ends with
the rows, issues and hashes of one reader reading the file.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from multiprocessing.connection import wait

from .entities import ENTITY_BY_NAME
from .package import _BUFFER, CsvPackage
from .reading_process import ReadingProcess, job, replay
from .text import MAX_LINE_BYTES

#: The second part's issues wait for the first's; past this many, the split is given up
#: (a file with so many bad rows is read by one reader, its issues folded as they come).
MAX_WAITING_CALLS = 100_000


class SplitAbandoned(Exception):
    """The two parts would not read as the whole file does: read it as one."""


def read_in_two(readers: tuple[ReadingProcess, ReadingProcess], package: CsvPackage,
                entity_name: str, mode: str, checks: list, fmt: str, issues,
                unchanged) -> Iterator[tuple]:
    """The chunks of both readers as they come (see :meth:`ReadingProcess.chunks`); the
    first's issues replayed onto ``issues`` at once, the second's when the first is done.
    Raises :class:`SplitAbandoned` (readers left busy, so closing stops them) when the
    parts would not read as the whole file."""
    first, second = readers
    first.begin(job(package, entity_name, mode, checks, fmt, unchanged))
    cut, failure = _Cut(), []
    name = ENTITY_BY_NAME[entity_name].file_name
    feeders = [threading.Thread(target=feed, args=(package, name, reader, cut, failure),
                                name=f"al-roster-feed-{n}", daemon=True)
               for n, (feed, reader) in enumerate(((_feed_first, first),
                                                   (_feed_second, second)))]
    for feeder in feeders:
        feeder.start()
    cut.found.wait()  # the second part's first record number is known
    try:
        second.begin(job(package, entity_name, mode, checks, fmt, unchanged,
                         first_line=cut.first_line, header_issues=False))
    finally:
        cut.begun.set()
    outcomes: dict[int, tuple] = {}
    waiting: list = []
    yield from _both(readers, issues, failure, outcomes, waiting)
    for feeder in feeders:
        feeder.join()
    if failure:  # the package itself refused more bytes (a zip bomb): that comes first
        raise failure[0]
    if any(kind != "done" for kind, _ in outcomes.values()):
        raise SplitAbandoned
    next_line, ran_dry = outcomes[0][1]
    if cut.at is not None and (ran_dry or next_line != cut.first_line):
        raise SplitAbandoned
    replay(waiting, issues)


def _both(readers, issues, failure: list, outcomes: dict, waiting: list) -> Iterator[tuple]:
    """The chunks of both readers as they come, until both are done (``outcomes``: each
    one's last message); the second's issue calls kept in ``waiting``."""
    first, second = readers
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


class _Cut:
    """Where the file is cut, in bytes from its start (None: nowhere), and the number the
    record after it takes, once ``found``; ``begun`` once the second reader has its job."""

    def __init__(self):
        self.at: int | None = None
        self.first_line = 2
        self.found, self.begun = threading.Event(), threading.Event()


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
    """Finds the cut (counting quotes and records up to it), then sends the header and the
    bytes from the cut on to the second: it reads its part while the first reads its own."""
    header = b""
    try:
        with package.open_binary(name) as raw:
            header = raw.readline(MAX_LINE_BYTES + 1)
            quotes, sent = header.count(b'"'), len(header)
            records = header.count(b"\n")  # (a header spanning lines: unpaired quotes,
            middle = package.size(name) // 2 if quotes % 2 == 0 else _NOWHERE  # no cut)
            while cut.at is None and (block := raw.read(_BUFFER)):
                at = _cut(block, quotes, max(0, middle - sent)) \
                    if sent + len(block) > middle else None
                counted, quotes = _records(block if at is None else block[:at], quotes)
                records += counted
                if at is None:
                    sent += len(block)
                    continue
                cut.at, cut.first_line = sent + at, records + 1
                cut.found.set()
                cut.begun.wait()
                second.feed(header)
                if at < len(block):
                    second.feed(block[at:])
            if cut.at is not None:
                while block := raw.read(_BUFFER):
                    second.feed(block)
    except BaseException as exc:
        failure.append(exc)
    finally:
        cut.found.set()
        cut.begun.wait()
        if cut.at is None and header:
            second.feed(header)  # no second part: the header alone, read and done
        second.end_feed()


def _records(data: bytes, quotes: int) -> tuple[int, int]:
    """How many records end in ``data`` (line breaks with the quotes before them paired,
    ``quotes`` seen before it), and the quotes seen after it. Its whole lines are looked
    at all at once where each holds its quotes in pairs (as an export quoting every field
    writes them): then each line break ends a record, or none does."""
    if b'"' not in data:
        return (data.count(b"\n") if quotes % 2 == 0 else 0), quotes
    first, last = data.find(b"\n"), data.rfind(b"\n")
    if first != last and _quotes_paired_in_each_line(data, first + 1, last + 1):
        records, quotes = _each_line(data[:first + 1], quotes)
        if quotes % 2 == 0:
            records += data.count(b"\n", first + 1, last + 1)
        return records, quotes + data.count(b'"', first + 1)
    return _each_line(data, quotes)


#: Every byte but a quote and a line break.
_NOT_QUOTE_NOR_BREAK = bytes(b for b in range(256) if b not in b'"\n')


def _quotes_paired_in_each_line(data: bytes, start: int, end: int) -> bool:
    """Whether each line of ``data[start:end]`` holds an even number of quotes: with all
    else taken away, and each two quotes side by side, none is left."""
    return b'"' not in data[start:end].translate(None, _NOT_QUOTE_NOR_BREAK).replace(b'""', b"")


def _each_line(data: bytes, quotes: int) -> tuple[int, int]:
    """_records, line by line."""
    parts = data.split(b"\n")
    records = 0
    for part in parts[:-1]:
        quotes += part.count(b'"')
        records += quotes % 2 == 0
    return records, quotes + parts[-1].count(b'"')


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
