"""Row and file issues found while reading a package: data a district admin can act on."""
from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"


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

    def folded_warning(self, file, line, field, message) -> None:
        """A warning that may repeat on every row: reported once with a row count."""
        self.warning_count += 1
        key = (file, field, message)
        issue = self._folded.get(key)
        if issue is None:
            issue = self._folded[key] = Issue(file, line, field, WARNING, message)
            self.items.append(issue)
        else:
            issue.count += 1

    def omitted(self) -> int:
        """How many issues were counted but not kept one by one."""
        kept = sum(i.count for i in self.items)
        return self.error_count + self.warning_count - kept

    def _keep(self, issue: Issue) -> None:
        kept = self._kept_per_file.get(issue.file, 0)
        if kept < self.limit:
            self._kept_per_file[issue.file] = kept + 1
            self.items.append(issue)
