"""Lines already in canonical form, recognised with one regular-expression match.

Almost every line of a real export needs no normalising: its sourcedIds are well formed, its
vocabulary words are spelled as the spec spells them, nothing needs trimming. For those lines
the per-field checks of :mod:`al_roster.oneroster.rows` would only confirm what one match
over the whole line can: :func:`line_pattern` builds, from a file's header, a pattern that
matches exactly the lines those checks would accept unchanged. Each field may be bare or
quoted (``"us0001","","true"`` as often as ``us0001,,true``); a quoted field may hold the
commas of a list or a title, never a doubled quote.

The pattern is deliberately narrower than the checks: a line it does not match (a value to
trim, a word in the wrong case, a bad date, a record spanning lines, ``metadata.*`` values,
any control character) goes through the full checks, which stay the only place a message is
written or a value is rewritten. So a line can only be fast if the slow path would have
produced the same row.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .entities import Column

#: Characters no fast value contains: field syntax, control characters and the backslash
#: (which the row hash escapes: keeping it out keeps fast values hash-ready as they are).
_NEVER = r'"\\\x00-\x1f\x7f'
#: White space (as ``str.strip`` sees it) and control characters (C1 included), listed
#: rather than written ``\s``: a set without a category is matched by table look-up.
_BLANK_OR_CONTROL = (r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f"
                     r"\u3000")
#: A character that may start a fast value, and that makes up a fast sourcedId: neither
#: white space nor a control character, nor field syntax (comma, quote), nor the backslash.
SOLID = rf'[^{_BLANK_OR_CONTROL}"\\,]'
#: Any value that is already trimmed (no white space at either end); bare or quoted. A
#: value runs up to the field's end (a comma, quote or line end, none of which it may hold),
#: so it is taken possessively, never backtracked, and its last character checked behind it.
_TRIMMED = {
    False: rf"{SOLID}[^,{_NEVER}]*+(?<!\s)",
    True: rf'[^{_BLANK_OR_CONTROL}"\\][^{_NEVER}]*+(?<!\s)',
}
#: A sourcedId the full check keeps as it is: 1 to 255 characters, none of them white space
#: (an id with a space inside is kept too, by the full check).
SOURCED_ID = rf"{SOLID}{{1,255}}+"
#: YYYY-MM-DD with a real month and day; 29 February (valid one year in four) and year 0000
#: are left to the full check.
DATE = (r"(?!0000)[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
        r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))")
DATETIME = (r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
            r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?")
#: A field whose value is ignored (password, a column OneRoster does not have).
_ANY_FIELD = r'(?:"[^"]*"|[^,"]*)'
_EMPTY_FIELD = r'(?:"")?'


def value_pattern(column: Column, quoted: bool) -> str:
    """What a canonical, non-empty value of ``column`` looks like, bare or inside quotes."""
    if column.vocab is not None:
        words = sorted(column.vocab, key=len, reverse=True)
        return "(?:" + "|".join(map(re.escape, words)) + ")"
    kind = column.kind
    if kind == "id":
        return SOURCED_ID
    if kind == "ids":
        return rf"{SOURCED_ID}(?:,{SOURCED_ID})*" if quoted else SOURCED_ID
    if kind == "list":
        item = _TRIMMED[False]
        return rf"{item}(?:,{item})*" if quoted else item
    if kind == "date":
        return DATE
    if kind == "year":
        return "[0-9]{4}"
    if kind == "bool":
        return "(?:true|false)"
    return _TRIMMED[quoted]


@dataclass(frozen=True)
class Field:
    """What one header position holds, for building the line pattern."""

    role: str  # "capture" (a value kept), "status", "empty" (must be blank) or "ignored"
    column: Column | None = None


class _Builder:
    """The parts of a line pattern, for lines whose fields are quoted as ``quoting`` says:
    "none" (no quote at all), "all" (every field quoted, as an export quoting everything
    writes) or "some" (each field either way; two groups a field, so slower to match)."""

    def __init__(self, quoting: str) -> None:
        self.quoting = quoting
        self.parts: list[str] = []
        self.groups = 0

    def capture(self, bare: str, quoted: str, required: bool) -> int:
        """A field captured without its quotes; returns the group number of its value.

        The value group is optional unless required, so a blank field reads as None."""
        optional = "" if required else "?"
        if self.quoting != "some":
            self.groups += 1
            self.parts.append(f"({bare}){optional}" if self.quoting == "none"
                              else f'"({quoted}){optional}"')
            return self.groups
        quote, value = self.groups + 1, self.groups + 2
        self.groups += 2
        self.parts.append(f'(")?((?({quote}){quoted}|{bare})){optional}(?({quote})")')
        return value

    def plain(self, bare: str, quoted: str, every: str) -> None:
        """A field matched, not captured: ``bare``, ``quoted`` (either way) or ``every``
        (in quotes), as the lines are quoted."""
        self.parts.append({"none": bare, "some": quoted, "all": every}[self.quoting])


@dataclass(frozen=True)
class LinePattern:
    """A compiled line pattern and where each captured value lands in its match."""

    regex: re.Pattern
    #: group numbers: the sourcedId, dateLastModified (0 if the header has none), the values
    sourced_id: int
    modified: int
    values: dict[str, int]  # column attr -> group number


def line_pattern(fields: Sequence[Field], sourced_id_at: int, modified_at: int | None,
                 status: str | None, quoting: str) -> LinePattern:
    """The pattern of a canonical line for a header described by ``fields``.

    ``status`` is the one status value a canonical line may carry: None for a bulk file
    (the field must be blank), ``"active"`` for a delta. ``quoting`` (see :class:`_Builder`)
    tells how the lines' fields are quoted: a pattern for lines quoted one way, no field
    or every field, matches faster than one for either.
    """
    builder = _Builder(quoting)
    values: dict[str, int] = {}
    sourced_id = modified = 0
    for at, field in enumerate(fields):
        if at:
            builder.plain(",", ",", ",")
        if at == sourced_id_at:
            sourced_id = builder.capture(SOURCED_ID, SOURCED_ID, True)
        elif at == modified_at:
            modified = builder.capture(DATETIME, DATETIME, False)
        elif field.role == "status":
            builder.plain("" if status is None else status,
                          _EMPTY_FIELD if status is None else f'(?:{status}|"{status}")',
                          f'"{status or ""}"')
        elif field.role == "capture":
            column = field.column
            values[column.attr] = builder.capture(
                value_pattern(column, False), value_pattern(column, True), column.required)
        elif field.role == "empty":
            builder.plain("", _EMPTY_FIELD, '""')
        else:
            builder.plain("[^,]*", _ANY_FIELD, '"[^"]*"')
    regex = re.compile("".join(builder.parts) + r"\r?\n?")
    return LinePattern(regex, sourced_id, modified, values)
