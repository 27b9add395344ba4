"""The monitor: keeps the job store in step with the registrations and runs the captures.

Registration files are re-read whenever they change (checked every ``reload_interval`` seconds): a new
event is armed, a moved window re-armed (a running capture of the old window is stopped), a removed event
cancelled. A file that fails validation is reported and only its own events are left out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from sqlalchemy.exc import SQLAlchemyError

from livewatch.alerts import AlertService
from livewatch.alerts.service import STOP_WAIT_S
from livewatch.alerts.watch import ScheduleWatch, run_alert
from livewatch.capture.context import CaptureContext, StopSignal, utc_now
from livewatch.capture.registry import SourceRegistry
from livewatch.errors import StateError
from livewatch.monitor.arming import (
    Fingerprint,
    Verdict,
    arm,
    disarm_removed,
    read_registrations,
    schedules_fingerprint,
    stop_reason,
    window_of,
)
from livewatch.monitor.check_service import CheckService
from livewatch.monitor.event_capture import EventCapture, RunEnd
from livewatch.monitor.jobs import event_of, job_store_where, make_scheduler
from livewatch.monitor.lock import MonitorLock
from livewatch.monitor.screen import ScreenService
from livewatch.monitor.transcription import TranscriptionService
from livewatch.pipeline.run_status import FAILED, INCOMPLETE, UNRESOLVED
from livewatch.queue import SCREEN, TRANSCRIBE
from livewatch.registration.models import Event
from livewatch.session import Session, data_dir
from livewatch.settings import Settings
from livewatch.state.database import check_database_file, describe_error

__all__ = ["SHUTDOWN_GRACE_S", "Monitor", "window_of"]  # window_of: its home is livewatch.monitor.arming

log = logging.getLogger(__name__)
#: Seconds a shutdown may take past the captures' longest ``stop_timeout_s`` (see :meth:`Monitor.shutdown`).
SHUTDOWN_GRACE_S = 5.0


class Monitor:
    def __init__(self, settings: Settings, schedules: Sequence[Path], *, reload_interval: float = 5.0,
                 horizon: timedelta | None = None, only: Collection[str] | None = None) -> None:
        self.settings = settings
        self.schedules = list(schedules)
        self.reload_interval = reload_interval
        #: One-shot mode: only events that arm within this horizon of start-up are handled.
        self.horizon = horizon
        #: Only these events are armed and captured (``livewatch watch``: its inspection); the others stay
        #: registered (their rows, their armed jobs) for the next full monitor.
        self.only = frozenset(only) if only is not None else None
        self.data = data_dir(settings)
        self.events: dict[str, Event] = {}
        self.captures: dict[str, EventCapture] = {}
        self.done: dict[str, str] = {}
        self.candidates: set[str] = set()
        #: Runs whose end the database refused (disk full); written as soon as it takes them.
        self.unsaved: list[RunEnd] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._closing = False
        self._fingerprint: Fingerprint = ()
        self._lockfile: MonitorLock | None = None
        self.started_at = utc_now()

    # -- life cycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        self.data.ensure()
        self._lockfile = MonitorLock.acquire(self.data.root)
        self.session = Session.open(self.settings)
        self.db = self.session.database
        self.queue = self.session.queue
        requeued = self.queue.requeue_claimed(TRANSCRIBE)
        if requeued:
            log.info("returned %s claimed transcription item(s) to the queue", requeued)
        requeued = self.queue.requeue_claimed(SCREEN)
        if requeued:
            log.info("returned %s claimed frame(s) to the queue", requeued)
        self.ctx = CaptureContext(
            data=self.data, store=self.session.runs, queue=self.queue, sources=SourceRegistry(),
            slots=threading.BoundedSemaphore(self.settings.concurrency.captures),
            allowed_url_schemes=tuple(self.settings.allowed_url_schemes),
        )
        self.alerts = AlertService(self.settings, self.session.alerts,
                                   watch=ScheduleWatch(self._current_events, self.session.records))
        self.alerts.start()
        self.checks = CheckService(self.session, alerts=self.alerts)
        self.checks.start()
        self.transcription: TranscriptionService | None = None
        if self.settings.transcriber.enabled:
            self.transcription = TranscriptionService(self.session, checks=self.checks)
            self.transcription.start()
        self.screen: ScreenService | None = None
        if self.settings.screen.enabled:
            self.screen = ScreenService(self.session, checks=self.checks)
            self.screen.start()
        check_database_file(self.data.jobstore)  # a FIFO there would hang the scheduler's start
        self.scheduler = make_scheduler(self.data, self.db, persistent=self.only is None)
        self.scheduler.add_listener(self._on_job, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        try:
            self.scheduler.start()
        except SQLAlchemyError as err:
            where = job_store_where(self.data, self.db)
            raise StateError(f"cannot read the job store {where}: {describe_error(err)}") from err
        self.reconcile()

    def end_capture(self, event_id: str) -> bool:
        """End the capture of ``event_id`` now, on purpose: its run is finished with what it recorded, then
        transcribed, checked and reported as usual. False when it is not being captured."""
        with self._lock:
            capture = self.captures.get(event_id)
        if capture is None:
            return False
        capture.stop.set(StopSignal.ENDED)
        return True

    def _current_events(self) -> dict[str, Event]:
        """The events this monitor handles now (the schedule watch looks only at these)."""
        with self._lock:
            return {event_id: event for event_id, event in self.events.items() if event_id in self.candidates}

    def request_stop(self) -> None:
        self._stopping.set()

    def shutdown(self) -> None:
        """Stop every capture so that its run continues after a restart, then release everything.
        Safe to call after a start that failed half-way.

        Bounded whatever the peers do: captures get their ``stop_timeout_s`` (ffmpeg's time to close its
        files) plus :data:`SHUTDOWN_GRACE_S`, and every other thread what is left of that; a thread still
        busy then (a live check against a server that drips its answer, a segment being transcribed, an
        alert delivery) is abandoned. Nothing is lost by that: its run, queue item or outbox row is picked
        up after the next start, exactly as after a crash."""
        with self._lock:
            self._closing = True  # a capture whose start is still on its way must not begin now
            captures = list(self.captures.values())
        for capture in captures:
            capture.stop.set(StopSignal.SHUTDOWN)
        budget = max((c.event.capture.stop_timeout_s for c in captures), default=0.0) + SHUTDOWN_GRACE_S
        deadline = time.monotonic() + budget

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        for capture in captures:
            capture.thread.join(left())
            if capture.thread.is_alive():
                log.warning("%s: capture did not stop within %.0f s; its run continues after a restart",
                            capture.event.id, budget)
        transcription = getattr(self, "transcription", None)
        if transcription is not None:
            transcription.stop(left())
        screen = getattr(self, "screen", None)
        if screen is not None:
            screen.stop(left())
        checks = getattr(self, "checks", None)
        if checks is not None:
            checks.stop(left())
        alerts = getattr(self, "alerts", None)
        if alerts is not None:
            # Pending alerts stay in the outbox and go out after the next start; one in flight goes back.
            alerts.stop(min(left() + 1.0, STOP_WAIT_S))
        if getattr(self, "ctx", None) is not None:
            self.save_run_ends()
        scheduler = getattr(self, "scheduler", None)
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        database = getattr(self, "db", None)
        if database is not None:
            database.close()
        if self._lockfile is not None:
            self._lockfile.release()
            self._lockfile = None

    def run_forever(self) -> None:
        while not self._stopping.wait(self.reload_interval):
            self.save_run_ends()
            self.reload_if_changed()

    def run_until_idle(self) -> None:
        """Return once every event handled in this one-shot run has finished."""
        while not self._stopping.wait(min(self.reload_interval, 1.0)):
            self.save_run_ends()
            self.reload_if_changed()
            if self.idle():
                return

    def idle(self) -> bool:
        """Every event of this one-shot run captured, and (when enabled) all of its audio transcribed and its
        frames read."""
        with self._lock:
            if self.captures or not self.candidates <= set(self.done):
                return False
        if self.checks.busy() or self.alerts.busy():
            return False
        if self.transcription is None and self.screen is None:
            return True
        run_ids = self.session.runs.run_ids(self.candidates)
        stages = [stage for stage in (self.transcription, self.screen) if stage is not None]
        return not any(stage.busy(run_ids) for stage in stages)

    # -- registrations → jobs ---------------------------------------------------------------------------

    def reload_if_changed(self) -> None:
        """Re-read the registrations if a file changed. A failure here (an unreadable blacklist, say) is
        logged and the previous registrations stay in force: the monitor never dies of a bad edit."""
        try:
            if self._files_fingerprint() == self._fingerprint:
                return
            self.reconcile()
        except Exception:
            log.exception("cannot reload the registrations; keeping the previous ones")

    def _files_fingerprint(self) -> Fingerprint:
        return schedules_fingerprint(self.schedules)

    def reconcile(self) -> None:
        self._fingerprint = self._files_fingerprint()
        wanted = read_registrations(self.schedules, self.settings, self.db)
        now = self.ctx.clock()
        with self._lock:
            disarm_removed(self.scheduler, wanted)
            for event_id, capture in list(self.captures.items()):
                reason = stop_reason(event_id, window_of(capture.event), wanted)
                if reason is not None:
                    capture.stop.set(reason)
                if reason == StopSignal.RESCHEDULED:
                    log.info("%s: window moved; stopping the capture of the old window", event_id)
            self.events = wanted
            for event in wanted.values():
                if self.only is not None and event.id not in self.only:
                    continue
                try:
                    self._arm(event, now)
                except Exception:  # one event that cannot be armed must not leave the others unarmed
                    log.exception("%s: cannot arm the capture; the other events are armed as usual", event.id)

    def _arm(self, event: Event, now: datetime) -> None:
        running = self.captures.get(event.id)
        horizon_end = None if self.horizon is None else self.started_at + self.horizon
        armed = arm(self.scheduler, self.ctx.store, event, now,
                    in_hand=None if running is None else window_of(running.event), horizon_end=horizon_end)
        if not armed.handled:
            return
        self.candidates.add(event.id)
        if armed.verdict == Verdict.RECORDED:
            assert armed.status is not None
            self.done[event.id] = armed.status  # never a second run for the same window
            return
        self.done.pop(event.id, None)

    def save_run_ends(self) -> None:
        """Write the run ends the database refused before (see :class:`RunEnd`); keep those it still does."""
        with self._lock:
            waiting, self.unsaved = self.unsaved, []
        for end in waiting:
            try:
                self.ctx.store.finish_run(end.run_id, end.status, end.reason, error=end.error)
                log.info("run %s: its end (%s) is recorded now", end.run_id, end.status)
            except Exception as err:  # still full: try again on the next round
                log.warning("run %s: still cannot record its end (%s): %s", end.run_id, end.status, err)
                with self._lock:
                    self.unsaved.append(end)

    # -- captures ---------------------------------------------------------------------------------------

    def _on_job(self, job_event: JobExecutionEvent) -> None:
        event_id = event_of(job_event.job_id)
        if event_id is not None:
            # APScheduler calls listeners while it holds its job-store lock, and start_capture takes the
            # monitor's lock, which reconcile() holds while it calls the scheduler: starting the capture from
            # here would deadlock the two when a job falls due during a reload. A thread of its own breaks it.
            threading.Thread(target=self.start_capture, args=(event_id,), name=f"start-{event_id}",
                             daemon=True).start()

    def start_capture(self, event_id: str) -> None:
        with self._lock:
            event = self.events.get(event_id)
            if event is None or event_id in self.captures or self._closing:
                return
            if self.only is not None and event_id not in self.only:
                return
            capture = EventCapture(self.ctx, event, self._capture_done)
            self.captures[event_id] = capture
        log.info("%s: capture started", event_id)
        capture.start()

    def _capture_done(self, capture: EventCapture) -> None:
        with self._lock:
            if self.captures.get(capture.event.id) is capture:
                del self.captures[capture.event.id]
            status = capture.status or "failed"
            log.info("%s: capture ended: %s", capture.event.id, status)
            if capture.unsaved is not None:
                self.unsaved.append(capture.unsaved)
            if status in (INCOMPLETE, FAILED, UNRESOLVED) and capture.run_id is not None:
                # Raised here, not only by the schedule watch from the database: the database may be the
                # very thing that failed (a full disk), and the alert service delivers it from memory then.
                alert = run_alert(capture.event, capture.run_id, status, capture.reason, self.ctx.clock())
                self.alerts.raise_alert(alert, capture.event.alerts)
            # Schedule findings at once; the final check (with the audio) follows the last transcript.
            self.checks.mark(capture.event.id, final=self.transcription is None)
            if capture.stop.reason == StopSignal.RESCHEDULED:
                new = self.events.get(capture.event.id)
                if new is not None:
                    self._arm(new, self.ctx.clock())
                return
            self.done[capture.event.id] = status
