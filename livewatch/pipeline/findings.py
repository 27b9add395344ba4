"""A finding: what the rule engine hands to the stores, the reports and the alerts.

Built once by :class:`livewatch.rules.engine.RuleEngine`; every later stage reads its typed fields.
``details`` is the rule type's own JSON-ready mapping (terms, registration issues, audio figures): it goes
into ``findings.json`` as it is. Findings are not queued today; the store keeps them as rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Literal, TypeAlias

from livewatch.fields import SeverityName
from livewatch.pipeline.base import Message
from livewatch.pipeline.screen import Box, Channel

Verdict = Literal["fail", "review", "pass"]
Status = Literal["open", "confirmed", "dismissed", "escalated"]

#: A value in a finding's or an alert's ``details``: JSON, as ``findings.json`` and the alert payload write
#: it. Mostly a scalar; a few rule types list things (a gap finding's causes, a registration finding's
#: issues, each a small mapping of code, field and message), which the report reads back.
DetailValue: TypeAlias = "str | int | float | bool | Sequence[DetailValue] | Mapping[str, DetailValue] | None"


@dataclass(frozen=True, slots=True)
class Finding(Message):
    """One thing a reviewer must look at."""

    kind: ClassVar[str] = "finding"

    id: str
    event_id: str
    rule: str
    pack: str  # id@version
    pack_sha256: str
    category: str
    severity: SeverityName
    start_at: datetime
    end_at: datetime
    offset_s: float  # seconds from the on-air start (the registered start when it never went on air)
    matched: str
    evidence: str
    highlight: tuple[int, int]  # the match inside ``evidence``
    normalized: str
    legal_basis: str | None
    asr_confidence: float | None
    low_confidence: bool
    rule_severity: SeverityName  # before the ASR cap
    title: str | None = None
    stream: int | None = None
    count: int = 1  # hits merged into this finding by the rule's cooldown
    status: Status = "open"
    #: The rule type's own figures, shown as key and value beside the finding (how a term matched, the
    #: minutes late, the loudness measured, the registration issues). A mapping rather than fields because
    #: every rule type, plugins included, has its own; each value is JSON (:data:`DetailValue`), so it
    #: goes into findings.json, the store and an alert's payload as it is.
    details: Mapping[str, DetailValue] = field(default_factory=dict)
    #: Where the evidence comes from: what was said (``speech``), shown (``screen``), heard (``audio``:
    #: loudness, silence), or the schedule, the registration, the stream's health.
    channel: Channel = "speech"
    #: A screen finding's evidence: the frame (a path relative to the event's folder) and the box in it.
    frame: str | None = None
    box: Box | None = None


def finding_id(event_id: str, rule: str, start_at: datetime, stream: int | None, matched: str,
               channel: Channel = "speech") -> str:
    """Stable across re-runs: the same event, rule, stream, moment and matched text give the same id. A
    screen finding's key names its channel (the same words shown and said at one moment are two findings);
    the others' keys are as they were before there was a screen, so their ids did not change."""
    key = f"{event_id}|{rule}|{stream}|{start_at.timestamp():.1f}|{matched}"
    if channel == "screen":
        key += "|screen"
    return hashlib.sha256(key.encode()).hexdigest()[:16]
