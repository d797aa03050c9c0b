"""Lines a bulk file repeats from the file the copy was last read from, told by their text.

A night's export is written afresh, but almost all of its lines say what the same lines
said the night before. Each line a reader reads gets a *line key*: XXH3 of its normal form
(below) under a seed the district's known lines keep. After a clean read, the sync keeps
the key of every line that gave a present record, with that record's id
(:mod:`al_roster.sync.known_lines`); the next night a reader looks each line's key up
among them first, and a line found there is the record it gave, unchanged: it is neither
decoded, nor matched against the canonical pattern, nor checked, nor hashed, only noted
(its record and line). Every other line is read as before.

The normal form of a line is its fields, as a CSV reader reads them, joined by a unit
separator: an export that quotes every field reads as the same lines as one that quotes
none, or only those that need it. Two lines of one normal form have the same fields, so
the same header reads them into the same row. Most lines are bare, or quote every field
and need none, or quote a list of ids: their fields are found with a few string
operations over a batch of lines; any other line is split by the csv module, and one that
is not a whole record by itself is its own form. A line is only looked up where a record
starts (:class:`KeyedLines`, driven by the reader), and a record spanning lines has no key
(0): it is read every night.

Pure: it sees text and keys, never a database.
"""
from __future__ import annotations

import csv
from array import array
from collections.abc import Callable, Iterator
from itertools import repeat

from xxhash import xxh3_64_intdigest

from .text import LineBatches, not_utf8
from .unchanged import UnchangedRows, np

#: Lines keyed (and looked up) at a time.
BATCH = 4096
#: Known lines found, at most, before they are handed on (see KeyedLines.full).
KNOWN_PER_TAKE = 200_000


#: Between two fields of a line's normal form: a unit separator, which no export writes (a
#: line holding one, or a record separator, is taken as it is).
SEP = "\x1f"
#: Before a line taken as it is.
RAW = b"\x1e"
_SEP = SEP.encode()
_QUOTE, _COMMA, _BREAK, _SEP_BYTE = b'"'[0], b","[0], b"\n"[0], _SEP[0]
_COMMA_TO_SEP = bytes.maketrans(b",", _SEP)


def normal_forms(lines: list[bytes]) -> list[bytes]:
    """The normal form of each line (its bytes, as the file has them): its fields, as the
    csv module reads a whole record, joined by SEP, in UTF-8. The fields of lines quoting
    every field, none holding a quote, are found by looking at every byte of the batch at
    once (:func:`_every_field_quoted`); those of a line of bare fields, or of quoted fields
    holding no quote, or of both, in a few string operations over the whole batch
    (:func:`_plain`); those of any other line by the csv module (:func:`_records`). A line
    that is not one whole record by itself (a quote left open: the start of a value
    spanning lines; text after a closing quote), or that holds a carriage return inside,
    SEP or RAW, or is not UTF-8, is RAW and the line as it is, line break and all."""
    data = b"".join(lines)
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if data.endswith(b"\n"):
        data = data[:-1]
    if b"\r" not in data and _SEP not in data and RAW not in data and b"\x00" not in data:
        if data[:1] == b'"' == data[-1:]:
            forms = _every_field_quoted(data)
            if forms is not None:
                return forms
        text = _text(data)
        fields = None if text is None else _plain(text)
        if fields is not None:
            return fields.encode("utf-8").split(b"\n")
        records = None if text is None else _records([line.decode() for line in lines])
        if records is not None:
            return [SEP.join(record).encode("utf-8") for record in records]
    if len(lines) > 1:
        return [form for line in lines for form in normal_forms([line])]
    return [RAW + lines[0]]


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # (a line of it is refused when read: it is never known)
        return None


def _every_field_quoted(data: bytes) -> list[bytes] | None:
    """The normal forms of lines (``data``: in UTF-8, joined, without a final line break)
    that quote every field, as many exports write them, if no field holds a quote or a line
    break; else None. Found by looking at every byte at once, not at each field: each
    quote must stand at a line's start or end or beside a *separator* (a line break, or a
    comma between two quotes; any other comma is a field's own), every such place must
    hold one, and no quote may be shared by two (a line ``"`` is one quote, not two). Then
    the fields are what lies between the quotes, and the normal form is the text without
    them, its separating commas made SEP. (UTF-8 never writes a quote, comma or line break
    inside another character.)"""
    text = np.frombuffer(data, dtype=np.uint8)
    quotes, commas = text == _QUOTE, text == _COMMA
    separating = np.flatnonzero(commas[1:-1] & quotes[:-2] & quotes[2:]) + 1
    breaks = np.flatnonzero(text == _BREAK)  # (never first or last: those are quotes)
    edges = np.zeros(len(text), dtype=bool)
    edges[0] = edges[-1] = True
    for places in (separating, breaks):
        edges[places - 1] = edges[places + 1] = True
    if np.count_nonzero(quotes) != 2 * (len(separating) + len(breaks) + 1) \
            or not np.array_equal(edges, quotes):
        return None
    if len(separating) != np.count_nonzero(commas):  # (a field holds a comma)
        text = text.copy()
        text[separating] = _SEP_BYTE
        return text.tobytes().translate(None, b'"').split(b"\n")
    return data.translate(_COMMA_TO_SEP, b'"').split(b"\n")


def _plain(text: str) -> str | None:
    """The lines of ``text`` (joined, without a final line break) with SEP between their
    fields, if every quote of theirs opens or closes a field and no quoted field holds a
    quote or a line break; else None."""
    if '"' not in text:
        return text.replace(",", SEP)
    # Split at its quotes, every other part is what a field quoted, and each part between
    # holds the bare fields between two quoted ones: every quoted field must follow the
    # start of a line or a comma and come before a comma or a line's end (else a quote
    # sits inside a field, or two make one).
    parts = text.split('"')
    quoted, bare = parts[1::2], parts[0::2]
    framed = "\n" + '"Q"'.join(bare) + "\n"
    if len(parts) % 2 == 0 or "\n" in "".join(quoted) \
            or framed.count(',"Q"') + framed.count('\n"Q"') != len(quoted) \
            or framed.count('"Q",') + framed.count('"Q"\n') != len(quoted):
        return None
    parts[0::2] = "\x00".join(bare).replace(",", SEP).split("\x00")
    return "".join(parts)


def _records(lines: list[str]) -> list[list[str]] | None:
    """The fields of each line, if every line is one whole record by itself; else None."""
    reader, records = csv.reader(lines, strict=True), []
    try:
        for record in reader:
            records.append(record)
            if reader.line_num != len(records):  # (a value spanning lines)
                return None
    except csv.Error:
        return None
    return records if len(records) == len(lines) else None


def line_keys(lines: list[bytes], seed: int) -> np.ndarray:
    """The keys (uint64, never 0) of lines under ``seed``."""
    keys = np.fromiter(map(xxh3_64_intdigest, normal_forms(lines), repeat(seed)),
                       dtype=np.uint64, count=len(lines))
    keys[keys == 0] = 1
    return keys


def header_key(entity: str, version: str, header: str) -> int:
    """What a file's known lines are good for: files of this entity, OneRoster version and
    header (in normal form); a signed 64-bit number. Another header reads the same line
    into other fields, so its lines are looked up in no other header's keys."""
    form = normal_forms([header.encode("utf-8")])[0]
    return xxh3_64_intdigest(b"\x1f".join([entity.encode(), version.encode(), form])) - 2**63


class KeyedLines:
    """A file's lines, each with its key (:attr:`key`) and, against ``known`` lines (an
    :class:`~al_roster.oneroster.unchanged.UnchangedRows` of line keys), its place there
    (:attr:`at`, -1: not known), made a batch at a time; both tell of the line last given.
    Where a record starts, the reader has a run of known lines noted at once instead
    (:meth:`skip_known`): a quiet night's file is almost all of them.

    ``lines`` are the file's lines as it has them: a line is decoded when given, so a known
    line never is. One that is not UTF-8 rejects the file, naming its line, as when every
    line is decoded."""

    def __init__(self, lines: LineBatches, seed: int, known: UnchangedRows | None = None,
                 full: Callable[[], None] | None = None):
        self._lines, self.seed, self.known = lines, seed, known
        self.key, self.at = 0, -1
        self.found = LinesFound()
        #: Called between batches once KNOWN_PER_TAKE known lines were found and not taken
        #: (a quiet night's file is almost all known lines, and its rows come seldom).
        self.full = full
        self._batch: list[bytes] = []
        self._keys: list[int] = []
        self._places = np.empty(0, dtype=np.int64)
        self._at: list[int] = []
        self._run_end: list[int] = []  # per line, where the run of known lines from it ends
        self._next = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._next == len(self._batch) and not self._fill():
            raise StopIteration
        at = self._next
        self._next = at + 1
        self.key, self.at = self._keys[at], self._at[at]
        line = self._batch[at]
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError as exc:
            number = self._lines.taken - len(self._batch) + at + 1
            raise not_utf8(self._lines.file_name, number, line, exc) from exc

    def skip_known(self, first_line: int) -> int:
        """Takes the known lines that come next (where a record starts: each the record
        it gave), noting their places and their numbers from ``first_line`` on; returns
        how many."""
        skipped = 0
        while self._next < len(self._batch) or self._fill():
            start, end = self._next, self._run_end[self._next]
            if end == start:
                break
            self.found.places.frombytes(self._places[start:end].tobytes())
            self.found.known_lines.frombytes(np.arange(
                first_line + skipped, first_line + skipped + end - start, dtype=np.int32).tobytes())
            skipped += end - start
            self._next = end
        return skipped

    def _fill(self) -> bool:
        """Reads, keys and looks up the next batch of lines; whether there was one."""
        if self.full is not None and len(self.found.places) >= KNOWN_PER_TAKE:
            self.full()
        batch = self._lines.take(BATCH)
        if not batch:
            return False
        keys = line_keys(batch, self.seed)
        count = len(batch)
        if self.known is None:
            places, run_end = np.full(count, -1, dtype=np.int64), list(range(count))
        else:
            at, held = self.known.find(keys)
            places = np.where(held, at, -1).astype(np.int64)
            ends = np.where(held, count, np.arange(count))  # (an unknown line ends a run)
            run_end = np.minimum.accumulate(ends[::-1])[::-1].tolist()
        self._batch, self._keys, self._places, self._next = batch, keys.tolist(), places, 0
        self._at, self._run_end = places.tolist(), run_end
        return True


class LinesFound:
    """What a reader found by line key: the known lines it met (their places and lines),
    and the key of each row it read (by line; 0 for a record spanning lines)."""

    def __init__(self) -> None:
        self.places, self.known_lines = array("q"), array("i")
        self.row_lines, self.row_keys = array("i"), array("Q")

    def take(self, rows: bool = True) -> tuple[bytes, bytes, bytes, bytes]:
        """(places, their lines, row lines, row keys) found since the last take, as bytes
        (int64, int32, int32, uint64), without ``rows`` the known lines alone (the rows'
        left for the next take); the arrays taken are emptied, not replaced."""
        arrays = (self.places, self.known_lines) + ((self.row_lines, self.row_keys) if rows
                                                    else ())
        found = tuple(a.tobytes() for a in arrays) + (() if rows else (b"", b""))
        for a in arrays:
            del a[:]
        return found


class KeptLines:
    """The sync's side: the line key of each row a file's reading gave, kept until the run
    is applied, when they become the district's known lines. Rows repeating a record are
    kept by the record's place (:attr:`by_place`; with line keys looked up, the place's own
    key), the others (staged whole) by their lines, up to ``limit`` of them: past it (a
    first load, a night that changed most records) none is kept (:attr:`overflowed`)."""

    def __init__(self, places: int, by_lines: bool, limit: int):
        self.by_lines, self.limit = by_lines, limit
        self.by_place = None if by_lines else np.zeros(places, dtype=np.uint64)
        self.lines: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.whole = 0
        self.overflowed = False

    def add(self, places: bytes, lines: bytes, row_lines: bytes, row_keys: bytes) -> None:
        """Notes a chunk: the places and lines of its rows repeating a record, and the
        lines and keys of the rows it read (those among them, and the others)."""
        places_a = np.frombuffer(places, dtype=np.int64)
        lines_a = np.frombuffer(lines, dtype=np.int32)
        row_lines_a = np.frombuffer(row_lines, dtype=np.int32)
        row_keys_a = np.frombuffer(row_keys, dtype=np.uint64)
        repeating = np.isin(row_lines_a, lines_a, assume_unique=True)
        if self.by_place is not None and len(places_a):
            self.by_place[places_a] = _looked_up(row_lines_a, row_keys_a, lines_a)
        if self.overflowed:
            return
        whole = ~repeating
        self.whole += int(np.count_nonzero(whole))
        if self.whole > self.limit:
            self.overflowed, self.lines, self.keys = True, [], []
            return
        self.lines.append(row_lines_a[whole].copy())
        self.keys.append(row_keys_a[whole].copy())

    def forget(self) -> None:
        """Forgets every chunk (a reading abandoned, to be read again)."""
        if self.by_place is not None:
            self.by_place[:] = 0
        self.lines, self.keys, self.whole, self.overflowed = [], [], 0, False

    def keys_of_lines(self, lines: np.ndarray) -> np.ndarray:
        """The keys of the rows read at ``lines`` (0 where none was kept)."""
        if not self.lines:
            return np.zeros(len(lines), dtype=np.uint64)
        kept_lines, kept_keys = np.concatenate(self.lines), np.concatenate(self.keys)
        order = np.argsort(kept_lines, kind="stable")
        return _looked_up(kept_lines[order], kept_keys[order], lines)


def _looked_up(lines: np.ndarray, keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The keys at the ``wanted`` lines, from ``keys`` by ``lines`` (sorted); 0 where a
    wanted line is not among them."""
    if not len(lines):
        return np.zeros(len(wanted), dtype=np.uint64)
    at = np.minimum(np.searchsorted(lines, wanted), len(lines) - 1)
    return np.where(lines[at] == wanted, keys[at], np.uint64(0))
