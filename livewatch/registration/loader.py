"""Load every registration file, collecting every problem in every file in one pass.

A file holds one event (a mapping), a list of events, or a mapping with an ``events:`` list. Each event is
validated on its own, so one broken event never hides the others; ids must be unique across all files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from livewatch.issues import FieldPath, Issue, Severity, display_path, format_field_path, sort_issues
from livewatch.registration.models import Event, RegistrationContext
from livewatch.registration.reading import read_registration
from livewatch.registration.rule_selection import rule_selection_issues
from livewatch.rules.packs import PackLibrary
from livewatch.sourcemap import TOML_SUFFIXES, YAML_SUFFIXES, Document, LineMap
from livewatch.validation import issues_from_validation_error

SCHEDULE_SUFFIXES = YAML_SUFFIXES + TOML_SUFFIXES


@dataclass(frozen=True)
class Registration:
    """One valid event together with where it was written."""

    event: Event
    file: Path
    field: FieldPath  # where the event sits in its file: () or ("events", 2)
    line: int
    file_sha256: str
    lines: LineMap  # the file's line map, so later checks can point into the event

    def line_of(self, *path: str | int) -> int:
        return self.lines.line_of((*self.field, *path))


@dataclass(frozen=True)
class RejectedEvent:
    """An event that failed validation, kept as written so that the participant checks still run on it."""

    file: Path
    field: FieldPath
    lines: LineMap
    node: dict[str, Any]  # the event as parsed: input, not a result
    event_id: str | None


@dataclass
class LoadResult:
    registrations: list[Registration] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    rejected: list[RejectedEvent] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(issue.is_error for issue in self.issues)

    def by_id(self) -> dict[str, Registration]:
        return {reg.event.id: reg for reg in self.registrations}


def discover(paths: Sequence[Path]) -> tuple[list[Path], list[Issue]]:
    """Registration files under ``paths``: folders are searched recursively, hidden entries skipped."""
    found: list[Path] = []
    issues: list[Issue] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        # `validate . x.yaml` names x.yaml twice; it must be read (and its id claimed) once.
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(path)

    for path in paths:
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                relative = candidate.relative_to(path).parts
                if any(part.startswith((".", "#", "~")) for part in relative):
                    continue
                if candidate.is_file() and candidate.suffix.lower() in SCHEDULE_SUFFIXES:
                    add(candidate)
        elif path.is_file():
            if path.suffix.lower() not in SCHEDULE_SUFFIXES:
                issues.append(
                    Issue(path, 1, (), "not a registration file; use a .yaml, .yml or .toml file", code="suffix")
                )
            else:
                add(path)
        else:
            issues.append(Issue(path, 1, (), "no such file or folder", code="missing-file"))
    return found, issues


def _event_nodes(document: Document) -> tuple[list[tuple[FieldPath, Any]], list[Issue]]:
    data = document.data
    where = document.path
    if data is None:
        return [], [Issue(where, 1, (), "file is empty; write one event, or `events:` with a list", code="empty")]
    if isinstance(data, list):
        if not data:
            return [], [Issue(where, 1, (), "the list of events is empty; add an event or delete the file",
                              code="empty")]
        return [((index,), item) for index, item in enumerate(data)], []
    if isinstance(data, dict):
        if "events" in data:
            extra = sorted(str(key) for key in data if key != "events")
            issues = [
                Issue(where, document.lines.line_of((key,)), (key,),
                      "a file with `events:` holds nothing else; move this key into an event", code="extra")
                for key in extra
            ]
            events = data["events"]
            if not isinstance(events, list):
                issues.append(Issue(where, document.lines.line_of(("events",)), ("events",),
                                    "`events` must be a list of events (lines starting with '- ')", code="list"))
                return [], issues
            if not events:
                issues.append(Issue(where, document.lines.line_of(("events",)), ("events",),
                                    "the list of events is empty; add an event or delete the file", code="empty"))
            return [(("events", index), item) for index, item in enumerate(events)], issues
        return [((), data)], []
    return [], [Issue(where, 1, (), "expected an event (key: value lines) or a list of events", code="type")]


def load_file(path: Path, context: RegistrationContext, library: PackLibrary | None = None,
              rejected: list[RejectedEvent] | None = None) -> tuple[list[Registration], list[Issue]]:
    """The valid events of one file and every problem in it; with ``library``, an event whose rule packs or
    rule overrides name nothing that exists is invalid too. Events that fail validation are appended to
    ``rejected`` when given."""
    document = read_registration(path)
    if isinstance(document, Issue):
        return [], [document]
    digest = hashlib.sha256(document.raw).hexdigest()
    nodes, issues = _event_nodes(document)
    registrations = []
    for prefix, node in nodes:
        event_id = node.get("id") if isinstance(node, dict) and isinstance(node.get("id"), str) else None
        if not isinstance(node, dict):
            issues.append(Issue(path, document.lines.line_of(prefix), prefix,
                                "an event must be a mapping of fields (key: value lines)", code="type"))
            continue
        duplicates = [d for d in document.lines.duplicates if d[0][: len(prefix)] == prefix]
        for dup_path, first, again in duplicates:
            message = f"'{dup_path[-1]}' is written twice (first on line {first}); keep one"
            issues.append(Issue(path, again, dup_path, message, code="duplicate-key", event_id=event_id))
        if duplicates:
            continue  # YAML would silently keep the last value; the officer must decide
        try:
            event = Event.model_validate(node, context=context)
        except ValidationError as err:
            issues.extend(issues_from_validation_error(
                err, root=Event, file=path, lines=document.lines, prefix=prefix, event_id=event_id))
            if rejected is not None:
                rejected.append(RejectedEvent(path, prefix, document.lines, node, event_id))
            continue
        except Exception as err:  # a value no validator foresaw must cost only this event
            issues.append(Issue(path, document.lines.line_of(prefix), prefix,
                                f"cannot read this event: {str(err)[:200] or type(err).__name__}",
                                code="invalid", event_id=event_id))
            continue
        if library is not None:
            selection = rule_selection_issues(event, library, file=path, lines=document.lines, prefix=prefix)
            if selection:
                issues.extend(selection)
                if rejected is not None:
                    rejected.append(RejectedEvent(path, prefix, document.lines, node, event_id))
                continue
        registrations.append(
            Registration(event, path, prefix, document.lines.line_of(prefix), digest, document.lines)
        )
    return registrations, issues


def load_registrations(paths: Sequence[Path], context: RegistrationContext,
                       library: PackLibrary | None = None) -> LoadResult:
    """Load and validate every registration under ``paths``; never raises for bad input. ``library``: the
    rule packs that ``rule_packs`` and ``rule_overrides`` are checked against (None: not checked)."""
    files, issues = discover(paths)
    result = LoadResult(files=files, issues=issues)
    seen: dict[str, Registration] = {}
    for path in files:
        try:
            registrations, file_issues = load_file(path, context, library, result.rejected)
        except Exception as err:  # last resort: whatever one file does, the other files are still read
            registrations, file_issues = [], [Issue(
                path, 1, (), f"cannot read this file: {str(err)[:200] or type(err).__name__}", code="invalid")]
        result.issues.extend(file_issues)
        for reg in registrations:
            first = seen.get(reg.event.id)
            if first is not None:
                result.issues.append(Issue(
                    reg.file, reg.line_of("id"), (*reg.field, "id"),
                    f"id '{reg.event.id}' is already used by {display_path(first.file)}:{first.line_of('id')}; "
                    "ids must be unique across all files", code="duplicate-id", event_id=reg.event.id))
                continue
            seen[reg.event.id] = reg
            result.registrations.append(reg)
    result.issues = sort_issues(result.issues)
    return result


def promote_warnings(issues: Iterable[Issue]) -> list[Issue]:
    """``--strict``: every warning becomes an error."""
    return [issue.as_error() if issue.severity is Severity.WARNING else issue for issue in issues]


__all__ = ["LoadResult", "Registration", "RejectedEvent", "discover", "format_field_path", "load_file",
           "load_registrations"]
