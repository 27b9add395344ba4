"""Reviewers' dispositions: ``reviews/<event-id>.yaml`` maps finding ids to a decision.

::

    3f2a9c0d1e4b5a67:
      status: dismissed          # confirmed, dismissed or escalated
      reviewer: 王审核
      note: quoted a regulator's warning, not a promise

Once it exists, the file is the reviewers' record and wins over the database: applying it sets each
finding's status, a finding left out of it is ``open`` again, and every change of a status is appended to
``reviews/<event-id>.audit.jsonl`` (one JSON object per line, never rewritten), which the report
summarises. A decision for a finding id the event does not have is reported, not applied; a finding id
written twice is an error naming both lines (YAML would silently keep the second).

The audit log is tamper-evident: each entry's ``prev`` is the sha256 of the previous line's bytes (the
first entry's is :data:`GENESIS`), so a changed, inserted or removed line breaks the chain at the next
line, and :func:`audit_trail` says where. Reading never fails on one line: a line that is not UTF-8, not
JSON, not an entry, or half-written by a crash is reported with its number and skipped. Logs written
before the chain existed keep working; their entries are reported as unchained.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, RootModel

from livewatch.errors import ConfigError
from livewatch.fields import SingleLine, StrictModel, Text
from livewatch.i18n import N_, Message
from livewatch.issues import Issue, Severity, format_field_path
from livewatch.state import DataDir
from livewatch.state.findings import FindingLog
from livewatch.validation import read_model_file

Decision = Literal["confirmed", "dismissed", "escalated"]


class Disposition(StrictModel):
    status: Decision = Field(description="confirmed, dismissed or escalated.")
    reviewer: SingleLine = Field(description="Who decided.")
    note: Text | None = Field(None, description="Why.")


class ReviewFile(RootModel[dict[str, Disposition]]):
    """Finding id → disposition."""


class ReviewError(ConfigError):
    """A review file cannot be read or is invalid; nothing of it was applied."""

    def __init__(self, message: str, issues: Sequence[Issue] = (), problems: Sequence[Message] = ()) -> None:
        super().__init__(message, issues)
        #: The problems as catalog messages, one per issue, where they are livewatch's own words.
        self.problems = tuple(problems)

    def explained(self) -> Message:
        """What a reviewer reads (the review server): the file and each problem by line and field, the
        problems' own text kept as data (the YAML parser's and the validator's words)."""
        problems = self.problems or tuple(Message(N_("line %(line)s, %(field)s: %(problem)s"), {
            "line": issue.line, "field": format_field_path(issue.field) or "-", "problem": issue.message})
            for issue in self.issues)
        file = str(self.issues[0].file.name) if self.issues else ""
        if not problems:
            return Message(N_("the review file cannot be read, so nothing was recorded: %(error)s"),
                           {"error": str(self)})
        return Message(N_("the review file %(file)s was edited by hand and is invalid, so nothing was recorded; "
                          "correct it first: %(problems)s"), {"file": file, "problems": problems})


@dataclass(frozen=True)
class StatusChange:
    finding: str
    old: str
    new: str
    reviewer: str | None
    note: str | None


@dataclass
class ReviewResult:
    changes: list[StatusChange] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


def read_reviews(path: Path) -> dict[str, Disposition]:
    if not path.is_file():
        return {}
    reviews, document = read_model_file(path, ReviewFile, ReviewError, "review file")
    twice = [(Issue(path, again, key, str(message), code="duplicate-finding"), message)
             for key, first, again in document.lines.duplicates if len(key) == 1
             for message in [Message(N_("finding %(finding)s is decided twice, on lines %(first)s and %(again)s; "
                                        "keep one decision (YAML would silently use the last)"),
                                     {"finding": str(key[0]), "first": first, "again": again})]]
    if twice:
        raise ReviewError(f"review file {path} is invalid", [issue for issue, _ in twice],
                          [message for _, message in twice])
    decisions: dict[str, Disposition] = reviews.root
    return decisions


def audit_log(data: DataDir, event_id: str) -> Path:
    return data.review_file(event_id).with_suffix(".audit.jsonl")


def apply_reviews(findings: FindingLog, data: DataDir, event_id: str) -> ReviewResult:
    """Make the findings' statuses what the review file says; log every change."""
    path = data.review_file(event_id)
    result = ReviewResult()
    if not path.is_file():
        return result  # no reviewer has written anything: statuses stay as they are
    decisions = read_reviews(path)

    def decide(current: Mapping[str, str]) -> dict[str, str]:
        for finding_id in sorted(set(decisions) - set(current)):
            result.issues.append(Issue(path, 1, (finding_id,), f"event {event_id} has no finding {finding_id}; "
                                       "the decision is kept in the file but not applied", Severity.WARNING,
                                       "unknown-finding", event_id))
        for finding_id, status in current.items():
            decision = decisions.get(finding_id)
            wanted = decision.status if decision else "open"
            if wanted != status:
                result.changes.append(StatusChange(finding_id, status, wanted, decision.reviewer if decision else None,
                                                   decision.note if decision else None))
        return {change.finding: change.new for change in result.changes}

    def audit() -> None:
        # Inside the transaction: when the log cannot be written, the statuses do not change either, so
        # no change ever goes unaudited.
        if result.changes:
            _append_audit(data, event_id, result.changes)

    findings.update_statuses(event_id, decide, audit)
    return result


#: The ``prev`` of the first entry of every log.
GENESIS = "0" * 64
_FIELDS = {"at": str, "event": str, "finding": str, "from": str, "to": str}


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _append_audit(data: DataDir, event_id: str, changes: list[StatusChange]) -> None:
    """Append one chained entry per change; appended, never rewritten, never through a link."""
    path = audit_log(data, event_id)
    existing = data.read_bytes(path) or b""
    # A line cut off by a crash is ended first, so it stays one bad line instead of spoiling the next entry.
    out = b"" if not existing or existing.endswith(b"\n") else b"\n"
    prev = _read_trail(path, existing).head
    now = datetime.now(UTC).isoformat()
    for change in changes:
        line = json.dumps({"at": now, "event": event_id, "finding": change.finding, "from": change.old,
                           "to": change.new, "reviewer": change.reviewer, "note": change.note, "prev": prev},
                          ensure_ascii=False).encode("utf-8")
        out += line + b"\n"
        prev = _line_hash(line)
    data.append(path, out)


@dataclass(frozen=True)
class AuditTrail:
    """What the audit log says, and how far it can be trusted."""

    path: Path
    entries: tuple[dict[str, object], ...] = ()
    #: (line number, why it was skipped)
    bad_lines: tuple[tuple[int, Message], ...] = ()
    #: (line number, how the chain breaks there)
    breaks: tuple[tuple[int, Message], ...] = ()
    #: Line numbers of entries written before the log was chained (no ``prev``).
    unchained: tuple[int, ...] = ()
    #: sha256 of the last line: a copy of it kept elsewhere shows later whether lines were cut off the end.
    head: str = GENESIS

    def notes(self) -> list[Message]:
        """One line per problem, for the command line (``str()``: English) and the report (translated)."""
        shown = self.path.name
        notes = [Message(N_("%(file)s line %(line)s: %(why)s; skipped"), {"file": shown, "line": line, "why": why})
                 for line, why in self.bad_lines]
        if self.unchained:
            notes.append(Message(N_("%(file)s lines %(lines)s: written before the log was hash-chained (unchained: "
                                    "a change to them cannot be detected)"),
                                 {"file": shown, "lines": _ranges(self.unchained)}))
        notes += [Message(N_("%(file)s line %(line)s: the hash chain breaks here (%(why)s)"),
                          {"file": shown, "line": line, "why": why}) for line, why in self.breaks]
        return notes

    def state(self) -> str:
        """The hash chain's state: intact, BROKEN or 'with bad lines'."""
        return "intact" if not (self.breaks or self.bad_lines) else "BROKEN" if self.breaks else "with bad lines"

    def summary(self) -> Message:
        """One line for the command line (the report's template words it the same, as one plural message)."""
        return Message(SUMMARY, {"count": len(self.entries), "state": Message(self.state()), "head": self.head[:16]},
                       plural=SUMMARY_PLURAL)


#: :meth:`AuditTrail.summary`, as templates/report.html words it (so the catalog holds it, with its plural).
SUMMARY = "audit log: %(count)s entry, hash chain %(state)s, last line sha256 %(head)s…"
SUMMARY_PLURAL = "audit log: %(count)s entries, hash chain %(state)s, last line sha256 %(head)s…"


def _ranges(numbers: tuple[int, ...]) -> str:
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in spans)


def _entry(raw: bytes) -> dict[str, object] | Message:
    """The line's entry, or why it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return Message(N_("not UTF-8 (byte %(byte)s)"), {"byte": err.start + 1})
    if not text.strip():
        return Message(N_("empty"))
    try:
        value = json.loads(text)
    except ValueError:
        return Message(N_("not JSON (cut off by a crash, or edited)"))
    if not isinstance(value, dict):
        return Message(N_("not an audit entry (a JSON object)"))
    wrong = [name for name, kind in _FIELDS.items() if not isinstance(value.get(name), kind)]
    wrong += [name for name in ("reviewer", "note") if not isinstance(value.get(name), str | None)]
    if "prev" in value and not isinstance(value["prev"], str):
        wrong.append("prev")
    if wrong:
        return Message(N_("not an audit entry (missing or wrong: %(fields)s)"), {"fields": ", ".join(wrong)})
    return value


def audit_trail(data: DataDir, event_id: str) -> AuditTrail:
    """Read the audit log line by line: entries, bad lines and chain breaks, each with its line number."""
    path = audit_log(data, event_id)
    return _read_trail(path, data.read_bytes(path) or b"")


def _read_trail(path: Path, content: bytes) -> AuditTrail:
    if not content:
        return AuditTrail(path)
    raw_lines = content.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()  # the newline that ends the last line
    entries: list[dict[str, object]] = []
    bad: list[tuple[int, Message]] = []
    breaks: list[tuple[int, Message]] = []
    unchained: list[int] = []
    prev, chained = GENESIS, False
    for number, raw in enumerate(raw_lines, start=1):
        entry = _entry(raw)
        if isinstance(entry, Message):
            bad.append((number, entry))
        else:
            entries.append(entry)
            claimed = entry.get("prev")
            if claimed is None:
                if chained:
                    breaks.append((number, Message(N_("an entry without a hash after chained ones: inserted or "
                                                      "edited"))))
                else:
                    unchained.append(number)
            else:
                if claimed != prev:
                    where = Message(N_("the first line")) if number == 1 else \
                        Message(N_("line %(line)s"), {"line": number - 1})
                    breaks.append((number, Message(N_("its recorded hash does not match %(where)s: a line before it "
                                                      "was changed, inserted or removed"), {"where": where})))
                chained = True
        prev = _line_hash(raw)
    return AuditTrail(path, tuple(entries), tuple(bad), tuple(breaks), tuple(unchained), prev)


def read_audit_log(data: DataDir, event_id: str) -> list[dict[str, object]]:
    """The readable entries of the audit log (bad lines skipped; :func:`audit_trail` says which)."""
    return list(audit_trail(data, event_id).entries)
