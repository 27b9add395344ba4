"""From a checked event to the report's context: the findings document (what ``findings.json`` says) plus
what the database holds about the run (transcript, segments, connections), laid out for reading."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from livewatch import __version__
from livewatch.i18n import N_, CategoryTitles
from livewatch.pipeline.findings import DetailValue
from livewatch.pipeline.run_status import FINAL
from livewatch.registration.models import Event
from livewatch.reports.findings_document import FindingEntry, FindingsDocument, Technical
from livewatch.reports.frames import FrameEvidence
from livewatch.reports.glance import (
    CONTEXT_SHOWN,
    MAX_MESSAGE,
    MAX_SHOWN,
    cut_after,
    cut_before,
    finding_counts,
    verdict_reasons,
)
from livewatch.reports.reviews import AuditTrail
from livewatch.reports.template_context import (
    AuditSummary,
    FindingView,
    Lane,
    ParticipantFlag,
    ParticipantView,
    ReportContext,
    ReviewLine,
    ScreenView,
    Span,
    TranscriptLine,
)
from livewatch.state.event_records import EventRecords

WIDTH = 1000.0
#: The timeline's lanes of findings, in this order: speech and screen always, the others when they have any.
LANES = ("speech", "screen", "audio", "schedule", "registration", "stream")
ALWAYS_SHOWN = ("speech", "screen")
LANE_TOP, LANE_STEP = 67.0, 18.0


class Scale:
    """Wall-clock time → x on a 0-1000 timeline covering the registered window and everything on air."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.seconds = start, max((end - start).total_seconds(), 1.0)

    def x(self, moment: datetime) -> float:
        return round(min(max((moment - self.start).total_seconds() / self.seconds, 0.0), 1.0) * WIDTH, 1)

    def span(self, start: datetime, end: datetime, label: str) -> Span:
        left = self.x(start)
        return Span(left, max(self.x(end) - left, 1.0), label)


def _offset(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    whole = int(abs(seconds))
    return f"{sign}{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _lanes(document: FindingsDocument) -> list[Lane]:
    present = {f.channel for f in document.findings}
    channels = [c for c in LANES if c in ALWAYS_SHOWN or c in present] + sorted(present - set(LANES))
    return [Lane(channel, LANE_TOP + LANE_STEP * i) for i, channel in enumerate(channels)]


def _screen_view(f: FindingEntry, evidence: FrameEvidence | None, clock: Callable[[datetime], str]) -> ScreenView:
    """A screen finding's frame (or why it is not kept), its box and how long it stood."""
    if evidence is None:
        evidence = FrameEvidence(None, b"", N_("no frame was recorded for this finding"))
    box = f.box
    return ScreenView(
        image=evidence.data_uri, frame=evidence.file or "", note=evidence.note,
        box="" if box is None else f"{box.left},{box.top},{box.width},{box.height}",
        seconds=f"{max((f.end - f.start).total_seconds(), 0.0):.0f}",
        visible=f"{clock(f.start)}–{clock(f.end)}",
        details=[cut_after(f"{key}: {value}", MAX_SHOWN) for key, value in f.details.items()])


def build_report(records: EventRecords, document: FindingsDocument, event: Event | None, *,
                 clips: dict[str, str], audit: AuditTrail,
                 frames: Mapping[str, FrameEvidence] | None = None,
                 categories: Mapping[str, CategoryTitles] | None = None) -> ReportContext:
    """The report's context; ``frames``: the screen findings' frames as kept (finding id → evidence);
    ``categories``: how the checked packs title their categories."""
    frames = frames or {}
    info = document.event
    zone = ZoneInfo(info.timezone)
    registered_start, registered_end = info.registered_start, info.registered_end
    on_air_start, on_air_end = document.on_air.start, document.on_air.end
    rows = records.latest_transcript(info.id)
    ends = [registered_end, *(x for x in (on_air_end,) if x), *(r.end_at for r in rows)]
    starts = [registered_start, *(x for x in (on_air_start,) if x)]
    scale = Scale(min(starts), max(ends))

    def clock(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%H:%M:%S")

    lines: list[TranscriptLine] = []
    line_starts: list[datetime] = []
    for index, row in enumerate(rows):
        lines.append(TranscriptLine(f"t-{index}", clock(row.start_at), row.start_at.astimezone(zone).isoformat(),
                                    row.text, bool(row.flags), []))
        line_starts.append(row.start_at)
    lanes = _lanes(document)
    lane_y = {lane.channel: lane.y for lane in lanes}
    findings = []
    for f in document.findings:
        anchor = ""
        # Only what was said has a place in the transcript (schedule, registration and audio findings have no
        # stream; what was shown has its frame): the last line that starts at or before the finding.
        index = bisect.bisect_right(line_starts, f.start + timedelta(seconds=0.01)) - 1
        if f.stream is not None and f.channel == "speech" and index >= 0:
            anchor = f"t-{index}"
        if anchor:
            lines[int(anchor[2:])].findings.append(f.id)
        low, high = f.highlight
        evidence = f.evidence
        # Cut between words (CJK: between characters), so what is shown reads as it was said or shown.
        if low < high:
            before, match, after = cut_before(evidence[:low], CONTEXT_SHOWN), \
                cut_after(evidence[low:high], MAX_SHOWN), cut_after(evidence[high:], CONTEXT_SHOWN)
        else:  # no match to show: the evidence is the rule's message (registration, schedule, audio)
            before, match, after = "", "", cut_after(evidence, MAX_MESSAGE)
        screen = _screen_view(f, frames.get(f.id), clock) if f.channel == "screen" else None
        confidence = f.asr_confidence
        findings.append(FindingView(
            f.id, f.rule, f.pack, f.category, f.severity, f.status, f.start.isoformat(), clock(f.start),
            _offset(f.offset_s), before, match, after, f.matched,
            f.legal_basis or "", "" if confidence is None else f"{confidence:.0%}", f.low_confidence,
            clips.get(f.id, ""), anchor, scale.x(f.start), f.channel, lane_y[f.channel], screen))
    counted = [f for f in document.findings if f.status != "dismissed"]
    counts = finding_counts((f.severity, f.status) for f in document.findings)
    gaps = document.gaps
    return ReportContext(
        title=f"{info.title} — compliance report",
        event={"id": info.id, "title": info.title, "kind": info.kind,
               "category": (event.category or "") if event else "",
               "organizer": event.organizer.name if event and event.organizer else "", "timezone": info.timezone,
               "notes": (event.notes or "") if event else "",
               **_inspection(event),
               "window": f"{registered_start.strftime('%Y-%m-%d %H:%M')} – {registered_end.strftime('%H:%M')}"},
        streams=[s.url for s in event.streams] if event else [],
        participants=_participants(event, document),
        verdict=document.verdict,
        verdict_reasons=verdict_reasons(document.verdict,
                                        ((f.severity, f.status, f.low_confidence) for f in document.findings)),
        counts=counts,
        run_status=document.run_status or N_("no run yet"),
        live=document.run_status not in (None, *FINAL),
        counts_by_severity=dict(Counter(f.severity for f in counted)),
        counts_by_category=dict(Counter(f.category for f in counted)),
        registered=scale.span(registered_start, registered_end,
                              f"{clock(registered_start)}–{clock(registered_end)}"),
        on_air=[scale.span(on_air_start, on_air_end, f"{clock(on_air_start)}–{clock(on_air_end)}")]
        if on_air_start and on_air_end else [],
        gaps=[scale.span(g.start, g.end or g.start, g.cause) for g in gaps],
        lanes=lanes,
        timeline_height=lanes[-1].y + 28,
        axis_y=lanes[-1].y + 24,
        axis=[Span(scale.x(scale.start + timedelta(seconds=scale.seconds * i / 4)), 0,
                   clock(scale.start + timedelta(seconds=scale.seconds * i / 4))) for i in range(5)],
        findings=findings,
        transcript=lines,
        health=_health(records, info.id),
        gap_ledger=[{"start": g.start.isoformat(), "end": "" if g.end is None else g.end.isoformat(),
                     "cause": g.cause, "seconds": _seconds_between(g.start, g.end)} for g in gaps],
        technical=_technical(document.technical),
        provenance=_provenance(document),
        reviews=[ReviewLine(str(a["at"]), str(a["finding"]), str(a["from"]), str(a["to"]), str(a["reviewer"] or ""),
                            str(a.get("note") or "")) for a in audit.entries],
        audit=AuditSummary(len(audit.entries), audit.state(), audit.head[:16], audit.notes())
        if audit.entries or audit.bad_lines else None,
        generated_at=document.provenance.generated_at.isoformat(),
        categories=dict(categories or {}),
        language=event.language if event else "",
        version=__version__,
    )


def _seconds_between(start: datetime, end: datetime | None) -> str:
    if end is None:
        return ""  # still open
    return f"{(end - start).total_seconds():.0f}"


def _health(records: EventRecords, event_id: str) -> dict[str, str]:
    health = records.latest_health(event_id)
    if health is None:
        return {}
    return {N_("media segments"): str(health.media_segments), N_("bytes"): f"{health.media_bytes:,}",
            N_("connections"): str(health.connections), N_("reconnects"): str(max(health.connections - 1, 0)),
            N_("corrupt segments"): str(health.corrupt_segments), N_("gaps"): str(health.gaps)}


def _participants(event: Event | None, document: FindingsDocument) -> list[ParticipantView]:
    if event is None:
        return []
    flagged: dict[str, list[ParticipantFlag]] = {}
    for f in document.findings:
        for issue in _issues(f) if f.category == "registration" else ():
            parts = str(issue.get("field", "")).split(".")
            if len(parts) >= 2 and parts[0] == "participants" and parts[1].isdigit():
                flagged.setdefault(parts[1], []).append(ParticipantFlag(str(issue.get("code", "")),
                                                                        str(issue.get("message", ""))))
    return [ParticipantView(p.name, p.role, [f"{c.field}: {c.id}" for c in p.credentials],
                            flagged.get(str(i), [])) for i, p in enumerate(event.participants)]


def _issues(finding: FindingEntry) -> list[Mapping[str, DetailValue]]:
    """A registration finding's issues (``details["issues"]``: code, field and message of each)."""
    issues = finding.details.get("issues", ())
    if isinstance(issues, str) or not isinstance(issues, Sequence):
        return []
    return [issue for issue in issues if isinstance(issue, Mapping)]


def _technical(measured: Technical | None) -> dict[str, str]:
    if measured is None:
        return {}

    def value(number: float | None, unit: str) -> str:
        return N_("not measurable (silent)") if number is None else f"{number:.1f} {unit}"

    return {N_("audio measured"): f"{measured.measured_s:.0f} s",
            N_("integrated loudness"): value(measured.integrated_lufs, "LUFS"),
            N_("loudness range"): value(measured.loudness_range_lu, "LU"),
            N_("true peak"): value(measured.true_peak_dbtp, "dBTP"),
            N_("long silences"): ", ".join(f"{s.start.isoformat()} ({s.seconds:.0f} s)"
                                           for s in measured.silences) or N_("none")}


def _provenance(document: FindingsDocument) -> dict[str, str]:
    p = document.provenance
    return {N_("rule packs"): ", ".join(f"{x.pack} (sha256 {x.sha256[:16]}…)" for x in p.packs),
            N_("transcriber"): ", ".join(f"{x.backend} {x.model}" + (f" (sha256 {x.sha256[:16]}…)" if x.sha256 else "")
                                     for x in p.transcriber) or N_("none yet"),
            "livewatch": p.livewatch_version,
            N_("registration"): f"{p.registration_file} (sha256 {p.registration_sha256[:16]}…)",
            N_("generated"): p.generated_at.isoformat(), N_("findings.json schema"): str(document.schema_version)}


def _inspection(event: Event | None) -> dict[str, str]:
    """Who asked for an inspection and why (empty strings for a registered event)."""
    asked = event.inspection if event is not None else None
    if asked is None:
        return {"inspector": "", "tip_from": "", "note": "", "requested_at": ""}
    return {"inspector": asked.inspector, "tip_from": asked.tip_from or "", "note": asked.note or "",
            "requested_at": asked.requested_at.astimezone(event.zone).strftime("%Y-%m-%d %H:%M") if event else ""}
