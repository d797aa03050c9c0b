"""Lines a bulk file repeats from the file the copy was last read from, told by their text.

A night's export is written afresh, but almost all of its lines say what the same lines
said the night before. Each line a reader reads gets a *line key*: XXH3 of its normal form
(below) under a seed the district's known lines keep. After a clean read, the sync keeps
the key of every line that gave a present record, with that record's id
(:mod:`al_roster.sync.known_lines`); the next night a reader looks each line's key up
among them first, and a line found there is the record it gave, unchanged: it is neither
matched against the canonical pattern, nor checked, nor hashed, only noted (its record and
line). Every other line is read as before.

The normal form of a line is its fields, each quoted only where it holds a quote, a comma
or a line break, joined by commas (UTF-8). So an export that quotes every field reads as
the same lines as one that quotes none, or only those that need it. Most lines are found
in that form already (no quote), or quote every field and need none (the same text, its
quotes taken away): only the rest are split into fields. A line that is not one whole
record by itself, or holds a carriage return, is its own form, line break and all. Two
lines of one normal form have the same fields, so the same header reads them into the
same row. A line is only looked up where a record starts (:class:`KeyedLines`,
driven by the reader), and a record spanning lines has no key (0): it is read every night.

Pure: it sees text and keys, never a database.
"""
from __future__ import annotations

import csv
from array import array
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from xxhash import xxh3_64_intdigest

from .unchanged import UnchangedRows, np

#: Lines keyed (and looked up) at a time.
BATCH = 4096
#: Known lines found, at most, before they are handed on (see KeyedLines.full).
KNOWN_PER_TAKE = 200_000


def _quoted(text: str) -> str | None:
    """The lines of ``text`` (joined, without a final line break) as bare fields, if every
    one of them is a line of quoted fields holding no quote, comma or line break; else None.

    Every comma must sit between two closing and opening quotes (``","``), every line break
    between a closing and an opening one, and no quote may be left once those and the first
    and last are taken away."""
    if text[:1] != '"' or text[-1:] != '"' or "\r" in text \
            or text.count(",") != text.count('","') or text.count("\n") != text.count('"\n"'):
        return None
    bare = text.replace('","', ",").replace('"\n"', "\n")
    if bare[:1] != '"' or bare[-1:] != '"' or '"' in bare[1:-1]:
        return None
    return bare[1:-1]


def normal_forms(lines: list[str]) -> list[bytes]:
    """The normal form of each line: without its line break, a line holding no quote nor
    carriage return as it is, one of quoted fields holding neither (nor a comma) as the
    same fields bare, any other as its fields with the fewest quotes (:func:`_fields_form`)."""
    text = "".join(lines)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    if '"' not in text and "\r" not in text:
        return text.encode("utf-8").split(b"\n")
    bare = _quoted(text)
    if bare is not None:
        return bare.encode("utf-8").split(b"\n")
    if len(lines) > 1:
        return [form for line in lines for form in normal_forms([line])]
    return [_fields_form(lines[0])]


def _fields_form(line: str) -> bytes:
    """The normal form of a line holding quotes that are not all around its fields: its
    fields written again with the fewest quotes (a field quoted only where it holds a
    quote, comma or line break), so ``"a","b,c"`` and ``a,"b,c"`` are one form. A line
    that is not one whole record by itself (a quote left open: the start of a value
    spanning lines; text after a closing quote) or holds a carriage return is its own
    form, line break and all: no whole record's form ends in a line break."""
    body = line[:-2] if line.endswith("\r\n") else line[:-1] if line.endswith("\n") else line
    if "\r" in body or "\n" in body:
        return line.encode("utf-8")
    try:
        records = list(csv.reader((body,), strict=True))
    except csv.Error:
        return line.encode("utf-8")
    if len(records) != 1 or not records[0]:
        return line.encode("utf-8")
    return ",".join(_fewest_quotes(field) for field in records[0]).encode("utf-8")


def _fewest_quotes(field: str) -> str:
    if '"' in field or "," in field or "\n" in field or "\r" in field:
        return '"' + field.replace('"', '""') + '"'
    return field


def line_keys(lines: list[str], seed: int) -> np.ndarray:
    """The keys (uint64, never 0) of lines under ``seed``."""
    return np.fromiter((xxh3_64_intdigest(form, seed) or 1 for form in normal_forms(lines)),
                       dtype=np.uint64, count=len(lines))


def header_key(entity: str, version: str, header: str) -> int:
    """What a file's known lines are good for: files of this entity, OneRoster version and
    header (in normal form); a signed 64-bit number. Another header reads the same line
    into other fields, so its lines are looked up in no other header's keys."""
    form = normal_forms([header])[0]
    return xxh3_64_intdigest(b"\x1f".join([entity.encode(), version.encode(), form])) - 2**63


class KeyedLines:
    """A file's lines, each with its key (:attr:`key`) and, against ``known`` lines (an
    :class:`~al_roster.oneroster.unchanged.UnchangedRows` of line keys), its place there
    (:attr:`at`, -1: not known), made a batch at a time; both tell of the line last given."""

    def __init__(self, lines: Iterable[str], seed: int, known: UnchangedRows | None = None,
                 full: Callable[[], None] | None = None):
        self._lines, self.seed, self.known = iter(lines), seed, known
        self.key, self.at = 0, -1
        self.found = LinesFound()
        #: Called between batches once KNOWN_PER_TAKE known lines were found and not taken
        #: (a quiet night's file is almost all known lines, and its rows come seldom).
        self.full = full

    def __iter__(self) -> Iterator[str]:
        while batch := list(islice(self._lines, BATCH)):
            if self.full is not None and len(self.found.places) >= KNOWN_PER_TAKE:
                self.full()
            keys = line_keys(batch, self.seed)
            if self.known is None:
                places = [-1] * len(batch)
            else:
                at, held = self.known.find(keys)
                places = np.where(held, at, -1).tolist()
            for line, key, at in zip(batch, keys.tolist(), places, strict=True):
                self.key, self.at = key, at
                yield line


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
