"""What an alert is, and the one abstract method every delivery channel implements."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from livewatch.errors import LivewatchError
from livewatch.fields import SeverityName
from livewatch.settings import AlertTarget

AlertKind = Literal["finding", "schedule", "capture", "test"]
#: Least to most severe; routing compares ranks.
SEVERITY_RANK: Mapping[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
PAYLOAD_VERSION = 1


class AlertDeliveryError(LivewatchError):
    """A channel could not deliver. ``permanent``: retrying cannot help (a 4xx answer, a refused recipient);
    ``retry_after``: seconds the receiver asked us to wait."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


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
    details: Mapping[str, Any] = field(default_factory=dict)

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


@dataclass(frozen=True)
class Delivery:
    """One attempt to hand an alert's payload to one target."""

    key: str
    target: str
    payload: Mapping[str, Any]
    attempt: int


TargetT = TypeVar("TargetT", bound=AlertTarget)


class Channel(ABC, Generic[TargetT]):
    """A way to reach a reviewer. Subclasses set ``type`` (the ``type`` of an ``[[alerts]]`` target) and
    implement :meth:`send`; they are registered under the entry-point group ``livewatch.alert_channels``.
    ``target_model`` is the channel's own configuration: a subclass of :class:`AlertTarget` adding the
    channel's keys, which validates the ``[[alerts]]`` entries of its type."""

    # Declared before ``type``, which names the class attribute below it, not the builtin.
    target_model: ClassVar[type[AlertTarget]] = AlertTarget
    type: ClassVar[str]

    def __init__(self, target: TargetT, environ: Mapping[str, str] | None = None) -> None:
        self.target = target
        self.environ = os.environ if environ is None else environ

    @abstractmethod
    def send(self, delivery: Delivery) -> None:
        """Deliver or raise :class:`AlertDeliveryError`."""


def utc_text(moment: datetime) -> str:
    # One zone for every time in a payload, so that times compare as text (and read the same everywhere).
    return moment.astimezone(UTC).isoformat()
