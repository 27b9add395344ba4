"""The work of the ``transcribe`` and ``check`` tasks, safe on any number of processes and machines at once.

``transcribe`` is sent once per closed segment, but a stream must be heard in order, each window carrying the
uncommitted tail of the one before (``livewatch/transcription/worker.py``). So a task takes its stream's
*lane* (a PostgreSQL advisory lock, ``livewatch/state/lanes.py``) and transcribes every pending segment of
the stream in order with the monitor's own worker; a task that finds the lane taken returns at once, since
the holder drains the stream. A segment queued just after the holder's last look would then wait for the
next one (forever, after the last): so the holder, having let the lane go, looks again and goes round while
anything is left. A claim is valid while its claimer holds the lane; a task that takes a lane returns the
items a lost holder had claimed to the queue (see ``livewatch/state/lanes.py``). What is committed is
committed with the stream's progress in one transaction, so a segment is transcribed exactly once.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

from livewatch.alerts import AlertService
from livewatch.errors import StateError
from livewatch.monitor.check_service import check_and_publish
from livewatch.pipeline import ClosedSegment, MessageError, decode, lane_key
from livewatch.pipeline.run_status import FINAL
from livewatch.pipeline.screen import CapturedFrame
from livewatch.queue import TRANSCRIBE
from livewatch.rules.packs import PackLibrary
from livewatch.session import Session
from livewatch.state.lanes import (
    CHECK_LOCKS,
    TRANSCRIPT_FILE_LOCKS,
    LaneState,
    exclusive,
    lane_backlog,
    lane_held,
    lane_state,
    next_pending,
    reclaim_orphans,
)
from livewatch.transcription.engines import EngineChooser
from livewatch.transcription.transcript_files import write_transcript_files
from livewatch.transcription.worker import EngineChoice, TranscriptionWorker

log = logging.getLogger(__name__)


class MediaUnavailable(StateError):
    """The segments' folder is not visible on this machine: the task fails (to be retried elsewhere), its
    items untouched."""


#: Times an item's holders may be lost while transcribing it before it fails for good (a segment that
#: kills its worker must not kill every worker in turn); the worker's own retry limit is the same.
MAX_ATTEMPTS = 3
#: Seconds a check or a transcript-file write waits for another process's on the same event or run.
WAIT_S = 300.0

#: Called with (event id, final) when an event's transcript grew, or its stream was flushed (final): the
#: transcribe task sends a ``check`` task from it.
OnTranscribed = Callable[[str, bool], None]


class LaneStats(Protocol):
    """What a worker counts of its lanes (:class:`livewatch.distributed.worker_metrics.WorkerStats`)."""

    def lane_taken(self) -> None: ...

    def lane_left(self) -> None: ...

    def audio_transcribed(self, seconds: float) -> None: ...

_per_session_lock = threading.Lock()
_choosers: weakref.WeakKeyDictionary[Session, EngineChooser] = weakref.WeakKeyDictionary()
_libraries: weakref.WeakKeyDictionary[Session, PackLibrary] = weakref.WeakKeyDictionary()
_alerts: weakref.WeakKeyDictionary[Session, AlertService] = weakref.WeakKeyDictionary()


def engine_chooser(session: Session) -> EngineChooser:
    """The process's engines for ``session`` (one model replica each: a worker process decodes one at a
    time), loaded on first use and kept."""
    with _per_session_lock:
        if session not in _choosers:
            _choosers[session] = EngineChooser(session, workers=1)
        return _choosers[session]


def transcribe_lane(session: Session, run_id: int, stream: int, *,
                    choose: Callable[[str], EngineChoice] | None = None,
                    on_transcribed: OnTranscribed | None = None, stats: LaneStats | None = None) -> int:
    """Transcribe every pending segment of the stream in order, if no other process is doing so; the number
    of segments this call transcribed (0 at once when another process holds the lane). A stream whose run
    has ended gets its final flush and transcript files. ``choose`` overrides the configured engines;
    ``stats`` is told of the lane taken and left and of the audio transcribed."""
    worker = TranscriptionWorker(session.runs, session.transcripts, session.queue,
                                 choose or engine_chooser(session).choose)
    try:
        return _transcribe_lane(session, worker, run_id, stream, on_transcribed, stats)
    finally:
        if stats is not None and worker.transcribed_s:
            stats.audio_transcribed(worker.transcribed_s)


def _transcribe_lane(session: Session, worker: TranscriptionWorker, run_id: int, stream: int,
                     on_transcribed: OnTranscribed | None, stats: LaneStats | None) -> int:
    lane = lane_key(run_id, stream)
    progressed = True
    while True:
        # First a look, in one query: a task whose segment a holder has already transcribed (a backlog: the
        # first task of a stream drains it) costs no lock. After a round holding the lane, the same look
        # catches a segment queued just after the last claim, whose task found the lane taken and left.
        if not _state(session, run_id, stream).work_left:
            return worker.transcribed
        if not progressed:  # nothing could be done with what is left: never spin on it
            log.warning("lane %s: %d item(s) left that this worker could not take", lane,
                        lane_backlog(session.engine, TRANSCRIBE, lane))
            return worker.transcribed
        with lane_held(session.engine, run_id, stream) as held:
            if not held:  # its holder drains it, and looks again after letting it go
                return worker.transcribed
            if stats is not None:
                stats.lane_taken()
            try:
                progressed = _drain(session, worker, run_id, stream, on_transcribed)
            finally:
                if stats is not None:
                    stats.lane_left()


def _drain(session: Session, worker: TranscriptionWorker, run_id: int, stream: int,
           on_transcribed: OnTranscribed | None) -> bool:
    """Holding the lane: the lost holders' items back, every pending segment, then the flush of an ended
    stream. Whether anything was done."""
    lane = lane_key(run_id, stream)
    reclaimed = reclaim_orphans(session.engine, TRANSCRIBE, lane, max_attempts=MAX_ATTEMPTS)
    if reclaimed.requeued or reclaimed.failed:
        log.warning("lane %s: %d item(s) of a lost worker back in the queue, %d failed for good", lane,
                    reclaimed.requeued, reclaimed.failed)
    media_visible(session, TRANSCRIBE, lane, ClosedSegment)
    progressed = False
    while worker.process_one(lane):
        progressed = True
        if on_transcribed is not None and worker.last_event_id:
            on_transcribed(worker.last_event_id, False)
    if _state(session, run_id, stream).needs_flush:
        event_id = session.runs.run(run_id).event_id
        worker.flush(event_id, run_id, stream)
        write_run_transcripts(session, event_id, run_id)
        progressed = True
        if on_transcribed is not None:
            on_transcribed(event_id, True)
    return progressed


def media_visible(session: Session, queue: str, lane: str, message: type[ClosedSegment] | type[CapturedFrame]) -> None:
    """A worker that cannot see the shared media path must leave the stream to one that can: it would skip
    each missing file (a segment, a frame) as unreadable, for good."""
    payload = next_pending(session.engine, queue, lane)
    if payload is None:
        return
    try:
        folder = decode(message, payload).path.parent
    except MessageError:  # the worker fails it, named in the log
        return
    if not folder.is_dir():
        raise MediaUnavailable(f"{folder}: not visible on this worker (is the shared media path mounted here?); "
                               f"{queue} lane {lane} is left in the queue for another worker")


def _state(session: Session, run_id: int, stream: int) -> LaneState:
    return lane_state(session.engine, TRANSCRIBE, run_id, stream, FINAL)


def write_run_transcripts(session: Session, event_id: str, run_id: int) -> None:
    """The run's transcript files, written by one process at a time: each stream of a run is flushed by its
    own lane's holder, and each writer reads the transcript after the last one wrote, so the files end
    with every stream's last words."""
    with exclusive(session.engine, TRANSCRIPT_FILE_LOCKS, f"run {run_id}", wait_s=WAIT_S):
        write_transcript_files(session.runs, session.transcripts, run_id, session.data.transcripts_dir(event_id),
                               session.data)


def check_event_now(session: Session, event_id: str, final: bool, *, alerts: AlertService | None = None) -> None:
    """Check the event, raise its new findings' alerts and write its report, as the monitor's check service
    does; checks of one event on several processes take turns (one writes its report at a time). Alerts
    go to ``alerts`` or, by default, into the outbox only, for the role that delivers them."""
    with _per_session_lock:
        if session not in _libraries:  # read once per process, as the check service does
            _libraries[session] = PackLibrary(session.settings.rule_packs_dir)
        library = _libraries[session]
        if alerts is None:
            if session not in _alerts:
                _alerts[session] = AlertService(session.settings, session.alerts)
            alerts = _alerts[session]
    with exclusive(session.engine, CHECK_LOCKS, event_id, wait_s=WAIT_S):
        check_and_publish(session, library, event_id, final=final, alerts=alerts)
