"""Row and file issues found while reading a package: data a district admin can act on.

Everything in an issue may come from the district's files, so it is made safe in one place:
:func:`shown` quotes a value for a message (control characters escaped, at most
``SHOWN_CHARS`` characters and its length), :class:`IssueLog` keeps no NUL, lone surrogate
or runaway length in a file, field or message, and :func:`spreadsheet_cell` is applied to
every cell of a CSV the plugin writes for people to open.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"
#: How much of a value an issue message quotes; a longer one is cut and its length given.
SHOWN_CHARS = 80
#: The longest file name, field or message an issue keeps (a backstop: values are cut first).
KEPT_CHARS = 1000
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}
#: A cell starting with one of these is a formula to a spreadsheet (OWASP, CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _printable(text: str) -> str:
    """Control characters as \\xNN, lone surrogates (bytes that were not UTF-8) escaped."""
    return text.translate(_CONTROL).encode("utf-8", "backslashreplace").decode("utf-8")


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``value`` quoted for an issue message: ``'value'``, or for a long one its first
    ``limit`` characters and its length: ``'xxxx…' (131,000 characters)``."""
    text = str(value)
    if len(text) <= limit:
        return f"'{_printable(text)}'"
    return f"'{_printable(text[:limit])}…' ({len(text):,} characters)"


def safe_text(text: str | None) -> str | None:
    """Text fit to store and show: printable, at most ``KEPT_CHARS`` characters."""
    if text is None:
        return None
    text = _printable(text) if not text.isprintable() else text
    return text if len(text) <= KEPT_CHARS else text[:KEPT_CHARS] + f"… ({len(text):,} characters)"


def spreadsheet_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading
    single quote. Numbers and None pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@dataclass
class Issue:
    """One problem: where it is (file, line, field) and what to do about it.

    ``count`` > 1 means the same warning was seen on that many rows; ``line`` is the first.
    """

    file: str | None
    line: int | None
    field: str | None
    severity: str
    message: str
    count: int = 1

    def __post_init__(self) -> None:
        self.file, self.field, self.message = map(safe_text, (self.file, self.field, self.message))

    def to_dict(self) -> dict:
        return asdict(self)


class IssueLog:
    """Collects issues without letting a bad million-row file exhaust memory.

    Errors are kept one by one up to ``limit`` per file (all are counted); warnings that
    repeat on many rows are folded into one issue with a count.
    """

    def __init__(self, limit: int = 1000):
        self.limit = limit
        self.items: list[Issue] = []
        self.error_count = 0
        self.warning_count = 0
        self._kept_per_file: dict[str | None, int] = {}
        self._folded: dict[tuple, Issue] = {}
        self._folds_per_file: dict[str | None, int] = {}

    def error(self, file, line, field, message) -> None:
        self.error_count += 1
        self._keep(Issue(file, line, field, ERROR, message))

    def warning(self, file, line, field, message) -> None:
        self.warning_count += 1
        self._keep(Issue(file, line, field, WARNING, message))

    def many(self, severity: str, file, field, samples, total: int) -> None:
        """Issues found in bulk (by SQL): ``samples`` of (line, message) out of ``total``."""
        if severity == ERROR:
            self.error_count += total
        else:
            self.warning_count += total
        for line, message in samples:
            self._keep(Issue(file, line, field, severity, message))

    def folded_warning(self, file, line, field, message, fold: str | None = None) -> None:
        """A warning that may repeat on every row: reported once with a row count.

        Rows fold together when their messages are the same, or, given ``fold``, when their
        folds are: then the first row's message stands for all of them."""
        self.warning_count += 1
        key = (file, field, message if fold is None else (fold,))
        issue = self._folded.get(key)
        if issue is not None:
            issue.count += 1
        elif self._folds_per_file.get(file, 0) < self.limit:  # a new message per row: capped
            self._folds_per_file[file] = self._folds_per_file.get(file, 0) + 1
            issue = self._folded[key] = Issue(file, line, field, WARNING, message)
            self.items.append(issue)

    def snapshot(self) -> dict:
        """What the log holds now, for :meth:`restore`."""
        return copy.deepcopy(self.__dict__)

    def restore(self, snapshot: dict) -> None:
        """Back to what it held at ``snapshot``: what was logged since is forgotten."""
        self.__dict__.update(copy.deepcopy(snapshot))

    def omitted(self) -> int:
        """How many issues were counted but not kept one by one."""
        kept = sum(i.count for i in self.items)
        return self.error_count + self.warning_count - kept

    def _keep(self, issue: Issue) -> None:
        kept = self._kept_per_file.get(issue.file, 0)
        if kept < self.limit:
            self._kept_per_file[issue.file] = kept + 1
            self.items.append(issue)
