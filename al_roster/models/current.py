"""What "current" means for a dated roster record, written once.

An enrollment (or a role) is current on a district's day when it is present (not removed),
has begun (no beginDate, or one on or before the day) and has not ended (no endDate, or one
on or after the day). A current student enrollment is also a student's. The rule is a list
of clauses, and every reader renders the same clauses: to SQL (sign-in placement and the
reconciliation's set-based passes), to a peewee condition (the import's counts) and to
Python (the "why" answers, which also say which clause failed). The day is always the
district's own (:meth:`District.today`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: What a clause asks of its column.
IS_NULL, EQUALS, ON_OR_BEFORE_DAY, ON_OR_AFTER_DAY = "is_null", "equals", "<=day", ">=day"


@dataclass(frozen=True)
class Clause:
    #: How the clause is called when it fails ("removed", "not_begun", "ended", ...).
    fails_as: str
    column: str
    test: str
    value: str | None = None

    @property
    def takes_day(self) -> bool:
        return self.test in (ON_OR_BEFORE_DAY, ON_OR_AFTER_DAY)

    def sql(self, alias: str, p: str) -> str:
        """The clause over table alias ``alias`` (the day, if it takes one, as ``p``)."""
        col = f"{alias}.{self.column}"
        if self.test == IS_NULL:
            return f"{col} IS NULL"
        if self.test == EQUALS:
            return f"{col} = '{_literal(self.value)}'"
        op = "<=" if self.test == ON_OR_BEFORE_DAY else ">="
        return f"({col} IS NULL OR {col} {op} {p})"

    def condition(self, model, day: dt.date):
        field = getattr(model, self.column)
        if self.test == IS_NULL:
            return field.is_null()
        if self.test == EQUALS:
            return field == self.value
        if self.test == ON_OR_BEFORE_DAY:
            return field.is_null() | (field <= day)
        return field.is_null() | (field >= day)

    def holds(self, record, day: dt.date) -> bool:
        value = getattr(record, self.column)
        if self.test == IS_NULL:
            return value is None
        if self.test == EQUALS:
            return value == self.value
        when = as_date(value)
        if when is None:
            return True
        return when <= day if self.test == ON_OR_BEFORE_DAY else when >= day


@dataclass(frozen=True)
class Rule:
    clauses: tuple[Clause, ...]

    def sql(self, alias: str, p: str) -> str:
        """SQL true when row ``alias`` satisfies the rule; takes :meth:`params` after it."""
        return " AND ".join(c.sql(alias, p) for c in self.clauses)

    def params(self, day: dt.date) -> list[str]:
        """The parameters :meth:`sql` takes, in order."""
        return [day.isoformat() for c in self.clauses if c.takes_day]

    def condition(self, model, day: dt.date):
        """The rule as a peewee condition over ``model``'s columns."""
        parts = [c.condition(model, day) for c in self.clauses]
        out = parts[0]
        for part in parts[1:]:
            out = out & part
        return out

    def holds(self, record, day: dt.date) -> bool:
        return not self.failing(record, day)

    def failing(self, record, day: dt.date) -> list[str]:
        """The names of the clauses ``record`` fails on ``day``, in the rule's order."""
        return [c.fails_as for c in self.clauses if not c.holds(record, day)]


def as_date(value) -> dt.date | None:
    """A date column's value as a date (SQLite may hand back text)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _literal(value: str | None) -> str:
    if not (value or "").isalnum():
        raise ValueError(f"not a plain SQL literal: {value!r}")
    return value


#: Removed, not begun, ended: in the order "why" weighs them.
PRESENT = Clause("removed", "removed_run_id", IS_NULL)
BEGUN = Clause("not_begun", "begin_date", ON_OR_BEFORE_DAY)
NOT_ENDED = Clause("ended", "end_date", ON_OR_AFTER_DAY)
#: A present record whose dates include the day (an enrollment, a role).
CURRENT = Rule((PRESENT, NOT_ENDED, BEGUN))
#: A student's current enrollment: what puts a student in an imported class.
CURRENT_STUDENT = Rule((Clause("not_a_student", "role", EQUALS, "student"), *CURRENT.clauses))
