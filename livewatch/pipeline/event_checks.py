"""An event check: what one check of an event hands to the reports and the alerts.

It carries, besides the findings, the packs that judged them and the registration as stored, which the
findings document names, so it stays in the process that made it (the reports are written right after the
check) and is never queued: it is no :class:`~livewatch.pipeline.base.Message`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from livewatch.pipeline.findings import Finding, Verdict

if TYPE_CHECKING:
    from livewatch.registration.models import Event
    from livewatch.rules.audio_facts import AudioFacts
    from livewatch.rules.packs import RulePack


@dataclass(frozen=True)
class EventCheck:
    event_id: str
    run_id: int | None
    findings: list[Finding]
    verdict: Verdict
    packs: list[RulePack]
    audio: AudioFacts | None = None  # when the audio was measured for this check
    event: Event | None = None  # the registration as stored (None when it no longer validates)
