"""Records closed segments in the database, queues audio for transcription, and keeps the gap ledger.

A write that fails (the database restarting, unreachable for a moment) loses nothing: the segments not yet
recorded go back to their list's tail, and a segment half done (its row written, its gap or queue item not)
is remembered, so the next :meth:`SegmentWriter.ingest` carries on from where the last one stopped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

from sqlalchemy.exc import SQLAlchemyError

from livewatch.capture.clock import BroadcastClock
from livewatch.capture.context import CaptureContext
from livewatch.capture.segments import ListedSegment, SegmentListTail, check_ts, check_wav
from livewatch.errors import StateError
from livewatch.pipeline import ClosedSegment, encode
from livewatch.queue import TRANSCRIBE
from livewatch.state.runs import Run, SegmentRecord

#: Less than this between two pieces of media is timing jitter, not a gap.
GAP_THRESHOLD = timedelta(seconds=1.5)
#: How long a capture records on while the database refuses its ledger writes (a PostgreSQL restart or
#: fail-over takes seconds to a minute); past this, the write's error stops the capture as any other error.
LEDGER_OUTAGE_S = 300.0


class LedgerOutage:
    """``with outage:`` around a capture's ledger writes: a database error inside is logged (once per outage)
    and swallowed for up to ``limit_s`` seconds, while ffmpeg records on into its files; the writer keeps what
    it could not record and records it on the next try (see the module's docstring). An error past the limit,
    or any other error, goes through as before."""

    def __init__(self, log: logging.Logger, limit_s: float = LEDGER_OUTAGE_S) -> None:
        self.log, self.limit_s = log, limit_s
        self.since: float | None = None

    def __enter__(self) -> LedgerOutage:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 _tb: TracebackType | None) -> bool:
        if err is None:
            if self.since is not None:
                self.log.warning("the database is back after %.1f s; the segments recorded meanwhile are listed",
                                 time.monotonic() - self.since)
                self.since = None
            return False
        if not isinstance(err, SQLAlchemyError | StateError):
            return False
        now = time.monotonic()
        if self.since is None:
            self.since = now
            self.log.warning("cannot write to the database (%s); recording on, the segments are listed when it "
                             "is back", str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)
        return now - self.since <= self.limit_s


@dataclass
class _HalfDone:
    """A segment whose row is written but whose later steps may not be (a write failed in between)."""

    segment_id: int
    gap_noted: bool = False
    queued: bool = False


class SegmentWriter:
    def __init__(self, ctx: CaptureContext, run: Run, event_id: str, index: int) -> None:
        self.ctx, self.run, self.event_id, self.index = ctx, run, event_id, index
        self.media_dir = ctx.data.media_dir(event_id)
        self.audio_dir = ctx.data.audio_dir(event_id)
        #: End of the latest audio recorded for this stream (wall clock), across restarts.
        self.last_end: datetime | None = ctx.store.last_segment_end(run.id, index)
        #: Why media stopped last time; becomes the cause of the next gap.
        self.gap_cause: str | None = None
        self.recorded = 0
        #: Where each connection's audio placed so far ends: one ffmpeg's output is one continuous timeline.
        self._connection_end: dict[int, datetime] = {}
        #: Segments (kind, seq) whose recording a failed write interrupted after their row was written.
        self._half_done: dict[tuple[str, int], _HalfDone] = {}

    def ingest(self, tails: tuple[SegmentListTail, SegmentListTail], connection: int, clock: BroadcastClock) -> int:
        """Record what the segment lists announced since the last call; returns the number of audio segments."""
        media_tail, audio_tail = tails
        added = 0
        for kind, tail in (("media", media_tail), ("audio", audio_tail)):
            listed = tail.read_new()
            for done, segment in enumerate(listed):
                try:
                    added += self.add(kind, segment, connection, clock)
                except BaseException:
                    tail.put_back(listed[done:])  # the next call records them
                    raise
        return added

    def add(self, kind: str, listed: ListedSegment, connection: int | None, clock: BroadcastClock,
            status: str = "ok", note: str | None = None) -> int:
        folder = self.media_dir if kind == "media" else self.audio_dir
        path = folder / Path(listed.filename).name  # the list names files in our folder; never trust a path
        problem = check_ts(path) if kind == "media" else check_wav(path)
        if problem is not None:
            status, note = "corrupt", problem if note is None else f"{note}; {problem}"
        start = clock.wall(listed.start)
        before = self._connection_end.get(connection) if kind == "audio" and connection is not None else None
        if before is not None and before - GAP_THRESHOLD < start < before:
            # One connection's output is continuous: its next segment cannot begin before the last one ended.
            # A clock that learnt more meanwhile (a playlist read that listed the segment an origin was
            # writing when it went down) may place it a little earlier; the earlier placement stands.
            start = before
        end = start + timedelta(seconds=max(listed.end - listed.start, 0.0))
        if abs((clock.wall(listed.end) - end).total_seconds()) > 1.0:
            # The broadcaster restarted inside this segment: its later part is from after the break.
            note = "spans a break in the broadcast" if note is None else f"{note}; spans a break in the broadcast"
        seq = _seq(path)
        return self._record(kind, seq, path, start, end, connection, status, note,
                            self._half_done.pop((kind, seq), None))

    def _record(self, kind: str, seq: int, path: Path, start: datetime, end: datetime, connection: int | None,
                status: str, note: str | None, half_done: _HalfDone | None) -> int:
        if kind == "audio" and self.last_end is not None and start < self.last_end - GAP_THRESHOLD:
            overlap = f"overlaps earlier media by {(self.last_end - start).total_seconds():.1f} s"
            note = overlap if note is None else f"{note}; {overlap}"
        if half_done is None:
            record = SegmentRecord(self.run.id, self.index, connection, kind, seq, path, start, end,
                                   path.stat().st_size if path.exists() else 0, status, note)
            segment_id = self.ctx.store.add_segment(record)
            if segment_id is None or kind != "audio":
                return 0  # recorded before (a restart), or media: nothing more to do
            half_done = _HalfDone(segment_id)
        try:
            if not half_done.gap_noted:
                if self.last_end is not None and start - self.last_end > GAP_THRESHOLD:
                    self.ctx.store.add_gap(self.run.id, self.index, self.last_end, start,
                                           self.gap_cause or "media stopped")
                half_done.gap_noted = True
            if status != "corrupt" and not half_done.queued:
                closed = ClosedSegment(self.event_id, self.run.id, self.index, seq, half_done.segment_id, path,
                                       start, end)
                self.ctx.queue.put(TRANSCRIBE, closed.queue_key, encode(closed))
            half_done.queued = True
            self.ctx.store.note_on_air(self.run.id, start, end)
        except BaseException:
            self._half_done[(kind, seq)] = half_done
            raise
        self.last_end = end if self.last_end is None else max(self.last_end, end)
        if connection is not None:
            self._connection_end[connection] = end
        self.recorded += 1
        return 1


def _seq(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[-1])
