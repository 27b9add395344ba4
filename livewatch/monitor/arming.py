"""What arms, re-arms and cancels a capture: shared by ``livewatch run`` (which starts the capture itself
when its job falls due) and ``livewatch scheduler`` (which sends it to a capture worker).

Both keep one APScheduler date job per event in the persistent job store (:mod:`livewatch.monitor.jobs`);
what differs is only what "the capture is in hand" means (a capture thread of this monitor, or a capture
task already sent for the window) and what happens when the job runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.date import DateTrigger

from livewatch.capture.context import StopSignal
from livewatch.monitor.jobs import JOB_FUNCTION, event_of, job_id
from livewatch.pipeline.run_status import ACTIVE, FINAL
from livewatch.registration import validate_registrations
from livewatch.registration.loader import discover
from livewatch.registration.models import Event
from livewatch.settings import Settings
from livewatch.state.database import Database
from livewatch.state.runs import RunLog

log = logging.getLogger(__name__)

#: The registration files as last read: (path, mtime in ns, size) each; a change means read them again.
Fingerprint = tuple[tuple[str, int, int], ...]


def schedules_fingerprint(schedules: Sequence[Path]) -> Fingerprint:
    files, _ = discover(schedules)
    marks = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        marks.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(marks)


def read_registrations(schedules: Sequence[Path], settings: Settings, db: Database) -> dict[str, Event]:
    """The valid registrations by event id, synced into the database; each problem logged (a file that fails
    validation leaves out only its own events)."""
    result = validate_registrations(schedules, settings)
    for issue in result.issues:
        (log.error if issue.is_error else log.warning)("%s", issue.render())
    db.sync_events(result.registrations)
    return {reg.event.id: reg.event for reg in result.registrations}


@dataclass(frozen=True)
class Window:
    arm_at: datetime
    start: datetime
    end: datetime
    hard_stop: datetime


def window_of(event: Event) -> Window:
    capture = event.capture
    return Window(event.start - timedelta(minutes=capture.pre_roll_minutes), event.start, event.end,
                  event.end + timedelta(minutes=capture.overrun_cap_minutes))


class Verdict(Enum):
    """What :func:`arm` did with one event."""

    #: Past its hard stop with no open run: nothing to record.
    PASSED = "passed"
    #: One-shot mode: arms later than the horizon.
    BEYOND_HORIZON = "beyond horizon"
    #: A capture of this very window is running (monitor) or was sent (scheduler).
    IN_HAND = "in hand"
    #: The window has a final run: never a second one.
    RECORDED = "recorded"
    #: The job store holds the job for this window already (e.g. persisted across a restart).
    ARMED_ALREADY = "armed already"
    #: A job was added (or replaced one for an older window).
    ARMED = "armed"


@dataclass(frozen=True)
class Arming:
    verdict: Verdict
    #: The window's recorded run status, for :attr:`Verdict.RECORDED`.
    status: str | None = None
    #: When the job is due, for :attr:`Verdict.ARMED`.
    due: datetime | None = None

    @property
    def handled(self) -> bool:
        """Whether the event is one this process handles now (a one-shot run waits for those)."""
        return self.verdict not in (Verdict.PASSED, Verdict.BEYOND_HORIZON, Verdict.IN_HAND)


def job_kwargs(event: Event) -> dict[str, str]:
    """The job's arguments: the event and the window it was armed for."""
    return {"event_id": event.id, "start": event.start.isoformat(), "end": event.end.isoformat()}


def arm(scheduler: BaseScheduler, runs: RunLog, event: Event, now: datetime, *,
        in_hand: Window | None = None, horizon_end: datetime | None = None) -> Arming:
    """Keep the event's job in step with its registered window. ``in_hand`` is the window whose capture is
    already running or sent (no job then); ``horizon_end`` limits a one-shot run to events arming before it."""
    window = window_of(event)
    if now >= window.hard_stop and runs.window_status(event.id, event.start, event.end) not in ACTIVE:
        return Arming(Verdict.PASSED)
    # Past its hard stop but still open: a monitor died while recording it and none ran until its window
    # had passed. Its capture is started all the same, to stop the orphaned ffmpeg, keep what it wrote and
    # close the run (it would otherwise say "recording" for ever and never be checked).
    if horizon_end is not None and window.arm_at > horizon_end:
        return Arming(Verdict.BEYOND_HORIZON)
    if in_hand == window:
        return Arming(Verdict.IN_HAND)
    recorded = runs.window_status(event.id, event.start, event.end)
    if recorded in FINAL:
        return Arming(Verdict.RECORDED, status=recorded)
    due = max(window.arm_at, now).astimezone(UTC)  # an instant: the job store and scheduler run in UTC
    kwargs = job_kwargs(event)
    job = scheduler.get_job(job_id(event.id))
    if job is not None and job.kwargs == kwargs and job.next_run_time is not None:
        return Arming(Verdict.ARMED_ALREADY)
    scheduler.add_job(JOB_FUNCTION, DateTrigger(run_date=due), id=job_id(event.id), kwargs=kwargs,
                      replace_existing=True, name=f"capture {event.id}")
    log.info("%s: capture armed for %s", event.id, due.isoformat())
    return Arming(Verdict.ARMED, due=due)


def disarm_removed(scheduler: BaseScheduler, wanted: Mapping[str, Event]) -> list[str]:
    """Remove the jobs of events no longer registered; returns their ids."""
    removed = []
    for job in scheduler.get_jobs():
        event_id = event_of(job.id)
        if event_id is not None and event_id not in wanted:
            job.remove()
            removed.append(event_id)
            log.info("%s: registration removed; capture disarmed", event_id)
    return removed


def stop_reason(event_id: str, in_hand: Window, wanted: Mapping[str, Event]) -> str | None:
    """Why the capture of ``in_hand`` (the window it started with) must stop now, if it must: its event was
    removed, or its window moved (a :class:`StopSignal` reason)."""
    new = wanted.get(event_id)
    if new is None:
        return StopSignal.REMOVED
    if window_of(new) != in_hand:
        return StopSignal.RESCHEDULED
    return None
