"""Reviewers' dispositions: ``reviews/<event-id>.yaml`` maps finding ids to a decision.

::

    3f2a9c0d1e4b5a67:
      status: dismissed          # confirmed, dismissed or escalated
      reviewer: 王审核
      note: quoted a regulator's warning, not a promise

Once it exists, the file is the reviewers' record and wins over the database: applying it sets each
finding's status, a finding left out of it is ``open`` again, and every change of a status is appended to
``reviews/<event-id>.audit.jsonl`` (one JSON object per line, never rewritten), which the report
summarises. A decision for a finding id the event does not have is reported, not applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, RootModel
from sqlalchemy import Engine, select

from livewatch.errors import ConfigError
from livewatch.fields import SingleLine, StrictModel, Text
from livewatch.issues import Issue, Severity
from livewatch.state import DataDir, tables
from livewatch.state.database import write
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
    reviews, _ = read_model_file(path, ReviewFile, ReviewError, "review file")
    decisions: dict[str, Disposition] = reviews.root
    return decisions


def audit_log(data: DataDir, event_id: str) -> Path:
    return data.review_file(event_id).with_suffix(".audit.jsonl")


def apply_reviews(engine: Engine, data: DataDir, event_id: str) -> ReviewResult:
    """Make the findings' statuses what the review file says; log every change."""
    path = data.review_file(event_id)
    result = ReviewResult()
    if not path.is_file():
        return result  # no reviewer has written anything: statuses stay as they are
    decisions = read_reviews(path)
    f = tables.findings
    with write(engine) as conn:
        current = {row.id: row.status for row in conn.execute(select(f.c.id, f.c.status)
                                                               .where(f.c.event_id == event_id))}
        for finding_id in sorted(set(decisions) - set(current)):
            result.issues.append(Issue(path, 1, (finding_id,), f"event {event_id} has no finding {finding_id}; "
                                       "the decision is kept in the file but not applied", Severity.WARNING,
                                       "unknown-finding", event_id))
        for finding_id, status in current.items():
            decision = decisions.get(finding_id)
            wanted = decision.status if decision else "open"
            if wanted != status:
                conn.execute(f.update().where(f.c.id == finding_id).values(status=wanted))
                result.changes.append(StatusChange(finding_id, status, wanted, decision.reviewer if decision else None,
                                                   decision.note if decision else None))
    if result.changes:
        log = audit_log(data, event_id)
        log.parent.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC).isoformat()
        with log.open("a", encoding="utf-8") as handle:  # appended, never rewritten
            for change in result.changes:
                handle.write(json.dumps({"at": now, "event": event_id, "finding": change.finding, "from": change.old,
                                         "to": change.new, "reviewer": change.reviewer, "note": change.note},
                                        ensure_ascii=False) + "\n")
    return result


def read_audit_log(data: DataDir, event_id: str) -> list[dict[str, object]]:
    path = audit_log(data, event_id)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
