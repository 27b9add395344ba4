"""The work of the ``screen`` task: a stream's captured frames read in time order, on whichever worker.

``screen`` is sent once per queued frame, but a stream's frames must be read in order by one reader (its
change detector and appearance tracker follow the picture). So, as ``transcribe`` does with segments
(``livewatch/distributed/lanes.py``), a task takes the stream's *screen lane* (the same PostgreSQL advisory
lock mechanism, in a key space of its own: ``livewatch/state/lanes.py``) and reads every pending frame of
the stream; a task that finds the lane taken returns at once, and the holder, having let the lane go, looks
again while anything is left.

The stream's reader state lives in the store, not in the worker: the stage saves it after each frame and
loads it when a holder takes the lane (:meth:`ScreenStage.forget` drops the local copy when the lane is let
go), so a code on screen for a minute is one appearance however often the lane moves. A frame read and
saved whose item was not yet marked done (the holder was lost in between) is passed over by the next holder;
one not saved is read again from its file (deleted only after the save). When the run has ended and every
frame is read, the holder finishes the stream once (what was on screen closed, the stream marked finished).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from livewatch.distributed.lanes import MAX_ATTEMPTS, media_visible
from livewatch.monitor.screen import read_queued_frame
from livewatch.monitor.screen_stage import ScreenStage
from livewatch.pipeline.run_status import FINAL
from livewatch.pipeline.screen import CapturedFrame, frame_lane
from livewatch.queue import SCREEN
from livewatch.session import Session
from livewatch.state.lanes import (
    SCREEN_LANE_LOCK_BASE,
    LaneState,
    lane_backlog,
    lane_held,
    reclaim_orphans,
    screen_lane_state,
)

log = logging.getLogger(__name__)

#: Called with (event id, final) when the stream's screen showed something new, or it was finished (final):
#: the screen task sends a ``check`` task from it.
OnScreenNews = Callable[[str, bool], None]


def screen_lane(session: Session, stage: ScreenStage, run_id: int, stream: int, *,
                on_news: OnScreenNews | None = None) -> int:
    """Read every pending frame of the stream in order, if no other process is doing so, and finish the
    stream once its run has ended; the number of frames this call read (0 at once when another process
    holds the lane)."""
    lane = frame_lane(run_id, stream)
    read, progressed = 0, True
    while True:
        state = _state(session, run_id, stream)
        if not state.work_left:
            return read
        if not progressed:  # nothing could be done with what is left: never spin on it
            log.warning("screen lane %s: %d frame(s) left that this worker could not take", lane,
                        lane_backlog(session.engine, SCREEN, lane))
            return read
        with lane_held(session.engine, run_id, stream, base=SCREEN_LANE_LOCK_BASE) as held:
            if not held:  # its holder reads them, and looks again after letting it go
                return read
            try:
                done, progressed = _drain(session, stage, run_id, stream, on_news)
                read += done
            finally:  # the next holder (maybe another worker) loads what this one saved
                stage.forget(run_id, stream)


def _drain(session: Session, stage: ScreenStage, run_id: int, stream: int,
           on_news: OnScreenNews | None) -> tuple[int, bool]:
    """Holding the lane: a lost holder's frames back, every pending frame, then the finish of an ended
    stream. How many frames were read, and whether anything was done."""
    lane = frame_lane(run_id, stream)
    reclaimed = reclaim_orphans(session.engine, SCREEN, lane, max_attempts=MAX_ATTEMPTS)
    if reclaimed.requeued or reclaimed.failed:
        log.warning("screen lane %s: %d frame(s) of a lost worker back in the queue, %d failed for good", lane,
                    reclaimed.requeued, reclaimed.failed)
    media_visible(session, SCREEN, lane, CapturedFrame)
    read, progressed, news = 0, False, None
    while (item := session.queue.claim(SCREEN, key_prefix=lane)) is not None:
        progressed = True
        result = read_queued_frame(session.queue, stage, item)
        if result is None:
            continue
        frame, outcome = result
        read += 1
        if outcome.news:
            news = frame.event_id
    state = _state(session, run_id, stream)
    if news is not None and on_news is not None:
        on_news(news, state.ended)  # once the run is over every check is a final one
    if state.needs_flush:
        progressed = True
        kept = session.screen.lane_memory(run_id, stream)
        if stage.finish(run_id, stream) and on_news is not None and kept is not None:
            on_news(kept.event_id, True)
    return read, progressed


def _state(session: Session, run_id: int, stream: int) -> LaneState:
    return screen_lane_state(session.engine, SCREEN, frame_lane(run_id, stream), run_id, stream, FINAL)
