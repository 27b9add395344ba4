"""The task bodies a ``livewatch worker`` runs: capture (one per event window), transcribe (one per closed
segment), screen (one per captured frame) and check. :func:`register` puts them on the deployment's Celery app.

A worker process keeps one :class:`WorkerRuntime`: its settings, its session over the shared PostgreSQL state,
and the capture context its captures share (the ffmpeg slots of ``[concurrency] captures``, the stream
sources). Captures record into the data directory, which every capture worker must mount at the same path (the
media files of a run resumed elsewhere must be there).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

from celery import Celery
from celery.bootsteps import StartStopStep
from celery.exceptions import Reject
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from livewatch.alerts import AlertService
from livewatch.alerts.watch import run_alert
from livewatch.capture.context import CaptureContext, StopSignal
from livewatch.capture.registry import SourceRegistry
from livewatch.capture.stream import INTERRUPTED
from livewatch.distributed.app import send_check, send_screen, send_transcribe
from livewatch.distributed.names import (
    CAPTURE_QUEUE,
    CAPTURE_TASK,
    CHECK_QUEUE,
    CHECK_TASK,
    SCREEN_QUEUE,
    SCREEN_TASK,
    TRANSCRIBE_QUEUE,
    TRANSCRIBE_TASK,
)
from livewatch.distributed.wakeups import WakingQueue
from livewatch.distributed.worker_metrics import TASK_DONE, TASK_FAILED, TASK_HANDED_BACK, TASK_RETRIED, WorkerStats
from livewatch.monitor.arming import window_of
from livewatch.monitor.event_capture import EventCapture
from livewatch.pipeline import ClosedSegment, decode
from livewatch.pipeline.run_status import FAILED, INCOMPLETE, UNRESOLVED
from livewatch.pipeline.screen import CapturedFrame
from livewatch.queue import SCREEN, TRANSCRIBE
from livewatch.registration.models import Event
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.state.capture_lease import TAKEN_BY_ANOTHER, CaptureLease, try_capture_lease
from livewatch.state.dispatches import DispatchLog

if TYPE_CHECKING:
    from livewatch.monitor.screen_stage import ScreenStage

log = logging.getLogger(__name__)

#: Seconds between looks at a capture lease another worker holds (it is free the moment its holder dies).
LEASE_POLL_S = 1.0
#: Seconds between looks at the dispatch log (or the event registry) while recording: a removed event or a
#: moved window stops the capture, as the single-process monitor does when it reloads the registrations.
REGISTRY_POLL_S = 5.0
#: How long a capture keeps trying to write its run's end when the database refuses it (disk full) before it
#: hands the task back (the next worker resumes the run and closes it).
RUN_END_RETRY_S = 30.0
#: Seconds between wake-ups of an idle worker's event loop (see :class:`_PromptShutdown`).
WAKE_S = 1.0
#: A transcribe or check task that meets the database unreachable (a PostgreSQL restart or fail-over) is sent
#: again after 2, 4, 8... seconds (at most 30 apart, 10 times: about four minutes), not failed. Its lane's
#: items a lost lane connection left claimed go back to the queue when the lane is next taken.
DATABASE_RETRY: Final = {"autoretry_for": (OperationalError,), "retry_backoff": 2, "retry_backoff_max": 30,
                         "retry_jitter": False, "max_retries": 10}


class WorkerRuntime:
    """What one worker process's tasks share. Thread-safe: the worker runs its tasks in threads."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self._lock = threading.Lock()
        self._captures: dict[int, EventCapture] = {}
        self.stopping = threading.Event()
        #: What ``--metrics-port`` exports of this process (:mod:`livewatch.distributed.worker_metrics`).
        self.stats = WorkerStats()

    @cached_property
    def session(self) -> Session:
        return Session.open(self.settings)

    @cached_property
    def ctx(self) -> CaptureContext:
        session = self.session
        return CaptureContext(
            data=session.data, store=session.runs, queue=WakingQueue(session.queue, self._segment_queued),
            sources=SourceRegistry(), slots=threading.BoundedSemaphore(self.settings.concurrency.captures),
            allowed_url_schemes=tuple(self.settings.allowed_url_schemes), ffmpeg_dies_with_us=True)

    @cached_property
    def screen_stage(self) -> ScreenStage:
        """The process's screen readers (built once: a reader's model loads on first use) and stage; a
        stream's state in it lasts only while this process holds the stream's screen lane."""
        from livewatch.monitor.screen_stage import ScreenStage, build_readers

        screen = self.settings.screen
        return ScreenStage(self.session.screen, self.session.data, build_readers(screen),
                           keep_frames=screen.keep_frames, costly_interval_s=screen.costly_interval_s)

    @cached_property
    def alerts(self) -> AlertService:
        """Raises into the outbox only (not started: the role that delivers the outbox sends them)."""
        return AlertService(self.settings, self.session.alerts)

    def open(self) -> None:
        """Open the session and build the capture context now (the worker's start), not in the first task."""
        with self._lock:
            _ = self.ctx

    def _segment_queued(self, queue: str, payload: dict[str, Any]) -> None:
        # The database's work queue holds the segment (the source of truth); the task only wakes a worker.
        if queue == TRANSCRIBE and self.settings.transcriber.enabled:
            segment = decode(ClosedSegment, payload)
            send_transcribe(self.app, segment.run_id, segment.stream, retry=False)
        elif queue == SCREEN and self.settings.screen.enabled:
            frame = decode(CapturedFrame, payload)
            send_screen(self.app, frame.run_id, frame.stream, retry=False)

    # -- graceful stop ----------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """A worker asked to stop (SIGTERM, a deploy): every capture stops its ffmpeg and leaves its run open;
        its task is handed back to the broker for the next worker (see :func:`capture`)."""
        self.stopping.set()
        with self._lock:
            captures = list(self._captures.values())
        for capture in captures:
            capture.stop.set(StopSignal.SHUTDOWN)

    def captures_running(self) -> int:
        with self._lock:
            return len(self._captures)

    @contextmanager
    def counted(self, queue: str, *, retried: bool) -> Iterator[None]:
        """Counts the task's end in :attr:`stats`: done, handed back, failed, or (``retried``: a task sent
        again when it meets the database away, :data:`DATABASE_RETRY`) retried."""
        try:
            yield
        except BaseException as err:
            self.stats.task_ended(queue, TASK_HANDED_BACK if isinstance(err, Reject) else
                                  TASK_RETRIED if retried and isinstance(err, OperationalError) else TASK_FAILED)
            raise
        self.stats.task_ended(queue, TASK_DONE)

    @contextmanager
    def running(self, capture: EventCapture) -> Iterator[None]:
        with self._lock:
            self._captures[id(capture)] = capture
        if self.stopping.is_set():
            capture.stop.set(StopSignal.SHUTDOWN)
        try:
            yield
        finally:
            with self._lock:
                del self._captures[id(capture)]

    # -- the registry -----------------------------------------------------------------------------------

    def event(self, event_id: str) -> Event | None:
        """The event as the scheduler last synced it into the database; None when removed or unknown."""
        session = self.session
        if event_id not in session.records.event_ids():
            return None
        stored = session.records.registration(event_id)
        try:
            return Event.model_validate(stored, context=self.settings.registration_context())
        except ValidationError as err:
            log.error("%s: the stored registration no longer validates (%s); not recording it", event_id,
                      err.errors()[0].get("msg", err) if err.errors() else err)
            return None


def _hand_back(why: str) -> Reject:
    """The task's message goes back to its queue, unacknowledged work for the next worker."""
    return Reject(why, requeue=True)


def wait_for_lease(rt: WorkerRuntime, event: Event) -> CaptureLease:
    """The capture lease of the event's window, waiting while another worker records it (see
    :mod:`livewatch.state.capture_lease`); the task is handed back if this worker is asked to stop first."""
    said = False
    while True:
        lease = try_capture_lease(rt.session.engine, event.id, event.start)
        if lease is not None:
            if said:
                log.info("%s: the other recorder has gone; this worker continues the run", event.id)
            return lease
        if not said:
            log.info("%s: another worker is recording this window; waiting until it is done or gone", event.id)
            said = True
        if rt.stopping.wait(LEASE_POLL_S):
            raise _hand_back(f"{event.id}: worker stopping while waiting for the capture lease")


def _stop_reason(rt: WorkerRuntime, capture: EventCapture, generation: int | None) -> str | None:
    """Why the capture must stop now, or None. A capture the scheduler sent has its row in the dispatch log,
    which the scheduler flags when the event is removed or its window moves (or sends the window again as a
    new generation); one sent otherwise (by hand, a test) is checked against the event registry itself."""
    event = capture.event
    if generation is not None:
        return DispatchLog(rt.session.engine).stop_reason(event.id, event.start, event.end, generation)
    current = rt.event(event.id)
    if current is None:
        return StopSignal.REMOVED
    if window_of(current) != window_of(event):
        return StopSignal.RESCHEDULED
    return None


def _watch(rt: WorkerRuntime, capture: EventCapture, generation: int | None, lease: CaptureLease) -> None:
    """Wait for the capture to end, stopping it when its event is removed or its window moves, as
    ``livewatch run`` stops its own captures when it reloads the registrations. The lease is looked at as
    often: one whose connection broke (the database restarted) is taken again; one another worker took
    meanwhile stops this capture, which leaves the run to that worker."""
    while capture.thread.is_alive():
        capture.thread.join(REGISTRY_POLL_S)
        if not capture.thread.is_alive() or capture.stop.is_set():
            continue
        if lease.check() == TAKEN_BY_ANOTHER:
            log.error("%s: the capture lease was lost while the database was away, and another worker holds it "
                      "now; stopping this capture and leaving the run to that worker", capture.event.id)
            capture.stop.set(StopSignal.SHUTDOWN)
            continue
        try:
            reason = _stop_reason(rt, capture, generation)
        except Exception:  # the database unreachable for a moment: keep recording, look again later
            log.warning("%s: cannot read the dispatch log or registry; recording on", capture.event.id,
                        exc_info=True)
            continue
        if reason is not None:
            log.info("%s: %s; stopping the capture", capture.event.id, reason)
            capture.stop.set(reason)


def _save_run_end(rt: WorkerRuntime, capture: EventCapture) -> None:
    end = capture.unsaved
    if end is None:
        return
    deadline = time.monotonic() + RUN_END_RETRY_S
    while True:
        try:
            rt.session.runs.finish_run(end.run_id, end.status, end.reason, error=end.error)
            log.info("run %s: its end (%s) is recorded now", end.run_id, end.status)
            return
        except Exception as err:
            if time.monotonic() > deadline or rt.stopping.wait(2.0):
                raise _hand_back(f"run {end.run_id}: cannot record its end ({err}); handed back") from err


def capture(rt: WorkerRuntime, event_id: str, window_start: str) -> str:
    """Record the event's window to its end (the task blocks meanwhile); returns the run's status."""
    start = datetime.fromisoformat(window_start)
    if start.tzinfo is None:
        log.error("%s: capture asked for a window start without a time zone (%s); dropped", event_id, window_start)
        return "invalid"
    event = rt.event(event_id)
    if event is None:
        log.warning("%s: not in the event registry (removed?); capture dropped", event_id)
        return "unknown"
    if event.start != start:
        log.info("%s: the window starting %s is no longer registered (now %s); capture dropped", event_id,
                 window_start, event.start.isoformat())
        return "moved"
    with wait_for_lease(rt, event) as lease:
        dispatch = DispatchLog(rt.session.engine).latest(event_id, start)
        recording = EventCapture(rt.ctx, event, lambda _capture: None)
        with rt.running(recording):
            log.info("%s: capture started", event_id)
            recording.start()
            _watch(rt, recording, None if dispatch is None else dispatch.generation, lease)
        _save_run_end(rt, recording)
    status = recording.status or "failed"
    if status == INTERRUPTED and recording.stop.reason == StopSignal.SHUTDOWN:
        log.info("%s: worker stopping; run %s left open for the next worker", event_id, recording.run_id)
        raise _hand_back(f"{event_id}: worker stopping; run {recording.run_id} continues elsewhere")
    log.info("%s: capture ended: %s", event_id, status)
    if status in (INCOMPLETE, FAILED, UNRESOLVED) and recording.run_id is not None:
        # Raised here, as the monitor does, not only by a schedule watch from the database (which may be what
        # failed); the outbox keeps one alert per key.
        try:
            rt.alerts.raise_alert(run_alert(event, recording.run_id, status, recording.reason, rt.ctx.clock()),
                                  event.alerts)
        except Exception:  # the task's end (checks, the ack) must not depend on the outbox
            log.exception("%s: cannot raise the alert for run %s (%s)", event_id, recording.run_id, status)
    if recording.run_id is not None and rt.settings.transcriber.enabled:
        for stream in range(len(event.streams)):  # each stream's last words are flushed once all is heard
            send_transcribe(rt.app, recording.run_id, stream)
    if recording.run_id is not None and rt.settings.screen.enabled:
        for stream in range(len(event.streams)):  # each stream's screen is finished once its frames are read
            send_screen(rt.app, recording.run_id, stream)
    send_check(rt.app, event_id, not rt.settings.transcriber.enabled)
    return status


def transcribe(rt: WorkerRuntime, run_id: int, stream: int) -> int:
    """Transcribe the stream's pending segments in order (one worker per stream at a time, see
    :func:`~livewatch.distributed.lanes.transcribe_lane`); returns how many. The event is then checked once
    (final when the stream was flushed), not once per segment: a check reads the whole transcript anyway."""
    from livewatch.distributed.lanes import transcribe_lane

    grown: dict[str, bool] = {}

    def transcribed(event_id: str, final: bool) -> None:
        grown[event_id] = grown.get(event_id, False) or final

    done = transcribe_lane(rt.session, run_id, stream, on_transcribed=transcribed, stats=rt.stats)
    for event_id, final in grown.items():
        send_check(rt.app, event_id, final)
    return done


def screen(rt: WorkerRuntime, run_id: int, stream: int) -> int:
    """Read the stream's pending frames in order (one worker per stream at a time, see
    :func:`~livewatch.distributed.screen_lane.screen_lane`); returns how many. The event is then checked
    once if something new was on screen (final once the run has ended), not once per frame."""
    from livewatch.distributed.screen_lane import screen_lane

    news: dict[str, bool] = {}

    def seen(event_id: str, final: bool) -> None:
        news[event_id] = news.get(event_id, False) or final

    done = screen_lane(rt.session, rt.screen_stage, run_id, stream, on_news=seen)
    for event_id, final in news.items():
        send_check(rt.app, event_id, final)
    return done


def check(rt: WorkerRuntime, event_id: str, final: bool) -> None:
    from livewatch.distributed.lanes import check_event_now

    check_event_now(rt.session, event_id, final)


class _PromptShutdown(StartStopStep):  # type: ignore[misc]
    """Wakes the worker's event loop every second. It otherwise sleeps in ``poll`` until its next timer (about
    10 s when idle), and a SIGTERM (a deploy) would wait that long before the worker even began to stop."""

    requires = ("celery.worker.components:Hub",)

    def start(self, worker: Any) -> None:
        if worker.hub is not None:
            worker.hub.call_repeatedly(WAKE_S, _nothing)


def _nothing() -> None:
    """A timer's tick: waking the loop is all it is for."""


def register(app: Celery, settings: Settings) -> WorkerRuntime:
    """Register the four tasks on ``app``; returns the runtime they share (the worker opens it at start)."""
    rt = WorkerRuntime(app, settings)
    app.steps["worker"].add(_PromptShutdown)

    @app.task(name=CAPTURE_TASK, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def capture_task(event_id: str, window_start: str) -> str:
        with rt.counted(CAPTURE_QUEUE, retried=False):
            return capture(rt, event_id, window_start)

    @app.task(name=TRANSCRIBE_TASK, acks_late=True, reject_on_worker_lost=True,  # type: ignore[untyped-decorator]
              **DATABASE_RETRY)
    def transcribe_task(run_id: int, stream: int) -> int:
        with rt.counted(TRANSCRIBE_QUEUE, retried=True):
            return transcribe(rt, run_id, stream)

    @app.task(name=SCREEN_TASK, acks_late=True, reject_on_worker_lost=True,  # type: ignore[untyped-decorator]
              **DATABASE_RETRY)
    def screen_task(run_id: int, stream: int) -> int:
        with rt.counted(SCREEN_QUEUE, retried=True):
            return screen(rt, run_id, stream)

    @app.task(name=CHECK_TASK, acks_late=True, reject_on_worker_lost=True,  # type: ignore[untyped-decorator]
              **DATABASE_RETRY)
    def check_task(event_id: str, final: bool) -> None:
        with rt.counted(CHECK_QUEUE, retried=True):
            check(rt, event_id, final)

    return rt
