"""All streams of one event, recorded into one run."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from livewatch.capture.context import CaptureContext, StopSignal
from livewatch.capture.stream import INTERRUPTED, StreamCapture, StreamOutcome
from livewatch.pipeline.run_status import (
    CANCELLED,
    FAILED,
    FINISHED,
    INCOMPLETE,
    NO_SHOW,
    RECONNECTING,
    RECORDING,
    SEARCHING,
    UNRESOLVED,
    WAITING,
)
from livewatch.registration.models import Event
from livewatch.state.database import describe_error

log = logging.getLogger(__name__)


#: Errors of a full disk or quota: the operator's to fix, so they are named as that, not as our bug.
_STORAGE_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def failure_reason(err: BaseException) -> str:
    """The run's reason for a capture that failed with ``err``: a full disk says so; anything else is ours."""
    if isinstance(err, OSError) and err.errno in _STORAGE_FULL:
        return f"cannot write to the data directory (disk or quota full): {err.strerror or err}"
    return f"internal error: {describe_error(err)}"


@dataclass(frozen=True)
class RunEnd:
    """A run's final status that the database would not take (its file system full, say): the monitor
    writes it as soon as it can."""

    run_id: int
    status: str
    reason: str
    error: str | None = None


class EventCapture:
    """Opens (or continues) the event's run, records every stream in its own thread, and closes the run
    with one status: incomplete if any stream could not be saved, finished if any stream went on air,
    unresolved if none did and livewatch found no stream in a page, no-show if none did."""

    def __init__(self, ctx: CaptureContext, event: Event, on_done: Callable[[EventCapture], None]) -> None:
        self.ctx, self.event, self.on_done = ctx, event, on_done
        self.stop = StopSignal()
        self.run_id: int | None = None
        self.status: str | None = None
        #: Why the run ended as it did (the alert for an incomplete or failed run quotes it).
        self.reason = ""
        #: The run's end, when the database refused it (see :class:`RunEnd`).
        self.unsaved: RunEnd | None = None
        self._states: dict[int, str] = {}
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._main, name=f"capture-{event.id}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _main(self) -> None:
        try:
            self.status = self._capture()
        except Exception as err:  # one event's failure never stops the monitor
            log.exception("capture of %s failed", self.event.id)
            self.status = FAILED
            if self.run_id is not None:
                self._close_run(FAILED, failure_reason(err), error=repr(err))
        finally:
            self.on_done(self)

    def _close_run(self, status: str, reason: str, error: str | None = None) -> None:
        assert self.run_id is not None
        self.reason = reason
        try:
            self.ctx.store.finish_run(self.run_id, status, reason, error=error)
        except Exception as err:  # the data directory's disk full, the database broken: said, kept, retried
            log.error("%s: cannot record the end of run %s (%s: %s) in the database: %s; the monitor retries",
                      self.event.id, self.run_id, status, reason, err)
            self.unsaved = RunEnd(self.run_id, status, reason, error)

    def _capture(self) -> str:
        run = self.ctx.store.open_run(self.event.id, self.event.start, self.event.end)
        if run is None:
            log.info("%s: this window was already recorded; nothing to do", self.event.id)
            return "already-recorded"
        self.run_id = run.id
        if run.resumed:
            log.info("%s: continuing run %s after a restart", self.event.id, run.id)
        self.ctx.data.ensure_event(self.event.id)
        outcomes: dict[int, StreamOutcome] = {}

        def record(index: int) -> None:
            capture = StreamCapture(self.ctx, run, self.event, index, self.stop, self._on_state)
            try:
                outcomes[index] = capture.run_capture()
            except Exception as err:
                log.exception("%s: stream %s failed", self.event.id, index)
                outcomes[index] = StreamOutcome(FAILED, failure_reason(err), False)

        threads = [threading.Thread(target=record, args=(i,), name=f"capture-{self.event.id}-{i}", daemon=True)
                   for i in range(len(self.event.streams))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        status, reason = summarize([outcomes[i] for i in sorted(outcomes)])
        if status == INTERRUPTED:
            return INTERRUPTED  # the run stays open; a restarted monitor continues it
        self._close_run(status, reason)
        return status

    def _on_state(self, index: int, state: str) -> None:
        with self._lock:
            before = aggregate_state(self._states)
            self._states[index] = state
            after = aggregate_state(self._states)
        if after != before and self.run_id is not None:
            self.ctx.store.set_status(self.run_id, after)


def aggregate_state(states: dict[int, str]) -> str:
    values = set(states.values())
    if RECORDING in values:
        return RECORDING
    if RECONNECTING in values:
        return RECONNECTING
    if SEARCHING in values:
        return SEARCHING
    return WAITING


def summarize(outcomes: list[StreamOutcome]) -> tuple[str, str]:
    reasons = "; ".join(f"stream {i}: {o.status} ({o.reason})" for i, o in enumerate(outcomes))
    statuses = {o.status for o in outcomes}
    if INTERRUPTED in statuses:
        return INTERRUPTED, reasons
    if INCOMPLETE in statuses or FAILED in statuses:
        return INCOMPLETE, reasons
    if CANCELLED in statuses:
        return CANCELLED, reasons
    if any(o.recorded for o in outcomes):
        return FINISHED, reasons
    if UNRESOLVED in statuses:  # a stream we could not find is not evidence that none was broadcast
        return UNRESOLVED, reasons
    return NO_SHOW, reasons
