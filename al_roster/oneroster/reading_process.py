"""Reading a big file in a second process while the sync's own process loads the database.

Reading a file (decoding, matching, checking, hashing its rows) is Python's work; loading
the rows is the database's and the driver's. In one process they take turns; here a
reading process beside the sync does the first, so on two cores both go at once. The sync
feeds it the file's bytes as they come from the package (so a drop file opened once is
read from that handle, a zip member through its bomb checks) and gets back chunks ready
to load: rows (for ``executemany``) or the CSV text ``COPY`` reads. Issues are recorded as
the calls the reader made and replayed, in order, onto the sync's own log, so the run ends
with the same rows, issues and hashes as if it had read the file itself.

The reading process is a Python of its own (nothing of the sync's state is inherited, the
host's main module is not run again); it ends when the sync closes it, or when the sync's
process dies (its pipes close).
"""
from __future__ import annotations

import csv
import io
import marshal
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from itertools import islice
from multiprocessing.connection import Connection

from .entities import ENTITY_BY_NAME
from .known_references import KnownReferences
from .line_keys import KeyedLines
from .memory import give_back
from .package import _BUFFER, CsvPackage
from .rows import FileReader
from .text import LineBatches, LineGuard, decoded_lines
from .unchanged import UnchangedRows, narrow_lines, with_constants

#: Rows per chunk sent back (as the in-process loader's chunks).
CHUNK_ROWS = 20_000
_END = b""


class ReadingStopped(RuntimeError):
    """The reading process ended before the file did (killed, out of memory)."""


class IssueRecorder:
    """Stands in for an :class:`~al_roster.oneroster.issues.IssueLog`: keeps the calls."""

    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []

    def error(self, *args) -> None:
        self.calls.append(("error", args))

    def warning(self, *args) -> None:
        self.calls.append(("warning", args))

    def folded_warning(self, *args) -> None:
        self.calls.append(("folded_warning", args))

    def take(self) -> list[tuple[str, tuple]]:
        calls, self.calls = self.calls, []
        return calls


def replay(calls: list[tuple[str, tuple]], issues) -> None:
    for name, args in calls:
        getattr(issues, name)(*args)


class _Blocks(io.RawIOBase):
    """The file's bytes as they arrive over the pipe, read as a package file is read
    (whole requests filled, the line guard watching each), so lines come out the same."""

    def __init__(self, conn, guard: LineGuard):
        self.conn, self.guard, self.pending, self.ended = conn, guard, memoryview(b""), False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        filled, want = 0, len(buffer)
        while filled < want:
            if not self.pending:
                if self.ended:
                    break
                block = self.conn.recv_bytes()
                if block == _END:
                    self.ended = True
                    break
                self.pending = memoryview(block)
            take = min(want - filled, len(self.pending))
            buffer[filled:filled + take] = self.pending[:take]
            self.pending, filled = self.pending[take:], filled + take
        data = bytes(buffer[:filled])
        self.guard.check(data)
        return filled

    def drain(self) -> None:
        while not self.ended:
            self.ended = self.conn.recv_bytes() == _END


def _encoded(chunk: list[tuple], fmt: str) -> bytes:
    if fmt == "rows":
        return marshal.dumps(chunk)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(chunk)
    return buffer.getvalue().encode("utf-8")


def _read_one(job: dict, feed, results) -> None:
    """Reads one file (or a part of one) from ``feed``; sends ("chunk", (whole, narrow,
    keys matched, their lines, row lines, row keys), (rows, rows), issue calls) messages,
    then ("done", (next line, ran dry), 0, calls) or ("failed", exception, 0, calls).
    Without the keys of unchanged rows, every row is whole; with ``hold``, narrow rows go by
    their lines alone. With a ``line_seed``, each row's line key goes with its line; when
    the keys are those of known lines (``by_lines``), the known lines met are the keys
    matched, and every row read is whole (see :mod:`al_roster.oneroster.line_keys`)."""
    recorder = IssueRecorder()
    blocks = _Blocks(feed, LineGuard())
    try:
        entity = ENTITY_BY_NAME[job["entity"]]
        unchanged = _received_keys(job, feed)
        reader = FileReader(entity, job["version"], job["mode"], recorder)
        buffered = io.BufferedReader(blocks, _BUFFER)
        keyed = None if job.get("line_seed") is None else KeyedLines(
            LineBatches(buffered, entity.file_name), job["line_seed"],
            unchanged if job["by_lines"] else None,
            lambda: _send_chunk([], job, unchanged, keyed, results, recorder, rows=False))
        lines = decoded_lines(buffered, entity.file_name) if keyed is None else keyed
        rows = KnownReferences(entity, job["checks"], recorder).filter(reader.read(
            lines, job.get("first_line", 2), job.get("header_issues", True), keyed=keyed))
        while _send_chunk(list(islice(rows, CHUNK_ROWS)), job, unchanged, keyed, results,
                          recorder):
            pass
        outcome: tuple = ("done", (reader.next_line, reader.ran_dry), 0, recorder.take())
    except Exception as exc:  # handed to the sync, which raises it there
        outcome = ("failed", (type(exc), exc.args, vars(exc)), 0, recorder.take())
    blocks.drain()
    results.send(outcome)


def _send_chunk(chunk: list[tuple], job: dict, unchanged: UnchangedRows | None,
                keyed: KeyedLines | None, results, recorder: IssueRecorder,
                rows: bool = True) -> bool:
    """Sends a chunk of rows read, and what was found by line key since the last (see
    :meth:`ReadingProcess.chunks`; without ``rows``, the known lines alone); returns
    whether there may be more."""
    places, known, row_lines, row_keys = (b"",) * 4 if keyed is None else keyed.found.take(rows)
    if not chunk and not places:
        return False
    whole, narrow, matched, lines = chunk, [], places, known
    if unchanged is not None and not unchanged.by_lines:
        whole, narrow, matched = unchanged.split(chunk)
        lines = narrow_lines(narrow)
    if job["hold"]:  # the sync holds them by their lines: nothing to stage
        narrow = []
    fmt = job["format"]
    if fmt == "csv":
        narrow = with_constants(narrow)
    results.send(("chunk", (_encoded(whole, fmt), _encoded(narrow, fmt), bytes(matched),
                            bytes(lines), row_lines, row_keys), (len(whole), len(narrow)),
                  recorder.take()))
    return bool(chunk)


def _received_keys(job: dict, feed: Connection) -> UnchangedRows | None:
    """The keys a job's rows are split against: they follow the job, as the descriptor of
    the sync's shared memory or as bytes of their own (see :meth:`ReadingProcess.begin`)."""
    seed = job["unchanged"]
    if seed is None:
        return None
    if not job["keys_shared"]:
        unchanged = UnchangedRows.from_keys(feed.recv_bytes(), seed)
    else:
        with socket.socket(fileno=os.dup(feed.fileno())) as sock:
            _, fds, _, _ = socket.recv_fds(sock, 1, 1)
        unchanged = UnchangedRows.from_shared(fds[0], job["keys_count"], seed)
    unchanged.by_lines = job["by_lines"]
    return unchanged


def _serve(feed, results) -> None:
    """The reading process: one job (a file) after another, until told to stop. numpy,
    which every file's keys need, is loaded first, while the sync reads its small files
    (85-110 ms here: loaded when the first keys came, it held the first big file back)."""
    import numpy  # noqa: F401
    while True:
        try:
            job = feed.recv()
        except EOFError:  # the sync's process is gone
            return
        if job is None:
            return
        _read_one(job, feed, results)
        give_back()  # (what it held for the file, not kept while it waits for the next)


class ReadingProcess:
    """The sync's side: starts the reading process and reads files through it."""

    def __init__(self):
        # A process of its own (not multiprocessing's, which would import the host's main
        # module again): two pipes, the file's bytes in, the chunks out.
        feed_child, feed = socket.socketpair()
        results, results_child = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [_PACKAGE_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _START, str(feed_child.fileno()), str(results_child),
                 _PACKAGE],
                pass_fds=(feed_child.fileno(), results_child), env=env,
                stdin=subprocess.DEVNULL)
        finally:
            feed_child.close()
            os.close(results_child)
        self._feed = Connection(feed.detach())
        self._ending = False  # told to end (see stop)
        self._results = Connection(results, writable=False)
        self.busy = False  # a file is being read: closing then stops the process at once

    def chunks(self, package: CsvPackage, entity_name: str, mode: str,
               checks: list[tuple[int, set[str]]], fmt: str, issues,
               unchanged: UnchangedRows | None = None) -> Iterator[tuple]:
        """((whole, narrow, keys matched, their lines, row lines, row keys), (rows, rows))
        of each chunk of the file's good rows, ``fmt`` "rows" (marshalled tuples) or "csv"
        (COPY text, UTF-8);
        narrow are the rows ``unchanged`` holds (none without it, nor where it holds them
        itself: :attr:`~al_roster.oneroster.unchanged.UnchangedRows.hold`), as
        NARROW_COLUMNS in rows and NARROW_STAGED in COPY text; the keys matched as int64
        positions, their lines as int32; the lines (int32) and line keys (uint64) of the
        rows read, where ``unchanged`` has a ``line_seed`` (else empty). The reader's issues
        are replayed onto ``issues``."""
        entity = ENTITY_BY_NAME[entity_name]
        self.begin(job(package, entity_name, mode, checks, fmt, unchanged))
        failure: list[BaseException] = []
        feeder = threading.Thread(target=self._send_file, args=(package, entity, failure),
                                  name="al-roster-feed", daemon=True)
        feeder.start()
        kind = "chunk"
        try:
            while kind == "chunk":
                kind, data, count, calls = self.receive()
                replay(calls, issues)
                if kind == "chunk" and not failure:
                    yield data, count
        finally:
            if kind != "chunk":  # the reader finished the file (when left early, the
                feeder.join()    # sync is failing: close() stops the process)
                self.busy = False
        if failure:  # the package itself refused more bytes (a zip bomb): that comes first
            raise failure[0]
        if kind == "failed":
            raise _rebuilt(data)

    # -- the parts of a reading, for those that feed more than one reader ----------------
    def begin(self, job: dict) -> None:
        """Hands the reader a file (see :func:`job`); its bytes follow through :meth:`feed`.
        The keys of unchanged rows follow the job: the descriptor of their shared memory,
        which the reader maps, or (where there is none) their bytes, straight from their
        array (never copied into the pickled job)."""
        job = dict(job)
        keys: UnchangedRows | None = job.pop("keys", None)
        shared = keys is not None and keys.fd is not None and hasattr(socket, "send_fds")
        if keys is not None:
            job.update(keys_shared=shared, keys_count=len(keys))
        try:
            self._feed.send(job)
            if shared:
                with socket.socket(fileno=os.dup(self._feed.fileno())) as sock:
                    socket.send_fds(sock, [b"k"], [keys.fd])
            elif keys is not None:
                self._feed.send_bytes(memoryview(keys.keys).cast("B"))
        except OSError:
            self._stopped()
        self.busy = True

    def feed(self, block: bytes) -> None:
        self._feed.send_bytes(block)

    def end_feed(self) -> None:
        try:
            self._feed.send_bytes(_END)
        except OSError:  # the reading process is gone; the sync hears of it
            pass

    def receive(self) -> tuple:
        """The reader's next message: (kind, data, count, issue calls)."""
        try:
            return self._results.recv()
        except EOFError:
            self._stopped()

    @property
    def results(self) -> Connection:
        """Where its messages arrive (to wait on several readers at once)."""
        return self._results

    def _stopped(self):
        self.process.wait(10)
        raise ReadingStopped(f"the process reading the package stopped (exit status "
                             f"{self.process.returncode})") from None

    def _send_file(self, package: CsvPackage, entity, failure: list) -> None:
        try:
            with package.open_binary(entity.file_name) as raw:
                while block := raw.read(_BUFFER):
                    self.feed(block)
        except BaseException as exc:
            failure.append(exc)
        finally:
            self.end_feed()

    def stop(self) -> None:
        """Tells the reader to end (kills it in the middle of a file), without waiting for
        it: it exits while the sync goes on (:meth:`close` waits). Ending, each gives back
        what it mapped and held, which took 30 ms or so a reader."""
        if self._ending:
            return
        self._ending = True
        if self.busy:
            self.process.kill()
        else:
            try:
                self._feed.send(None)
            except OSError:
                pass
        self.busy = False

    def close(self) -> None:
        self.stop()
        if self._feed.closed:
            return
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._feed.close()
        self._results.close()


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE_ROOT = os.path.dirname(_PACKAGE)
#: The reading process imports the reader alone: the package's own __init__ (the Flask
#: extension and all it brings) is stood in for, so it starts in a few milliseconds.
_START = ("import sys, types\n"
          "package = types.ModuleType('al_roster')\n"
          "package.__path__ = [sys.argv[3]]\n"
          "sys.modules['al_roster'] = package\n"
          "from multiprocessing.connection import Connection\n"
          "from al_roster.oneroster.reading_process import _serve\n"
          "_serve(Connection(int(sys.argv[1])), Connection(int(sys.argv[2]), readable=False))\n")


def job(package: CsvPackage, entity_name: str, mode: str, checks: list, fmt: str,
        unchanged: UnchangedRows | None, **part) -> dict:
    """What a reader is told of a file: its entity, version and mode, the references it
    checks, the format of its chunks, the keys of unchanged rows, and for a part of a file,
    ``first_line`` and ``header_issues`` (see :meth:`FileReader.read`)."""
    return {"entity": entity_name, "version": package.version, "mode": mode, "checks": checks,
            "format": fmt, "unchanged": None if unchanged is None else unchanged.seed,
            "keys": unchanged, "hold": unchanged is not None and unchanged.hold,
            "line_seed": None if unchanged is None else unchanged.line_seed,
            "by_lines": unchanged is not None and unchanged.by_lines, **part}


def _rebuilt(parts: tuple) -> BaseException:
    """An exception the reading process sent, as it was there (keyword attributes too)."""
    cls, args, attributes = parts
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(attributes)
    return exc


def decoded(data: bytes) -> list[tuple]:
    """The rows of a "rows" chunk."""
    return marshal.loads(data)
