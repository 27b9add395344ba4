"""The table of registered events shown by ``livewatch schedule`` (terminal, JSON, or HTML)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime

from livewatch import __version__
from livewatch.i18n import N_
from livewatch.issues import display_path
from livewatch.registration.loader import Registration

#: Status of an event that has no run yet, from the clock alone.
UPCOMING, IN_WINDOW, ENDED = "upcoming", "in window", "ended"


@dataclass(frozen=True)
class ScheduleRow:
    """One registered event as listed."""

    id: str = field(metadata={"help": "Event id."})
    title: str = field(metadata={"help": "Event title."})
    kind: str = field(metadata={"help": "forum, annual-meeting, lecture, ..."})
    category: str = field(metadata={"help": "Platform category tag, or '' when none is set."})
    timezone: str = field(metadata={"help": "The event's IANA time zone."})
    start: str = field(metadata={"help": "Registered start in the event's time zone, ISO 8601."})
    end: str = field(metadata={"help": "Registered end in the event's time zone, ISO 8601."})
    window: str = field(metadata={"help": "Start and end for reading, e.g. 2026-12-09 09:30–12:00."})
    status: str = field(metadata={"help": "Latest run status, else upcoming / in window / ended."})
    streams: list[str] = field(metadata={"help": "Stream URLs, in registration order."})
    source: str = field(metadata={"help": "Registration file, relative to the working directory."})


@dataclass(frozen=True)
class ScheduleContext:
    """Context of ``schedule.html``: the printable list of registered events for the monitoring room."""

    title: str = field(metadata={"help": "Page title."})
    generated_at: str = field(metadata={"help": "When the page was made, ISO 8601 with offset."})
    version: str = field(metadata={"help": "livewatch version that made the page."})
    rows: list[ScheduleRow] = field(metadata={"help": "Events ordered by registered start."})
    problems: list[str] = field(metadata={"help": "Rendered registration problems (errors and warnings)."})


def clock_status(start: datetime, end: datetime, now: datetime) -> str:
    if now < start:
        return UPCOMING
    if now < end:
        return IN_WINDOW
    return ENDED


def schedule_rows(
    registrations: Iterable[Registration], now: datetime, run_status: Mapping[str, str] | None = None
) -> list[ScheduleRow]:
    run_status = run_status or {}
    rows = []
    for reg in sorted(registrations, key=lambda r: (r.event.start, r.event.id)):
        ev = reg.event
        zone = ev.zone
        start = ev.start.astimezone(zone).isoformat(timespec="minutes")
        end = ev.end.astimezone(zone).isoformat(timespec="minutes")
        rows.append(
            ScheduleRow(
                id=ev.id,
                title=ev.title,
                kind=ev.kind,
                category=ev.category or "",
                timezone=ev.timezone or "UTC",
                start=start,
                end=end,
                window=local_window(start, end),
                status=run_status.get(ev.id) or clock_status(ev.start, ev.end, now),
                streams=[stream.url for stream in ev.streams],
                source=display_path(reg.file),
            )
        )
    return rows


def schedule_context(rows: list[ScheduleRow], problems: list[str], now: datetime) -> ScheduleContext:
    return ScheduleContext(
        title=N_("Registered events"),
        generated_at=now.isoformat(timespec="seconds"),
        version=__version__,
        rows=rows,
        problems=problems,
    )


def local_window(start: str, end: str) -> str:
    """``2026-12-09 09:30–12:00`` from two local ISO times (the end's date only when it differs)."""
    start_day, start_time = start[:10], start[11:16]
    end_day, end_time = end[:10], end[11:16]
    end = end_time if end_day == start_day else f"{end_day} {end_time}"
    return f"{start_day} {start_time}–{end}"


def rows_as_dicts(rows: Iterable[ScheduleRow]) -> list[dict[str, object]]:
    return [asdict(row) for row in rows]
