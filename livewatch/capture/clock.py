"""Maps a recording's own timeline (seconds into what one ffmpeg wrote) to the broadcast's wall clock.

For HLS with ``EXT-X-PROGRAM-DATE-TIME`` the playlist is read alongside ffmpeg: output second *t* falls in
the k-th playlist segment recorded, whose program date-time is known, so a broadcaster's restart
(a discontinuity, a jump in PDT) inside one connection still lands every later segment at its true time.
Without PDT the connection's start is the best reference there is.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from livewatch.capture.base import ResolvedStream
from livewatch.capture.hls import HlsSegment, fetch_media_playlist
from livewatch.errors import CaptureError

log = logging.getLogger(__name__)


class BroadcastClock:
    """Output offset → wall clock, as ``wall_base + offset``."""

    def __init__(self, wall_base: datetime) -> None:
        self.wall_base = wall_base

    def wall(self, offset: float) -> datetime:
        return self.wall_base + timedelta(seconds=offset)

    def close(self) -> None:
        """Stop any background work."""


class HlsClock(BroadcastClock):
    """Follows the media playlist while ffmpeg records it, from the segment recording started at."""

    def __init__(self, stream: ResolvedStream, segments: list[HlsSegment], first_sequence: int,
                 timeout: float) -> None:
        first = next(s for s in segments if s.sequence == first_sequence)
        assert first.program_date_time is not None, "HlsClock needs PROGRAM-DATE-TIME"
        super().__init__(first.program_date_time)
        self.stream, self.first_sequence, self.timeout = stream, first_sequence, timeout
        self._segments: dict[int, HlsSegment] = {}
        self._lock = threading.Lock()
        self._add(segments)
        target = max((s.duration for s in segments), default=2.0)
        self._interval = max(0.5, min(target / 2, 5.0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="hls-clock", daemon=True)
        self._thread.start()

    def _add(self, segments: list[HlsSegment]) -> None:
        with self._lock:
            for segment in segments:
                if segment.sequence >= self.first_sequence:
                    self._segments.setdefault(segment.sequence, segment)

    def _follow(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                playlist = fetch_media_playlist(self.stream.media_url, self.stream.headers, timeout=self.timeout)
            except CaptureError:
                continue  # ffmpeg will notice an outage too; the segments we know keep their times
            self._add(playlist.segments)

    def wall(self, offset: float) -> datetime:
        with self._lock:
            ordered = [self._segments[k] for k in sorted(self._segments)]
        covered = 0.0
        anchor, anchor_offset = self.wall_base, 0.0
        for segment in ordered:
            if segment.program_date_time is not None:
                anchor, anchor_offset = segment.program_date_time, covered
            if offset < covered + segment.duration:
                break
            covered += segment.duration
        return anchor + timedelta(seconds=offset - anchor_offset)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 1)
