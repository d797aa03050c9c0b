"""The values of OneRoster columns: what each kind accepts, and what it reads with a warning.

Each kind has a strict reader (``CHECKS``): the value as the spec writes it, returned in the
form the copy stores, or :class:`BadValue`. Some kinds also read what districts commonly
write instead (``LENIENT``): ``1``/``0`` or ``yes``/``no`` for a boolean, a date with a time
where a date is expected. A lenient reader returns the value and a :class:`Reading` saying
what was read as what; the row keeps the value and the district gets a warning.

sourcedIds: the spec does not restrict their characters, so an id is kept as written. What
cannot be an id is refused: an empty one, one over 255 characters, one holding a control
character. In a list field (``termSourcedIds``, ``orgSourcedIds``...) a comma separates
ids, so an id there cannot hold one. White space around a value or a list item is trimmed.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from .issues import shown

#: The longest sourcedId both reference implementations accept.
MAX_ID_CHARS = 255
#: C0 controls, DEL and C1 controls: no id holds one (a NUL cannot even be stored).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
YEAR = re.compile(r"^\d{4}$")
#: A date with a time: 2026-08-15T00:00:00Z, 2022-03-15T01:30:00.0000000+00:00,
#: 2026-08-15 00:00:00.000 (a space for the T, as databases export it).
_DATE_AND_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ]([01]\d|2[0-3]):[0-5]\d(?::(?:[0-5]\d|60)(?:[.,]\d{1,9})?)?"
    r" ?(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?", re.ASCII)
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


class BadValue(ValueError):
    """A value a column cannot take; the message is shown to the district."""


@dataclass(frozen=True)
class Reading:
    """How a lenient reader read a value: ``what`` for the message, and ``fold``, a key
    shared by every row read the same way, so they are reported once with a count."""

    what: str
    fold: str


def id_problem(value: str) -> str | None:
    """Why ``value`` (already trimmed) cannot be a sourcedId, or None if it can."""
    if not value:
        return "it is empty"
    if len(value) > MAX_ID_CHARS:
        return f"it is longer than {MAX_ID_CHARS} characters"
    if _CONTROL.search(value):
        if "\x00" in value:
            return "it holds a NUL character (byte 0x00)"
        return "it holds a control character"
    return None


def sourced_id(value: str) -> str:
    problem = id_problem(value)
    if problem is not None:
        raise BadValue(f"{shown(value)} is not a valid sourcedId: {problem}.")
    return value


def id_list(value: str) -> str:
    ids = [v.strip() for v in value.split(",")]
    ids = [v for v in ids if v]
    for item in ids:
        sourced_id(item)
    return ",".join(ids)


def plain_list(value: str) -> str:
    return ",".join(v.strip() for v in value.split(",") if v.strip())


def date(value: str) -> str:
    try:
        if len(value) == 10 and value[4] == "-" and value[7] == "-":
            dt.date.fromisoformat(value)
            return value
    except ValueError:
        pass
    raise BadValue(f"{shown(value)} is not a date in the form YYYY-MM-DD.")


def year(value: str) -> str:
    if not YEAR.match(value):
        raise BadValue(f"{shown(value)} is not a year in the form YYYY.")
    return value


def boolean(value: str) -> bool:
    if value == "true":
        return True
    if value == "false":
        return False
    raise BadValue(f"{shown(value)} must be true or false.")


def lenient_boolean(value: str) -> tuple[bool, Reading]:
    low = value.lower()
    if low not in _TRUE and low not in _FALSE:
        raise BadValue(f"{shown(value)} must be true or false.")
    word = "true" if low in _TRUE else "false"
    why = ("OneRoster booleans are lower case" if low in ("true", "false")
           else "OneRoster booleans are true or false")
    what = f"{shown(value)} read as '{word}' ({why})."
    return word == "true", Reading(what, what)


def lenient_date(value: str) -> tuple[str, Reading]:
    match = _DATE_AND_TIME.fullmatch(value)
    try:
        day = date(match.group(1)) if match else None
    except BadValue:
        day = None
    if day is None:
        raise BadValue(f"{shown(value)} is not a date in the form YYYY-MM-DD.")
    return day, Reading(
        f"holds a date and a time ({shown(value)} on the first such row) where OneRoster "
        f"expects a date (YYYY-MM-DD): read as the date ('{day}'), the time left out.",
        "date and time")


CHECKS: dict[str, Callable[[str], object] | None] = {
    "text": None, "id": sourced_id, "ids": id_list, "list": plain_list,
    "date": date, "year": year, "bool": boolean,
}
#: Readers of what districts write instead of the spec's form, tried when CHECKS refuses.
LENIENT: dict[str, Callable[[str], tuple[object, Reading]]] = {
    "bool": lenient_boolean, "date": lenient_date,
}
