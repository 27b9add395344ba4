"""Checking one event from what the stores hold: its registration, its latest capture run, the run's gaps,
transcripts and what its screen showed (and, when asked, measurements of its audio), against the packs it
selected.

The rules themselves are pure (:mod:`livewatch.rules.event_check`); this module gathers their facts and
writes the findings back in one transaction. A finding keeps its id across re-checks (the id hashes event,
rule, stream and time), and its reviewer status with it; an open finding that a later check no longer
produces (a disclosure that came after all, once the window was heard) is withdrawn.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from livewatch.errors import LivewatchError
from livewatch.pipeline.event_checks import EventCheck
from livewatch.pipeline.screen import ScreenItem
from livewatch.registration.blacklist import Blacklist, load_blacklist
from livewatch.registration.models import Event
from livewatch.rules.base import EventFacts, Gap, RuleInput
from livewatch.rules.engine import verdict
from livewatch.rules.event_check import evaluate_event, with_statuses
from livewatch.rules.packs import PackLibrary
from livewatch.rules.transcript import Transcript, Utterance
from livewatch.settings import Settings
from livewatch.state import DataDir
from livewatch.state.event_records import EventRecords
from livewatch.state.findings import FindingLog

log = logging.getLogger(__name__)

__all__ = ["CheckSession", "EventCheck", "check_event", "load_input"]


class CheckSession(Protocol):
    """What a check uses of a :class:`~livewatch.session.Session`: the settings (packs, blacklist,
    tolerances, registration context), the data directory (reviewers' decisions), the facts it reads and
    the findings it writes."""

    @property
    def settings(self) -> Settings: ...
    @property
    def data(self) -> DataDir: ...
    @property
    def records(self) -> EventRecords: ...
    @property
    def findings(self) -> FindingLog: ...


def load_input(records: EventRecords, settings: Settings, event_id: str, *, blacklist: Blacklist | None = None,
               audio: bool = False) -> tuple[RuleInput, Event | None, int | None]:
    """The facts, transcripts and screen (appearances by stream, black and frozen spells) of an event's
    latest run (or of no run yet)."""
    stored = records.for_check(event_id)
    run = stored.run
    event = _registration(stored.event.registration_json, settings, event_id)
    on_air: tuple[tuple[datetime, datetime], ...] = ()
    if run is not None and run.on_air_at is not None:
        on_air = ((run.on_air_at, run.off_air_at or stored.last_media or run.on_air_at),)
    streams: dict[int, list[Utterance]] = {}
    for t in stored.transcript:
        streams.setdefault(t.stream, []).append(
            Utterance.heard(t.start_at, t.end_at, t.text, t.words, t.avg_logprob, t.quality_flags))
    tolerances = event.tolerances.model_dump() if event is not None else settings.tolerances.model_dump()
    facts = EventFacts(
        event_id=event_id, registered_start=stored.event.registered_start,
        registered_end=stored.event.registered_end, on_air=on_air,
        gaps=tuple(Gap(g.start_at, g.end_at or g.start_at, g.cause) for g in stored.gaps),
        run_status=None if run is None else run.status, tolerances=tolerances,
        audio=_measure(records, run.id) if audio and run is not None else None,
        registration=event, blacklist=blacklist if blacklist is not None else load_blacklist(settings.blacklist),
        picture=stored.picture,
    )
    transcripts = {stream: Transcript(u, stored.heard.get(stream)) for stream, u in streams.items()}
    screen: dict[int, list[ScreenItem]] = {}
    for item in stored.screen:
        screen.setdefault(item.stream, []).append(item)
    return RuleInput(facts, transcripts, screen), event, None if run is None else run.id


def _registration(text: str, settings: Settings, event_id: str) -> Event | None:
    try:
        return Event.model_validate(json.loads(text), context=settings.registration_context())
    except (ValidationError, ValueError):
        log.warning("event %s: stored registration no longer validates; checking without it", event_id)
        return None


def _measure(records: EventRecords, run_id: int) -> Any:
    from livewatch.rules.audio_facts import AudioSegmentRef, measure_audio

    pieces = records.audio(run_id)
    first_stream = min((p.stream for p in pieces), default=None)
    refs = [AudioSegmentRef(p.path, p.start_at, p.end_at) for p in pieces
            if p.stream == first_stream and p.path.is_file()]
    try:
        return measure_audio(refs) if refs else None
    except LivewatchError as err:  # the text and schedule checks must not be lost to one unreadable file
        log.warning("run %s: audio not measured: %s", run_id, err)
        return None


def check_event(session: CheckSession, event_id: str, *, library: PackLibrary | None = None,
                blacklist: Blacklist | None = None, audio: bool = False, save: bool = True) -> EventCheck:
    """Check one event against the packs its registration selects, with its per-event overrides."""
    settings = session.settings
    data, event, run_id = load_input(session.records, settings, event_id, blacklist=blacklist, audio=audio)
    findings, packs = evaluate_event(data, event, library or PackLibrary(settings.rule_packs_dir))
    if save:
        store = session.findings
        store.save(event_id, run_id, findings)
        _apply_reviews(store, session.data, event_id)
        findings = with_statuses(findings, store.statuses(event_id))
    return EventCheck(event_id, run_id, findings, verdict(findings), packs, data.facts.audio, event)


def _apply_reviews(store: FindingLog, folder: DataDir, event_id: str) -> None:
    from livewatch.reports.reviews import ReviewError, apply_reviews

    try:
        result = apply_reviews(store, folder, event_id)
    except ReviewError as err:  # a reviewer's typo must not stop the checks: the last statuses stay
        log.warning("%s", err)
        return
    for issue in result.issues:
        log.warning("%s", issue.render())

