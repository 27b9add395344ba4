"""Checking one event from what the database holds: its registration, its latest capture run, the run's
gaps and transcripts (and, when asked, measurements of its audio), against the packs it selected.

Findings are written back in one transaction. A finding keeps its id across re-checks (the id hashes
event, rule, stream and time), and its reviewer status with it; an open finding that a later check no
longer produces (a disclosure that came after all, once the window was heard) is withdrawn.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, delete, select

from livewatch.errors import LivewatchError
from livewatch.registration.blacklist import Blacklist, load_blacklist
from livewatch.registration.models import Event
from livewatch.rules.base import EventFacts, Gap, RuleInput
from livewatch.rules.engine import Finding, RuleEngine, Verdict, verdict
from livewatch.rules.packs import Override, PackLibrary, RulePack
from livewatch.rules.transcript import Transcript, Utterance
from livewatch.settings import Settings
from livewatch.state import tables
from livewatch.state.database import write

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventCheck:
    event_id: str
    run_id: int | None
    findings: list[Finding]
    verdict: Verdict
    packs: list[RulePack]
    audio: Any = None  # AudioFacts when the audio was measured for this check
    event: Event | None = None  # the registration as stored (None when it no longer validates)


def load_input(engine: Engine, settings: Settings, event_id: str, *, blacklist: Blacklist | None = None,
               audio: bool = False) -> tuple[RuleInput, Event | None, int | None]:
    """The facts and transcripts of an event's latest run (or of no run yet)."""
    with engine.connect() as conn:
        row = conn.execute(select(tables.events).where(tables.events.c.id == event_id)).one()
        run = conn.execute(select(tables.runs).where(tables.runs.c.event_id == event_id)
                           .order_by(tables.runs.c.id.desc()).limit(1)).first()
        gaps: list[Any] = []
        texts: list[Any] = []
        last_media: datetime | None = None
        heard: dict[int, datetime] = {}
        if run is not None:
            gaps = list(conn.execute(select(tables.gaps).where(tables.gaps.c.run_id == run.id)))
            texts = list(conn.execute(select(tables.transcripts).where(tables.transcripts.c.run_id == run.id)
                                      .order_by(tables.transcripts.c.start_at)))
            s = tables.segments
            last_media = conn.execute(select(s.c.end_at).where(s.c.run_id == run.id)
                                      .order_by(s.c.end_at.desc()).limit(1)).scalar()
            p = tables.transcription_progress
            heard = {r.stream: r.committed_until
                     for r in conn.execute(select(p.c.stream, p.c.committed_until).where(p.c.run_id == run.id))}
    event = _registration(row.registration_json, settings, event_id)
    on_air: tuple[tuple[datetime, datetime], ...] = ()
    if run is not None and run.on_air_at is not None:
        on_air = ((run.on_air_at, run.off_air_at or last_media or run.on_air_at),)
    streams: dict[int, list[Utterance]] = {}
    for t in texts:
        streams.setdefault(t.stream, []).append(
            Utterance.from_row(t.start_at, t.end_at, t.text, t.words_json, t.avg_logprob, t.flags))
    tolerances = event.tolerances.model_dump() if event is not None else settings.tolerances.model_dump()
    facts = EventFacts(
        event_id=event_id, registered_start=row.registered_start, registered_end=row.registered_end,
        on_air=on_air,
        gaps=tuple(Gap(g.start_at, g.end_at or g.start_at, g.cause) for g in gaps),
        run_status=None if run is None else run.status, tolerances=tolerances,
        audio=_measure(engine, run.id) if audio and run is not None else None,
        registration=event, blacklist=blacklist if blacklist is not None else load_blacklist(settings.blacklist),
    )
    transcripts = {stream: Transcript(u, heard.get(stream)) for stream, u in streams.items()}
    return RuleInput(facts, transcripts), event, (
        None if run is None else run.id)


def _registration(text: str, settings: Settings, event_id: str) -> Event | None:
    try:
        return Event.model_validate(json.loads(text), context=settings.registration_context())
    except (ValidationError, ValueError):
        log.warning("event %s: stored registration no longer validates; checking without it", event_id)
        return None


def _measure(engine: Engine, run_id: int) -> Any:
    from livewatch.rules.audio_facts import AudioSegmentRef, measure_audio

    s = tables.segments
    with engine.connect() as conn:
        rows = list(conn.execute(select(s).where(s.c.run_id == run_id, s.c.kind == "audio", s.c.status != "corrupt")
                                 .order_by(s.c.stream, s.c.seq)))
    first_stream = min((r.stream for r in rows), default=None)
    refs = [AudioSegmentRef(Path(r.path), r.start_at, r.end_at) for r in rows
            if r.stream == first_stream and Path(r.path).is_file()]
    try:
        return measure_audio(refs) if refs else None
    except LivewatchError as err:  # the text and schedule checks must not be lost to one unreadable file
        log.warning("run %s: audio not measured: %s", run_id, err)
        return None


def check_event(engine: Engine, settings: Settings, event_id: str, *, library: PackLibrary | None = None,
                blacklist: Blacklist | None = None, audio: bool = False, save: bool = True) -> EventCheck:
    """Check one event against the packs its registration selects, with its per-event overrides."""
    data, event, run_id = load_input(engine, settings, event_id, blacklist=blacklist, audio=audio)
    library = library or PackLibrary(settings.rule_packs_dir)
    packs = library.select(event.rule_packs if event is not None else ("default",))
    overrides = [Override(o.rule, o.enabled, o.severity, tuple(o.add_terms), tuple(o.allowlist))
                 for o in (event.rule_overrides if event is not None else [])]
    findings = RuleEngine(packs, overrides).evaluate(data)
    if save:
        save_findings(engine, event_id, run_id, findings)
        _apply_reviews(engine, settings, event_id)
        findings = _with_stored_status(engine, event_id, findings)
    return EventCheck(event_id, run_id, findings, verdict(findings), packs, data.facts.audio, event)


def _apply_reviews(engine: Engine, settings: Settings, event_id: str) -> None:
    from livewatch.reviews import ReviewError, apply_reviews
    from livewatch.state import DataDir

    try:
        result = apply_reviews(engine, DataDir(settings.data_dir), event_id)
    except ReviewError as err:  # a reviewer's typo must not stop the checks: the last statuses stay
        log.warning("%s", err)
        return
    for issue in result.issues:
        log.warning("%s", issue.render())


def _with_stored_status(engine: Engine, event_id: str, findings: Sequence[Finding]) -> list[Finding]:
    f = tables.findings
    with engine.connect() as conn:
        rows = conn.execute(select(f.c.id, f.c.status).where(f.c.event_id == event_id))
        stored = {row.id: row.status for row in rows}
    return [replace(x, status=stored.get(x.id, x.status)) for x in findings]


def save_findings(engine: Engine, event_id: str, run_id: int | None, findings: Sequence[Finding]) -> list[Finding]:
    """Write an event's findings; reviewer statuses already recorded are kept and returned with them."""
    f = tables.findings
    now = datetime.now(UTC)
    with write(engine) as conn:
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
        gone = [fid for fid, status in existing.items()
                if status == "open" and fid not in {x.id for x in findings}]
        if gone:
            conn.execute(delete(f).where(f.c.id.in_(gone)))
    return kept


def _row(finding: Finding, run_id: int | None, now: datetime) -> dict[str, Any]:
    details = {key: value for key, value in asdict(finding).items()
               if key not in {"id", "event_id", "rule", "pack", "category", "severity", "status", "start_at",
                              "end_at", "offset_s", "evidence", "matched"}}
    return {
        "id": finding.id, "event_id": finding.event_id, "run_id": run_id, "rule": finding.rule,
        "pack": finding.pack, "category": finding.category, "severity": finding.severity,
        "status": finding.status, "start_at": finding.start_at, "end_at": finding.end_at,
        "offset_s": finding.offset_s, "evidence": finding.evidence, "matched": finding.matched,
        "details_json": json.dumps(details, ensure_ascii=False, default=str), "created_at": now,
    }
