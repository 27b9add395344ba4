"""An alert: the message the checks and the schedule watch hand to the alert stage.

It crosses to the receivers as :meth:`Alert.payload`, a JSON document with its own version
(:data:`PAYLOAD_VERSION`, documented in docs/alerts.md); the outbox stores that payload, so an alert never
travels through the pipeline codec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from livewatch.fields import SeverityName
from livewatch.pipeline.findings import DetailValue

AlertKind = Literal["finding", "schedule", "capture", "test"]
PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class Alert:
    """One thing to tell a reviewer now. ``key`` is the idempotency key: the same alert always has the same
    key, so a receiver that sees a key twice can drop the second copy."""

    key: str
    kind: AlertKind
    severity: SeverityName
    category: str
    title: str
    summary: str
    at: datetime
    event_id: str | None = None
    event_title: str | None = None
    rule: str | None = None
    matched: str = ""
    evidence: str = ""
    offset_s: float | None = None
    finding_id: str | None = None
    report: str | None = None
    #: What the alert's source adds for the receiver, as key and value (a finding's pack, stream and ASR
    #: confidence; a capture alert's run). A mapping because each kind adds its own; JSON values only, as
    #: the payload carries it unchanged.
    details: Mapping[str, DetailValue] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """Alerts of one group within the cooldown are folded into one (same event, same rule or check)."""
        return f"{self.event_id or '-'}|{self.rule or self.kind}"

    def payload(self) -> dict[str, Any]:
        """The JSON document every channel sends (documented in docs/alerts.md)."""
        return {
            "schema_version": PAYLOAD_VERSION,
            "idempotency_key": self.key,
            "kind": self.kind,
            "severity": self.severity,
            "category": self.category,
            "title": self.title,
            "summary": self.summary,
            "at": utc_text(self.at),
            "event": None if self.event_id is None else {"id": self.event_id, "title": self.event_title},
            "rule": self.rule,
            "matched": self.matched,
            "evidence": self.evidence,
            "offset_s": self.offset_s,
            "finding_id": self.finding_id,
            "report": self.report,
            "details": dict(self.details),
            "count": 1,
            "first_at": utc_text(self.at),
            "last_at": utc_text(self.at),
            "repeat": False,
        }


def utc_text(moment: datetime) -> str:
    # One zone for every time in a payload, so that times compare as text (and read the same everywhere).
    return moment.astimezone(UTC).isoformat()
