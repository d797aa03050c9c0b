"""Rows a bulk file repeats unchanged, told apart while the file is read.

A district's nightly export is written afresh, so its bytes differ even when almost no
value does. Every row read is hashed (``row_hash``); the roster copy keeps each present
record's hash. :class:`UnchangedRows` holds one 64-bit key per present record, made from
its sourcedId and hash, and splits each chunk of rows read into those whose key it holds
(the same sourcedId with the same values: nothing to write, so only their line,
sourcedId, status and hash are staged) and the others, staged whole.

A key is XXH3 of the sourcedId under a seed drawn for each sync, plus the hash times an
odd constant (modulo 2**64). Two rows of one sourcedId never share a key unless their hashes
are equal; with the seed unknown, nobody can write a row whose key matches another
record's on purpose, and by chance a row matches another record's key with a probability
of about (rows read x records held) / 2**64, under one in ten million for the largest
district. Pure: it sees rows and keys, never a database, so it runs wherever the file is
read.
"""
from __future__ import annotations

import mmap
import os
import tempfile
from collections.abc import Callable, Iterable
from itertools import compress

from xxhash import xxh3_64_intdigest


class _LazyNumpy:
    """numpy, imported on first use: a sync needs it, the web app's processes need not."""

    def __getattr__(self, name: str):
        import numpy

        globals()["np"] = numpy
        return getattr(numpy, name)


np = _LazyNumpy()

#: What a row whose values the copy already holds (a narrow row) carries: its line,
#: sourcedId and hash. It is staged with status 'active' and ``same`` true (to tell it
#: from a whole row): NARROW_STAGED, the values with NARROW_CONSTANTS after them.
NARROW_COLUMNS = ("line", "sourced_id", "row_hash")
NARROW_CONSTANTS = ("active", True)
NARROW_STAGED = (*NARROW_COLUMNS, "status", "same")


def narrow_lines(narrow: list[tuple]) -> np.ndarray:
    """The lines (int32) of narrow rows, in order."""
    return np.fromiter((row[0] for row in narrow), dtype=np.int32, count=len(narrow))


def with_constants(narrow: list[tuple]) -> list[tuple]:
    """Narrow rows as NARROW_STAGED (for COPY, which takes no constants)."""
    return [row + NARROW_CONSTANTS for row in narrow]


def marking(chunks, unchanged: UnchangedRows | None):
    """The chunks of a reading process (:mod:`al_roster.oneroster.reading_process`), the
    keys they matched marked on ``unchanged`` as they pass."""
    for datas, counts in chunks:
        if unchanged is not None:
            unchanged.mark(datas[2], datas[3])
            if unchanged.kept is not None:
                unchanged.kept.add(*datas[2:6])
        yield datas, counts


#: Odd, so that multiplying by it is one-to-one modulo 2**64 (the golden ratio's bits).
_SPREAD = 0x9E3779B97F4A7C15


def new_seed() -> int:
    return int.from_bytes(os.urandom(8), "little")


def keys_of(sourced_ids: list[str], row_hashes: list[int], seed: int) -> np.ndarray:
    """The keys (uint64) of records given by their sourcedIds and hashes, in order."""
    count = len(sourced_ids)
    ids = np.fromiter((xxh3_64_intdigest(sid.encode("utf-8"), seed) for sid in sourced_ids),
                      dtype=np.uint64, count=count)
    hashes = np.fromiter(row_hashes, dtype=np.int64, count=count).view(np.uint64)
    return ids + hashes * np.uint64(_SPREAD)  # modulo 2**64


def _shared_keys(count: int) -> tuple[np.ndarray, int | None]:
    """An array of ``count`` keys in memory other processes can map (a memfd, or an unlinked
    file where there is none), and its descriptor; a private array (and None) if the
    system refuses one. The reading processes map the sync's keys instead of each holding a
    copy: at 6.9 M records the keys are 55 MB, held once."""
    if not count:
        return np.empty(0, dtype=np.uint64), None
    fd = None
    try:
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("al-roster-keys", os.MFD_CLOEXEC)
        else:
            with tempfile.TemporaryFile() as unlinked:
                fd = os.dup(unlinked.fileno())
        os.ftruncate(fd, count * 8)
        return np.frombuffer(mmap.mmap(fd, count * 8), dtype=np.uint64), fd
    except OSError:
        if fd is not None:
            os.close(fd)
        return np.empty(count, dtype=np.uint64), None


def _compact(ids: np.ndarray) -> np.ndarray:
    """Record ids as int32 when they fit (they do but in the largest of databases)."""
    return ids.astype(np.int32) if not len(ids) or ids.max() < 2**31 else ids


class UnchangedRows:
    """The keys of the records a copy holds, and the split of read rows against them.

    Built from the copy (:meth:`of_records`), it also knows each key's record id and the
    line of the row that repeated it (:meth:`mark`, done by :meth:`split` where it splits),
    so the records no row repeats can be told without looking at the others
    (:meth:`unmatched_ids`), and a narrow row can be held here rather than staged: its
    sourcedId and hash are its record's, its line is kept (:meth:`take`). Its keys sit in
    shared memory (:attr:`fd`), which a reading process maps (:meth:`from_shared`): there
    it holds the keys alone."""

    def __init__(self, keys: np.ndarray, seed: int, ids: np.ndarray | None = None,
                 fd: int | None = None, hold: bool = False, by_lines: bool = False):
        self.keys, self.seed, self.ids, self.fd = keys, seed, ids, fd  # keys: sorted uint64
        #: Whether the narrow rows are held here, not staged (the sync's choice).
        self.hold = hold
        #: Whether the keys are those of the lines that gave the records (the district's
        #: known lines: :mod:`al_roster.oneroster.line_keys`), not of the records' values.
        self.by_lines = by_lines
        #: The seed the reading keys its lines under, to keep them (None: not kept), and
        #: where the sync keeps them (a :class:`~al_roster.oneroster.line_keys.KeptLines`).
        self.line_seed: int | None = seed if by_lines else None
        self.kept = None
        self._id_order: tuple[np.ndarray, np.ndarray] | None = None  # (see held)
        #: Per key, the line of the row that repeated its record (0: none did).
        self.lines = None if ids is None else np.zeros(len(keys), dtype=np.int32)
        #: (positions, lines) of the rows repeating a record another row repeated already.
        self.repeats: list[tuple[np.ndarray, np.ndarray]] = []
        self._starts: tuple[np.ndarray, np.uint64] | None = None  # (see _buckets)

    @classmethod
    def of_lines(cls, count: int, id_size: int, seed: int,
                 fill: Callable[[np.ndarray, np.ndarray], bool]) -> UnchangedRows | None:
        """From the district's ``count`` known lines: ``fill(keys, ids)`` writes their keys
        (sorted uint64) into the first array, in shared memory for the reading processes to
        map, and the ids of the records they gave (``id_size`` bytes each) into the second,
        and says whether it could (else None)."""
        shared, fd = _shared_keys(count)
        ids = np.empty(count, dtype=np.int32 if id_size == 4 else np.int64)
        if not fill(shared, ids):
            if fd is not None:
                os.close(fd)
            return None
        return cls(shared, seed, ids, fd, hold=True, by_lines=True)

    @classmethod
    def of_records(cls, batches: Iterable[list[tuple[str, int, int]]], seed: int,
                   hold: bool = False) -> UnchangedRows:
        """From batches of (sourcedId, row_hash, id) of the present records; ``hold``: the
        narrow rows are to be held here, not staged."""
        key_parts, id_parts = [], []
        for batch in batches:
            key_parts.append(keys_of([r[0] for r in batch], [r[1] for r in batch], seed))
            id_parts.append(_compact(np.fromiter((r[2] for r in batch), dtype=np.int64,
                                                 count=len(batch))))
        if not key_parts:
            return cls(np.empty(0, dtype=np.uint64), seed, np.empty(0, dtype=np.int64),
                       hold=hold)
        # The keys joined straight into shared memory and sorted there, their order taken
        # first for the ids: at 6.9 M records the peak is the keys (55 MB), their order
        # and the ids twice (28 MB each), where sorting a copy held four arrays of 55 MB.
        shared, fd = _shared_keys(sum(map(len, key_parts)))
        np.concatenate(key_parts, out=shared)
        del key_parts
        order = np.argsort(shared)
        if len(order) < 2**31:
            order = order.astype(np.int32)
        shared.sort()  # (argsort's order, but for keys equal by a 1-in-2**64 chance)
        ids = np.concatenate(id_parts)
        del id_parts
        return cls(shared, seed, ids[order], fd, hold)

    def close(self) -> None:
        """Lets go of the shared memory's descriptor (the keys stay readable here)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def mark(self, positions: bytes | np.ndarray, lines: bytes | np.ndarray) -> None:
        """Notes the keys (by position) that rows matched, and the rows' lines, as a split
        elsewhere found. A record repeated again (a file listing it twice) keeps its first
        line noted here; the others are kept among :attr:`repeats`."""
        if isinstance(positions, bytes):
            positions = np.frombuffer(positions, dtype=np.int64)
        if isinstance(lines, bytes):
            lines = np.frombuffer(lines, dtype=np.int32)
        fresh = self.lines[positions] == 0
        self.lines[positions[fresh]] = lines[fresh]
        again = self.lines[positions] != lines  # (each row has a line of its own)
        if again.any():
            self.repeats.append((positions[again], lines[again]))

    def narrow_count(self) -> int:
        """How many rows repeated a record of the copy (narrow rows), not yet taken."""
        return int(np.count_nonzero(self.lines)) + sum(len(p) for p, _ in self.repeats)

    def held_positions(self) -> np.ndarray:
        """The positions of the keys some row repeated (and was not taken)."""
        return np.flatnonzero(self.lines)

    def repeated(self) -> np.ndarray:
        """The positions of the keys more than one row repeated."""
        if not self.repeats:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate([p for p, _ in self.repeats]))

    def held(self, records: list[tuple[str, int, int]]) -> np.ndarray:
        """The positions of the keys of these records (sourcedId, row_hash, id) that some
        row repeated."""
        if self.by_lines:
            at, found = self._places_of_ids(np.fromiter((r[2] for r in records),
                                                        dtype=np.int64, count=len(records)))
        else:
            at, found = self.find(keys_of([r[0] for r in records], [r[1] for r in records],
                                          self.seed))
        at = at[found]
        return at[self.lines[at] != 0].astype(np.int64)

    def _places_of_ids(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position, held) of the keys of the records of these ids."""
        if self._id_order is None:  # (the order as int32, and the ids in it: 55 MB at 6.9 M)
            order = np.argsort(self.ids, kind="stable")
            order = order.astype(np.int32) if len(order) < 2**31 else order
            self._id_order = (order, self.ids[order])
        order, sorted_ids = self._id_order
        if not len(order):
            return np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=bool)
        at = np.minimum(np.searchsorted(sorted_ids, wanted), len(order) - 1)
        return order[at].astype(np.int64), sorted_ids[at] == wanted

    def take(self, positions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(record ids, lines) of every row that repeated the keys at ``positions`` (arrays
        of them), which are then no longer held here (the caller stages those rows)."""
        positions = np.unique(np.concatenate([np.empty(0, dtype=np.int64), *positions]))
        positions = positions[self.lines[positions] != 0]
        ids, lines = [self.ids[positions]], [self.lines[positions]]
        kept = []
        for at, line in self.repeats:
            taken = np.isin(at, positions)
            ids.append(self.ids[at[taken]])
            lines.append(line[taken])
            if not taken.all():
                kept.append((at[~taken], line[~taken]))
        self.repeats = kept
        self.lines[positions] = 0
        return np.concatenate(ids), np.concatenate(lines)

    def forget(self) -> None:
        """Forgets every row that matched (a reading abandoned, to be read again)."""
        self.lines[:] = 0
        self.repeats = []
        if self.kept is not None:
            self.kept.forget()

    def drop_keys(self) -> None:
        """Lets go of the keys (no more look-ups): 55 MB at 6.9 M records."""
        self.keys, self._starts = np.empty(0, dtype=np.uint64), None

    def let_go(self) -> None:
        """Lets go of every array (the run is done with them), so their memory goes at
        once rather than with the run."""
        self.drop_keys()
        self.ids = self.lines = self._id_order = None
        self.repeats = []

    def unmatched_ids(self) -> np.ndarray:
        """The ids of the records no row repeated (or whose rows were taken)."""
        return self.ids[self.lines == 0]

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def from_keys(cls, data: bytes, seed: int) -> UnchangedRows:
        """Rebuilt from the bytes of :attr:`keys` (in a reading process: keys alone)."""
        return cls(np.frombuffer(data, dtype=np.uint64), seed)

    @classmethod
    def from_shared(cls, fd: int, count: int, seed: int) -> UnchangedRows:
        """Rebuilt from the shared memory of another's :attr:`fd` (``count`` keys), mapped
        read-only; ``fd`` is closed."""
        try:
            if not count:
                return cls(np.empty(0, dtype=np.uint64), seed)
            mapping = mmap.mmap(fd, count * 8, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        return cls(np.frombuffer(mapping, dtype=np.uint64), seed)

    def find(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position, held) of each key ``wanted``: where it sits in :attr:`keys`, and
        whether it is there. Keys are uniform over 64 bits, so their top bits tell the
        few places a key can be (:meth:`_buckets`): a couple of look-ups each, where a
        binary search of 6.9 M keys makes 23, most of them out of the cache (1.2 us a key
        against 0.07 us)."""
        keys, (starts, shift) = self.keys, self._buckets()
        bucket = (wanted >> shift).astype(np.intp)
        at, ends = starts[bucket].astype(np.intp), starts[bucket + 1]
        held = np.zeros(len(wanted), dtype=bool)
        looking = np.flatnonzero(at < ends)
        while len(looking):  # one step along each bucket at a time; a bucket holds ~3
            seen = keys[at[looking]]
            wants = wanted[looking]
            held[looking[seen == wants]] = True
            going_on = seen < wants
            at[looking[going_on]] += 1
            looking = looking[going_on]
            looking = looking[at[looking] < ends[looking]]
        at[~held] = 0
        return at, held

    def _buckets(self) -> tuple[np.ndarray, np.uint64]:
        """Where each run of keys sharing their top bits starts (one run for about three
        keys, 2**b + 1 offsets as int32), and the shift that leaves those bits; built on
        the first look-up, in slices, so no copy of the keys is made."""
        if self._starts is None:
            bits = max(1, int(len(self.keys)).bit_length() - 2)
            shift = np.uint64(64 - bits)
            counts = np.zeros(2**bits, dtype=np.int64)
            for begin in range(0, len(self.keys), 1 << 20):
                part = (self.keys[begin:begin + (1 << 20)] >> shift).astype(np.intp)
                counts += np.bincount(part, minlength=2**bits)
            starts = np.zeros(2**bits + 1, dtype=np.int32)
            np.cumsum(counts, out=starts[1:])
            self._starts = (starts, shift)
        return self._starts

    def split(self, rows: list[tuple]) -> tuple[list[tuple], list[tuple], np.ndarray]:
        """(rows to stage whole, narrow rows, positions of the keys they matched) of a
        chunk of read rows (see :mod:`al_roster.oneroster.rows` for their shape). Only
        active rows can be unchanged; each narrow row holds the NARROW_COLUMNS."""
        if not rows or not len(self.keys) or self.by_lines:  # (line keys tell no row's values)
            return rows, [], np.empty(0, dtype=np.int64)
        wanted = keys_of([row[1] for row in rows], [row[-1] for row in rows], self.seed)
        at, held = self.find(wanted)
        picked = list(compress(rows, held))
        if any(row[2] != "active" for row in picked):  # (a bulk 1.1 file's tobedeleted row)
            held &= np.fromiter((row[2] == "active" for row in rows), dtype=bool,
                                count=len(rows))
            picked = list(compress(rows, held))
        positions = at[held].astype(np.int64)
        narrow = [(row[0], row[1], row[-1]) for row in picked]
        if self.lines is not None:
            self.mark(positions, narrow_lines(narrow))
        return list(compress(rows, ~held)), narrow, positions
