"""Findings and their reviewer statuses: the store the checks write and the reports and reviews read.

A finding keeps its id across re-checks (the id hashes event, rule, stream and time), and its reviewer
status with it; an open finding that a later check no longer produces is withdrawn. Everything here is
portable SQLAlchemy Core (select, then update or insert), so it runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine, delete, select

from livewatch.pipeline.findings import Finding
from livewatch.pipeline.screen import Box
from livewatch.state import tables
from livewatch.state.database import write

#: Columns of their own; every other field of a finding goes into ``details_json``.
_COLUMNS = frozenset({"id", "event_id", "rule", "pack", "category", "severity", "status", "start_at", "end_at",
                      "offset_s", "evidence", "matched", "channel", "frame", "box"})


@dataclass(frozen=True, slots=True)
class FindingHeadline:
    """What a live view shows of a stored finding."""

    id: str
    rule: str
    start_at: datetime
    severity: str
    category: str
    matched: str
    status: str
    #: Where the evidence comes from (speech, screen, audio, schedule, registration, stream), and for a
    #: screen finding the frame (relative to the event's folder) and the box in it.
    channel: str = "speech"
    frame: str | None = None
    box: Box | None = None


class FindingLog(Protocol):
    """Where an event's findings and their statuses are kept."""

    def save(self, event_id: str, run_id: int | None, findings: Sequence[Finding]) -> list[Finding]:
        """Write an event's findings; statuses already recorded are kept and returned with them; an open
        finding no longer produced is withdrawn."""
        ...

    def statuses(self, event_id: str) -> dict[str, str]:
        """Finding id → status, for every stored finding of the event."""
        ...

    def update_statuses(self, event_id: str, decide: Callable[[Mapping[str, str]], Mapping[str, str]],
                        then: Callable[[], None]) -> None:
        """In one transaction: ``decide`` gets the current statuses and returns the changed ones, which are
        written; ``then`` runs before the commit (an exception from it keeps every status unchanged)."""
        ...

    def headlines(self, event_id: str) -> list[FindingHeadline]:
        """The event's stored findings in time order."""
        ...


class FindingStore:
    """The findings table through SQLAlchemy Core."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, event_id: str, run_id: int | None, findings: Sequence[Finding]) -> list[Finding]:
        f = tables.findings
        now = datetime.now(UTC)
        with write(self.engine) as conn:
            existing = {row.id: row.status for row in conn.execute(select(f.c.id, f.c.status)
                                                                    .where(f.c.event_id == event_id))}
            kept: list[Finding] = []
            for finding in findings:
                status = existing.get(finding.id, finding.status)
                kept.append(finding if status == finding.status else replace(finding, status=status))
                values = _row(kept[-1], run_id, now)
                if finding.id in existing:
                    del values["created_at"]  # first seen is when it was first found
                    conn.execute(f.update().where(f.c.id == finding.id).values(**values))
                else:
                    conn.execute(f.insert().values(**values))
            produced = {x.id for x in findings}
            gone = [fid for fid, status in existing.items() if status == "open" and fid not in produced]
            if gone:
                conn.execute(delete(f).where(f.c.id.in_(gone)))
        return kept

    def statuses(self, event_id: str) -> dict[str, str]:
        f = tables.findings
        with self.engine.connect() as conn:
            return {row.id: row.status for row in conn.execute(select(f.c.id, f.c.status)
                                                               .where(f.c.event_id == event_id))}

    def update_statuses(self, event_id: str, decide: Callable[[Mapping[str, str]], Mapping[str, str]],
                        then: Callable[[], None]) -> None:
        f = tables.findings
        with write(self.engine) as conn:
            current = {row.id: row.status for row in conn.execute(select(f.c.id, f.c.status)
                                                                   .where(f.c.event_id == event_id))}
            for finding_id, status in decide(current).items():
                conn.execute(f.update().where(f.c.id == finding_id).values(status=status))
            then()

    def headlines(self, event_id: str) -> list[FindingHeadline]:
        f = tables.findings
        with self.engine.connect() as conn:
            return [FindingHeadline(row.id, row.rule, row.start_at, row.severity, row.category, row.matched, row.status,
                                    row.channel, row.frame, _box(row.box_json))
                    for row in conn.execute(select(f.c.id, f.c.rule, f.c.start_at, f.c.severity, f.c.category,
                                                   f.c.matched, f.c.status, f.c.channel, f.c.frame, f.c.box_json)
                                            .where(f.c.event_id == event_id).order_by(f.c.start_at, f.c.id))]


def _row(finding: Finding, run_id: int | None, now: datetime) -> dict[str, Any]:
    details = {key: value for key, value in asdict(finding).items() if key not in _COLUMNS}
    return {
        "id": finding.id, "event_id": finding.event_id, "run_id": run_id, "rule": finding.rule,
        "pack": finding.pack, "category": finding.category, "severity": finding.severity,
        "status": finding.status, "start_at": finding.start_at, "end_at": finding.end_at,
        "offset_s": finding.offset_s, "evidence": finding.evidence, "matched": finding.matched,
        "details_json": json.dumps(details, ensure_ascii=False, default=str), "created_at": now,
        "channel": finding.channel, "frame": finding.frame,
        "box_json": None if finding.box is None else json.dumps(asdict(finding.box)),
    }


def _box(text: str | None) -> Box | None:
    """A stored box (``{"left", "top", "width", "height"}``), or None."""
    if text is None:
        return None
    value = json.loads(text)
    return Box(int(value["left"]), int(value["top"]), int(value["width"]), int(value["height"]))
