"""Problems found in user-written files, each pinned to a file, a line and a field."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


FieldPath = tuple[str | int, ...]


def format_field_path(path: FieldPath) -> str:
    """Render ``("events", 0, "start")`` as ``events[0].start``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Issue:
    """One problem in one file.

    Rendered as ``schedules/x.yaml:12: events[0].start: <problem and the fix>``; warnings carry a
    ``warning:`` marker after the field so an error and a warning never read alike.
    """

    file: Path
    line: int
    field: FieldPath
    message: str
    severity: Severity = Severity.ERROR
    code: str = "invalid"
    event_id: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def location(self) -> str:
        return f"{display_path(self.file)}:{self.line}"

    def render(self) -> str:
        marker = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.location}: {format_field_path(self.field)}: {marker}{self.message}"

    def as_error(self) -> Issue:
        """The same issue promoted to an error (``--strict``)."""
        return Issue(self.file, self.line, self.field, self.message, Severity.ERROR, self.code, self.event_id)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": display_path(self.file),
            "line": self.line,
            "field": format_field_path(self.field),
            "severity": self.severity.value,
            "code": self.code,
            "event": self.event_id,
            "message": self.message,
        }


def sort_issues(issues: Iterable[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda i: (str(i.file), i.line, format_field_path(i.field), i.message))
