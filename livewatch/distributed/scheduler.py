"""``livewatch scheduler``: the monitor's scheduling half for distributed mode. It keeps the job store in step
with the registrations exactly as ``livewatch run`` does (:mod:`livewatch.monitor.arming`), but when a
capture falls due it sends the capture task to the workers instead of starting the capture itself.

Several may run (on different machines); one is active, holding the scheduler lock
(:mod:`livewatch.state.scheduler_lock`), and only the active one arms, reads the registrations and sends
tasks. The others are standbys that try the lock every ``[distributed] standby_poll_s`` seconds. A standby
that takes over starts APScheduler on the shared job store, whose jobs due while no one was active run at
once (no misfire limit, coalesced); it then reconciles, which re-arms any event that fell due with its job
already gone but no task sent (the old active died in between). A task is sent once per event and window:
the dedupe row and the send are one transaction (:class:`livewatch.state.dispatches.DispatchLog`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy.exc import SQLAlchemyError

from livewatch.alerts import AlertService
from livewatch.alerts.service import STOP_WAIT_S
from livewatch.alerts.watch import ScheduleWatch
from livewatch.errors import ConfigError
from livewatch.monitor.arming import (
    Fingerprint,
    Window,
    arm,
    disarm_removed,
    job_kwargs,
    read_registrations,
    schedules_fingerprint,
    stop_reason,
    window_of,
)
from livewatch.monitor.jobs import JOB_FUNCTION, event_of, job_id, job_store_where, make_scheduler
from livewatch.registration.models import Event
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.state.database import describe_error
from livewatch.state.dispatches import Dispatch, DispatchLog
from livewatch.state.engines import parse_url
from livewatch.state.scheduler_lock import SchedulerLock, active_scheduler, require_postgresql

log = logging.getLogger(__name__)

#: Sends the capture task of an event's window (event id, registered start); raises when the broker did
#: not take it. :func:`livewatch.distributed.dispatch.celery_dispatch` is the real one.
CaptureSender = Callable[[str, datetime], None]
#: Seconds before a capture task the broker refused is sent again.
RESEND_DELAY_S = 10.0


@dataclass(frozen=True)
class SchedulerIdentity:
    host: str
    pid: int

    @classmethod
    def here(cls) -> SchedulerIdentity:
        return cls(socket.gethostname(), os.getpid())

    def __str__(self) -> str:
        return f"{self.host} pid {self.pid}"


def _window_of_dispatch(dispatch: Dispatch) -> Window:
    return Window(dispatch.arm_at, dispatch.window_start, dispatch.window_end, dispatch.hard_stop)


def require_scheduler_database(settings: Settings) -> None:
    """A :class:`ConfigError` unless the state database is PostgreSQL (every scheduler and worker, on any
    machine, shares its lock, job store and state)."""
    if settings.database_url is None:
        raise ConfigError("livewatch scheduler needs PostgreSQL (the scheduler lock and the job store are shared "
                          "by every machine): set database_url to postgresql+psycopg://… (docs/distributed.md); "
                          "this configuration uses SQLite in the data directory")
    require_postgresql(parse_url(settings.database_url))


class SchedulerRole:
    def __init__(self, settings: Settings, schedules: Sequence[Path], send: CaptureSender, *,
                 reload_interval: float = 5.0, identity: SchedulerIdentity | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        require_scheduler_database(settings)
        self.settings = settings
        self.schedules = list(schedules)
        self.send = send
        self.reload_interval = reload_interval
        self.poll_s = settings.distributed.standby_poll_s
        self.identity = identity or SchedulerIdentity.here()
        self.clock = clock
        self.events: dict[str, Event] = {}
        #: When this process became the active scheduler; None while it is a standby.
        self.active_since: datetime | None = None
        self.takeovers = 0
        self.sent = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._fingerprint: Fingerprint = ()
        self._scheduler: BackgroundScheduler | None = None
        #: While active: raises the schedule and capture alerts of the registered events (no-show, overrun, a
        #: long gap, a failed capture) and delivers the outbox, into which the workers' checks put theirs.
        self._alerts: AlertService | None = None
        #: Whether the standby has said which scheduler is the active one (once per spell of standing by).
        self._standing_by = False

    # -- life cycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open (and migrate) the database; the role is a standby until :meth:`poll` takes the lock."""
        self.session = Session.open(self.settings)
        self.db = self.session.database
        self.dispatches = DispatchLog(self.db.engine)
        self.lock = SchedulerLock(self.db.url)
        log.info("scheduler %s started as a standby; trying the scheduler lock every %.1f s", self.identity,
                 self.poll_s)

    def request_stop(self) -> None:
        self._stopping.set()

    def run_forever(self) -> None:
        while True:
            self.poll()
            if self._stopping.wait(self.reload_interval if self.active else self.poll_s):
                return

    @property
    def active(self) -> bool:
        return self.active_since is not None

    def poll(self) -> None:
        """One round: a standby tries the lock; the active one checks it still holds it, then reloads the
        registrations if a file changed. Never raises (a bad round is logged and the next one tries again)."""
        try:
            if not self.active:
                since = self.lock.try_acquire(self.identity.host, self.identity.pid, self.clock())
                if since is not None:
                    self._become_active(since)
                elif not self._standing_by:
                    self._standing_by = True
                    active = active_scheduler(self.db.engine)
                    log.info("scheduler %s is standing by; the active scheduler is %s", self.identity,
                             "unknown" if active is None else active.describe())
            elif not self.lock.still_held():
                self._step_down("lost its connection to the database, and with it the scheduler lock")
            elif self._files_fingerprint() != self._fingerprint:
                self.reconcile()
        except Exception:
            log.exception("scheduler %s: this round failed; trying again on the next", self.identity)

    def _become_active(self, since: datetime) -> None:
        self.active_since = since
        self.takeovers += 1
        log.warning("scheduler %s is now the active scheduler (since %s)", self.identity, since.isoformat(),
                    extra={"scheduler_host": self.identity.host, "scheduler_pid": self.identity.pid})
        scheduler = make_scheduler(self.session.data, self.db)
        scheduler.add_listener(self._on_job, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        try:
            scheduler.start()
        except SQLAlchemyError as err:
            self._step_down(f"cannot read the job store {job_store_where(self.session.data, self.db)}: "
                            f"{describe_error(err)}")
            return
        self._scheduler = scheduler
        self.reconcile()
        # After the reconcile, so the watch sees the registrations from its first look. A fresh service each
        # time: its start puts rows an old active one left half-sent back to pending (they go out again).
        alerts = AlertService(self.settings, self.session.alerts,
                              watch=ScheduleWatch(self._current_events, self.session.records))
        alerts.start()
        with self._lock:
            self._alerts = alerts

    def _step_down(self, why: str) -> None:
        log.error("scheduler %s: %s; standing by", self.identity, why)
        self._standing_by = False
        self._stand_down()
        self.lock.release()

    def _stand_down(self) -> None:
        """Stop arming, sending and alerting (the lock is the caller's)."""
        with self._lock:
            self.active_since = None
            scheduler, self._scheduler = self._scheduler, None
            alerts, self._alerts = self._alerts, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        if alerts is not None:
            alerts.stop(STOP_WAIT_S)

    def _current_events(self) -> dict[str, Event]:
        with self._lock:
            return dict(self.events)

    def shutdown(self) -> None:
        """Stop arming and release the lock (a standby takes over on its next round). Safe after a failed
        start."""
        self._stand_down()
        lock = getattr(self, "lock", None)
        if lock is not None:
            lock.close()
        session = getattr(self, "session", None)
        if session is not None:
            session.close()

    # -- registrations → jobs ---------------------------------------------------------------------------

    def _files_fingerprint(self) -> Fingerprint:
        return schedules_fingerprint(self.schedules)

    def reconcile(self) -> None:
        """Read the registrations and bring the jobs in step (only while active): disarm removed events, flag
        the capture tasks of removed or moved windows to stop, arm the rest."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        self._fingerprint = self._files_fingerprint()
        wanted = read_registrations(self.schedules, self.settings, self.db)
        now = self.clock()
        with self._lock:
            disarm_removed(scheduler, wanted)
            in_hand = self.dispatches.in_hand()
            for event_id, dispatch in list(in_hand.items()):
                window = _window_of_dispatch(dispatch)
                if now >= window.hard_stop:
                    continue  # long over: nothing runs that could stop
                reason = stop_reason(event_id, window, wanted)
                if reason is not None and self.dispatches.cancel(event_id, window.start, window.end, reason, now):
                    log.info("%s: %s; its capture task is told to stop", event_id, reason)
                    del in_hand[event_id]
            self.events = wanted
            for event in wanted.values():
                sent = in_hand.get(event.id)
                try:
                    arm(scheduler, self.session.runs, event, now,
                        in_hand=None if sent is None else _window_of_dispatch(sent))
                except Exception:  # one event that cannot be armed must not leave the others unarmed
                    log.exception("%s: cannot arm the capture; the other events are armed as usual", event.id)

    # -- due jobs → capture tasks -----------------------------------------------------------------------

    def _on_job(self, job_event: JobExecutionEvent) -> None:
        event_id = event_of(job_event.job_id)
        if event_id is not None:
            # Not here: APScheduler calls listeners holding its job-store lock (see Monitor._on_job).
            threading.Thread(target=self.send_capture, args=(event_id,), name=f"send-{event_id}",
                             daemon=True).start()

    def send_capture(self, event_id: str) -> None:
        """Send the event's capture task, once per window; when the broker refuses it, arm it again in
        :data:`RESEND_DELAY_S` seconds."""
        with self._lock:
            event = self.events.get(event_id)
            if event is None or not self.active:
                return
        window = window_of(event)
        now = self.clock()
        record = Dispatch(event.id, event.start, event.end, window.arm_at, window.hard_stop, 1, now,
                          str(self.identity))
        try:
            with self.dispatches.sending(record) as sent:
                if sent is None:
                    log.info("%s: the capture task of this window was sent already", event_id)
                    return
                self.send(event.id, event.start)
        except Exception as err:
            log.error("%s: cannot send the capture task (%s); trying again in %.0f s", event_id, err, RESEND_DELAY_S)
            self._arm_resend(event, now + timedelta(seconds=RESEND_DELAY_S))
            return
        with self._lock:
            self.sent += 1
        log.info("%s: capture task sent for the window starting %s (generation %s)", event_id,
                 event.start.isoformat(), sent.generation)

    def _arm_resend(self, event: Event, due: datetime) -> None:
        with self._lock:
            scheduler = self._scheduler
            if scheduler is None:
                return  # stepped down: the next active one re-arms it
            scheduler.add_job(JOB_FUNCTION, DateTrigger(run_date=due.astimezone(UTC)), id=job_id(event.id),
                              kwargs=job_kwargs(event), replace_existing=True, name=f"capture {event.id}")

    def active_since_timestamp(self) -> float | None:
        since = self.active_since
        return None if since is None else since.timestamp()

    def armed_jobs(self) -> int:
        scheduler = self._scheduler
        return len(scheduler.get_jobs()) if scheduler is not None else 0
