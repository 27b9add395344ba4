"""The monitor's screen service: ``[screen] workers`` threads that read the captured frames off the work
queue, stream by stream and in time order, and keep what the picture showed in the screen store.

Each frame goes through :class:`~livewatch.monitor.screen_stage.ScreenStage` (its stream's change detector,
readers and appearance tracker, see there); an appearance is stored when first seen and its end moved on
while it stays, and the event is checked as soon as something new appeared, so a code still on screen can
raise its alert. When a stream's capture has ended and its frames are all read, the stream is finished:
what was still on screen is closed and the event is checked once more.
"""

from __future__ import annotations

import logging
import threading
import time

from livewatch.errors import LivewatchError
from livewatch.monitor.check_service import CheckService
from livewatch.monitor.screen_stage import FrameOutcome, ScreenStage, build_readers
from livewatch.pipeline import MessageError, decode
from livewatch.pipeline.run_status import FINAL
from livewatch.pipeline.screen import CapturedFrame
from livewatch.queue import SCREEN, WorkItem, WorkQueue
from livewatch.session import Session

log = logging.getLogger(__name__)

#: Attempts before a frame whose reading keeps failing (not its file: a reader's own error) is given up.
MAX_ATTEMPTS = 3


class FrameLanes:
    """The streams whose frames are being read right now: workers never take two frames of one stream at
    once, so each stream's frames are read in order (its change detector and tracker need that)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: set[str] = set()

    def claim(self, queue: WorkQueue) -> WorkItem | None:
        with self._lock:
            item = queue.claim(SCREEN, exclude_prefixes=tuple(self._busy))
            if item is not None:
                self._busy.add(_lane_of(item))
            return item

    def leave(self, item: WorkItem) -> None:
        with self._lock:
            self._busy.discard(_lane_of(item))


def _lane_of(item: WorkItem) -> str:
    """The key prefix of a frame's stream (:attr:`CapturedFrame.lane`), read through the contract."""
    try:
        return decode(CapturedFrame, item.payload).lane
    except MessageError:
        return item.key  # an unreadable payload: a lane of its own, failed alone


def read_queued_frame(queue: WorkQueue, stage: ScreenStage,
                      item: WorkItem) -> tuple[CapturedFrame, FrameOutcome] | None:
    """Read one claimed frame with ``stage`` and settle its item (done, failed, or to be tried again); the
    frame and what it changed, None when it could not be read."""
    try:
        frame = decode(CapturedFrame, item.payload)
    except MessageError as err:  # a payload this livewatch cannot read: failed for good, named in the log
        log.error("cannot read queued frame %s: %s", item.key, err)
        queue.fail(item, str(err), retry=False)
        return None
    try:
        outcome = stage.read(frame)
    except LivewatchError as err:  # the file will not get better (unreadable, too large): skip it
        log.warning("event %s stream %s: frame skipped: %s", frame.event_id, frame.stream, err)
        queue.fail(item, str(err), retry=False)
        return None
    except Exception as err:  # a reader's own failure: tried again, then given up; the stream goes on
        log.exception("event %s stream %s: cannot read frame %s", frame.event_id, frame.stream, frame.path)
        queue.fail(item, repr(err), retry=item.attempts < MAX_ATTEMPTS)
        return None
    queue.complete(item)
    return frame, outcome


class ScreenService:
    """Reads queued frames in ``[screen] workers`` threads; ``checks`` is told when an event has something
    new on screen (or a stream's screen is finished)."""

    def __init__(self, session: Session, *, checks: CheckService | None = None) -> None:
        self.session, self.settings, self.checks = session, session.settings.screen, checks
        self.queue = session.queue
        self.stage = ScreenStage(session.screen, session.data, build_readers(self.settings),
                                 keep_frames=self.settings.keep_frames,
                                 costly_interval_s=self.settings.costly_interval_s)
        self.lanes = FrameLanes()
        self._stop = threading.Event()
        count = self.settings.workers
        self._idle = [threading.Event() for _ in range(count)]
        self._threads = [threading.Thread(target=self._loop, args=(index,), name=f"screen-{index}", daemon=True)
                         for index in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, wait_s: float | None = None) -> None:
        """Stop the workers, waiting at most ``wait_s`` in all: a frame being read then goes back to the
        queue at the next start, when its stream continues from the memory kept after its last frame read
        (an item on screen then stays one appearance)."""
        self._stop.set()
        deadline = None if wait_s is None else time.monotonic() + wait_s
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _loop(self, index: int) -> None:
        idle = self._idle[index]
        while not self._stop.is_set():
            try:
                if self.process_one():
                    idle.clear()
                    continue
                if index == 0:  # one finisher: a stream's last items are closed once
                    self.finish_streams()
                idle.set()
            except Exception:  # the service must outlive any one failure
                log.exception("screen service error")
            self._stop.wait(0.5)

    def process_one(self) -> bool:
        """Read the oldest queued frame of a stream no other worker holds; False when there is none."""
        item = self.lanes.claim(self.queue)
        if item is None:
            return False
        try:
            self._process(item)
        finally:
            self.lanes.leave(item)
        return True

    def _process(self, item: WorkItem) -> None:
        read = read_queued_frame(self.queue, self.stage, item)
        if read is not None:
            self._tell(read[0].event_id, read[0].run_id, read[1])

    def _tell(self, event_id: str, run_id: int, outcome: FrameOutcome) -> None:
        if self.checks is not None and outcome.news:
            self.checks.mark(event_id, final=self._run_final(run_id))

    def _run_final(self, run_id: int) -> bool:
        # Once the run is over every check is a final one: a check without the audio would withdraw the
        # audio's findings that the final check made.
        return self.session.runs.run(run_id).status in FINAL

    def finish_streams(self) -> None:
        """Finish the streams whose run has ended and whose queued frames are all read (also those a monitor
        read before it was restarted: their memory is in the store)."""
        streams = dict.fromkeys([*self.stage.streams(), *self.session.screen.unfinished_lanes()])
        for event_id, run_id, stream in streams:
            if self.queue.backlog(SCREEN, run_id=run_id, stream=stream) or not self._run_final(run_id):
                continue
            if self.stage.finish(run_id, stream) and self.checks is not None:
                self.checks.mark(event_id, final=True)

    def drain(self) -> None:
        """Read everything queued, in the calling thread, and finish every stream (``livewatch analyze``)."""
        while self.process_one():
            pass
        for _event_id, run_id, stream in self.stage.streams():
            self.stage.finish(run_id, stream)

    def busy(self, run_ids: set[int]) -> bool:
        """Frames left to read for these runs, or a stream of theirs not finished yet."""
        if not run_ids:
            return False
        if any(self.queue.backlog(SCREEN, run_id=run_id) for run_id in run_ids):
            return True
        if any(run_id in run_ids for _event, run_id, _stream in self.stage.streams()):
            return True
        return not all(idle.is_set() for idle in self._idle)
