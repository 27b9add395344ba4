"""Records closed segments in the database, queues audio for transcription, and keeps the gap ledger."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from livewatch.capture.clock import BroadcastClock
from livewatch.capture.context import CaptureContext
from livewatch.capture.segments import ListedSegment, SegmentListTail, check_ts, check_wav
from livewatch.pipeline import ClosedSegment, encode
from livewatch.queue import TRANSCRIBE
from livewatch.state.runs import Run, SegmentRecord

#: Less than this between two pieces of media is timing jitter, not a gap.
GAP_THRESHOLD = timedelta(seconds=1.5)


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

    def ingest(self, tails: tuple[SegmentListTail, SegmentListTail], connection: int, clock: BroadcastClock) -> int:
        """Record what the segment lists announced since the last call; returns the number of audio segments."""
        media_tail, audio_tail = tails
        for listed in media_tail.read_new():
            self.add("media", listed, connection, clock)
        added = 0
        for listed in audio_tail.read_new():
            added += self.add("audio", listed, connection, clock)
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
        if kind == "audio" and self.last_end is not None and start < self.last_end - GAP_THRESHOLD:
            overlap = f"overlaps earlier media by {(self.last_end - start).total_seconds():.1f} s"
            note = overlap if note is None else f"{note}; {overlap}"
        record = SegmentRecord(self.run.id, self.index, connection, kind, seq, path, start, end,
                               path.stat().st_size if path.exists() else 0, status, note)
        segment_id = self.ctx.store.add_segment(record)
        if segment_id is None or kind != "audio":
            return 0
        if self.last_end is not None and start - self.last_end > GAP_THRESHOLD:
            self.ctx.store.add_gap(self.run.id, self.index, self.last_end, start, self.gap_cause or "media stopped")
        if status != "corrupt":
            closed = ClosedSegment(self.event_id, self.run.id, self.index, seq, segment_id, path, start, end)
            self.ctx.queue.put(TRANSCRIBE, closed.queue_key, encode(closed))
        self.last_end = end if self.last_end is None else max(self.last_end, end)
        if connection is not None:
            self._connection_end[connection] = end
        self.ctx.store.note_on_air(self.run.id, start, end)
        self.recorded += 1
        return 1


def _seq(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[-1])
