"""The text of a package's files, read with bounded memory whatever the file holds.

A district's file can hold one line of gigabytes (no line break at all) or one record that
never ends (a quote left open, so every following line joins it). Both are refused while
streaming, naming the file and the line, before more than a limit is held:

- a physical line may be at most ``MAX_LINE_BYTES`` bytes, its line break included;
- a record, which may span lines when a quoted value holds a line break, at most
  ``MAX_RECORD_CHARS`` characters.

Real OneRoster rows are a few hundred bytes; a megabyte is far beyond any of them. The cost
on the common path is one length check per line.
"""
from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from ..errors import PackageRejected

MAX_LINE_BYTES = 1024 * 1024
MAX_RECORD_CHARS = 1024 * 1024
_BOM = b"\xef\xbb\xbf"


def decoded_lines(raw, file_name: str, max_line: int = MAX_LINE_BYTES) -> Iterator[str]:
    """UTF-8 lines of a binary stream (a leading BOM dropped); a bad byte or an over-long
    line rejects the file naming its line. No more than ``max_line`` bytes are read ahead."""
    for number, line in enumerate(iter(partial(raw.readline, max_line + 1), b""), start=1):
        if len(line) > max_line:
            raise PackageRejected(
                f"{file_name} line {number} is longer than {max_line:,} bytes (no OneRoster "
                "row is anywhere near that long), so the file was not read further; check "
                "that the export writes one record per line.",
                file=file_name, line=number, reason="line_too_long")
        if number == 1 and line.startswith(_BOM):
            line = line[3:]
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PackageRejected(
                f"{file_name} is not UTF-8 text (byte 0x{line[exc.start]:02X} on line {number}); "
                "export it as UTF-8 (a BOM is fine).",
                file=file_name, line=number, reason="encoding") from exc


class RecordTooLong(Exception):
    """A record grew past ``MAX_RECORD_CHARS``; the reader knows its line and rejects."""


def record_too_long(file_name: str, line: int, limit: int = MAX_RECORD_CHARS) -> PackageRejected:
    return PackageRejected(
        f"{file_name}: the record starting on line {line} is longer than {limit:,} "
        "characters (a quote left open joins every following line to it), so the file was "
        "not read further.", file=file_name, line=line, reason="record_too_long")


class PushBack:
    """The lines a csv reader reads from, one of which can be handed back to it; refuses a
    record (everything read since the last :meth:`push`) longer than ``limit`` characters."""

    def __init__(self, lines: Iterator[str], limit: int = MAX_RECORD_CHARS):
        self._lines, self._held, self.limit, self.size = lines, None, limit, 0

    def push(self, line: str) -> None:
        self._held, self.size = line, 0

    def __iter__(self) -> PushBack:
        return self

    def __next__(self) -> str:
        if self._held is not None:
            line, self._held = self._held, None
        else:
            line = next(self._lines)
        self.size += len(line)
        if self.size > self.limit:
            raise RecordTooLong
        return line
