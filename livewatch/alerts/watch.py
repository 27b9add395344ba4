"""Schedule and capture alerts, raised while an event is on (or should be on) the air.

The rule packs judge the schedule after the fact; these alerts tell a reviewer in time to act: the stream
went live earlier than allowed, there is still no stream at the start plus the late tolerance (a no-show
risk), the broadcast runs past its end plus the overrun tolerance, the capture failed, or a gap in the
recording has lasted longer than ``gap_alert_s``. :func:`schedule_alerts` is pure; :func:`read_facts` reads
what it needs from the event records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from livewatch.alerts.base import Alert
from livewatch.fields import SeverityName
from livewatch.pipeline.findings import DetailValue
from livewatch.pipeline.run_status import CANCELLED, FAILED, INCOMPLETE, RECONNECTING, RECORDING, SEARCHING, UNRESOLVED
from livewatch.registration.kinds import kind_policy
from livewatch.registration.models import Event
from livewatch.state.event_records import EventRecords

#: Seconds HLS media arrives after it was broadcast (origin segment, playlist refresh, ffmpeg's fetch).
HLS_SLACK_S = 6.0


@dataclass(frozen=True)
class RunFacts:
    id: int
    status: str
    on_air_at: datetime | None
    off_air_at: datetime | None
    error: str | None
    #: Each stream's newest recorded audio: an outage shows here while it lasts (the gap ledger gets its row
    #: only when media returns).
    last_media: Mapping[int, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class GapFacts:
    id: int
    stream: int
    start_at: datetime
    end_at: datetime | None
    cause: str


@dataclass(frozen=True)
class ScheduleWatch:
    """What the schedule watch looks at: the events handled now (the monitor's), and their runs and gaps."""

    events: Callable[[], Mapping[str, Event]]
    records: EventRecords


def read_facts(records: EventRecords, event: Event) -> tuple[RunFacts | None, list[GapFacts]]:
    """The latest run of the event's registered window, and that run's gaps."""
    window = records.for_window(event.id, event.start)
    if window is None:
        return None, []
    run = window.run
    return (RunFacts(run.id, run.status, run.on_air_at, run.off_air_at, run.error or run.stop_reason,
                     window.last_audio),
            [GapFacts(g.id, g.stream, g.start_at, g.end_at, g.cause) for g in window.gaps])


def run_alert(event: Event, run_id: int, status: str, error: str | None, now: datetime) -> Alert:
    """The alert for a run that ended incomplete or failed. The monitor raises it when the capture ends
    (so it needs no database read, and goes out even when the database cannot be written); the schedule
    watch raises the same key from the database, so a reviewer gets it once."""
    if status == UNRESOLVED:
        return Alert(
            key=f"capture|{event.id}|{event.start.isoformat()}|run-{status}|run{run_id}", kind="capture",
            severity="high", category="capture", title="Capture failed: no stream found in the page",
            summary=f"livewatch found no stream in the registered page, so this event was not monitored; the "
                    f"organizer may have been live (not a no-show): {error or 'no detail recorded'}",
            at=now, event_id=event.id, event_title=event.title, rule=f"capture.run-{status}",
            offset_s=round((now - event.start).total_seconds(), 1), details={"run_id": run_id},
        )
    return Alert(
        key=f"capture|{event.id}|{event.start.isoformat()}|run-{status}|run{run_id}", kind="capture",
        severity="high", category="capture", title=f"Capture {status}",
        summary=f"the recording of this event is {status}: {error or 'no detail recorded'}", at=now,
        event_id=event.id, event_title=event.title, rule=f"capture.run-{status}",
        offset_s=round((now - event.start).total_seconds(), 1), details={"run_id": run_id},
    )


def schedule_alerts(event: Event, run: RunFacts | None, gaps: Sequence[GapFacts], now: datetime,
                    gap_alert_s: float) -> list[Alert]:
    """Every schedule or capture alert that holds for ``event`` at ``now`` (the outbox drops repeats)."""
    tolerance = event.tolerances
    window = event.start.isoformat()
    found: list[Alert] = []
    window_promised = kind_policy(event.kind).window_promised

    def add(check: str, kind: Literal["schedule", "capture"], severity: SeverityName, title: str, summary: str,
            at: datetime, key_suffix: str = "", **details: DetailValue) -> None:
        if kind == "schedule" and not window_promised:
            return  # an inspection's window is how long to watch, not a promise (livewatch.registration.kinds)
        found.append(Alert(
            key=f"{kind}|{event.id}|{window}|{check}{key_suffix}", kind=kind,
            severity=severity, category=kind, title=title, summary=summary, at=at, event_id=event.id,
            event_title=event.title, rule=f"{kind}.{check}",
            offset_s=round((at - event.start).total_seconds(), 1), details=details,
        ))

    if run is not None and run.status == CANCELLED:
        return found
    on_air = run.on_air_at if run is not None else None
    early_limit = event.start - timedelta(minutes=tolerance.early_start)
    if on_air is not None and on_air < early_limit:
        minutes = (event.start - on_air).total_seconds() / 60
        add("early-start", "schedule", "medium", "Live before the registered start",
            f"on air {minutes:.1f} min before the registered start (allowed {tolerance.early_start:g} min)",
            on_air, on_air_at=on_air.isoformat())
    late_limit = event.start + timedelta(minutes=tolerance.late_start)
    # Not when livewatch could not find the stream in the page: that is ours (the capture alert below).
    if on_air is None and now >= late_limit and run is not None and run.status == SEARCHING:
        add("no-stream-found", "capture", "high", "No stream found in the page",
            f"{(now - event.start).total_seconds() / 60:.1f} min after the registered start livewatch still "
            "finds no stream in the registered page: the organizer may be live unseen (not a no-show); "
            "register the stream's own URL if it is known", late_limit)
    elif on_air is None and now >= late_limit and (run is None or run.status != UNRESOLVED):
        add("no-show", "schedule", "high", "No stream after the registered start",
            f"still no live stream {(now - event.start).total_seconds() / 60:.1f} min after the registered start "
            f"(late tolerance {tolerance.late_start:g} min): no-show risk", late_limit)
    overrun_limit = event.end + timedelta(minutes=tolerance.overrun)
    if (run is not None and on_air is not None and run.off_air_at is None and run.status in (RECORDING, RECONNECTING)
            and now >= overrun_limit):
        add("overrun", "schedule", "medium", "Broadcast running past the registered end",
            f"still on air {(now - event.end).total_seconds() / 60:.1f} min after the registered end "
            f"(overrun tolerance {tolerance.overrun:g} min)", overrun_limit)
    if run is not None and run.status in (FAILED, INCOMPLETE, UNRESOLVED):
        found.append(run_alert(event, run.id, run.status, run.error, now))
    # A gap is keyed by its stream and start, so the alert raised while it lasts and the ledger's row written
    # when media returns are one alert.
    for gap in gaps:
        length = ((gap.end_at or now) - gap.start_at).total_seconds()
        if length > gap_alert_s:
            add("gap", "capture", "medium", f"Capture gap over {gap_alert_s:g} s",
                f"stream {gap.stream}: no media for {length:.0f} s ({gap.cause})", gap.start_at,
                key_suffix=f"|s{gap.stream}|{gap.start_at.isoformat()}", stream=gap.stream, cause=gap.cause,
                gap_s=round(length, 1))
    if run is not None and run.status in (RECORDING, RECONNECTING):
        # The segment being recorded is not listed until it closes, and HLS delivers a few seconds late.
        allowance = event.capture.segment_seconds + HLS_SLACK_S
        ended_on_time = event.end - timedelta(seconds=event.capture.segment_seconds)
        for stream, last in run.last_media.items():
            if last >= ended_on_time:
                # Media reached the registered end: the stream ended on time (or ran over), and the run stays
                # open only for a possible return. That is no gap in the recording.
                continue
            silent = (now - last).total_seconds() - allowance
            if silent > gap_alert_s:
                add("gap", "capture", "medium", f"Capture gap over {gap_alert_s:g} s",
                    f"stream {stream}: no new media for {(now - last).total_seconds():.0f} s, still going on "
                    f"(run {run.status})", last, key_suffix=f"|s{stream}|{last.isoformat()}", stream=stream,
                    cause="ongoing", gap_s=round((now - last).total_seconds(), 1))
    return found
