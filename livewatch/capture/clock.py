"""Maps a recording's own timeline (seconds into what one ffmpeg wrote) to the broadcast's wall clock.

For HLS with ``EXT-X-PROGRAM-DATE-TIME`` the playlist is read alongside ffmpeg: output second *t* falls in
the k-th playlist segment recorded, whose program date-time is known, so a broadcaster's restart
(a discontinuity, a jump in PDT) inside one connection still lands every later segment at its true time.
Without PDT (nginx-rtmp, many small origins) the playlist's live edge is the reference: the end of its newest
segment was broadcast moments before the playlist was read, so the segment recording starts at went out the
listed durations before that. The connection's start (what ffmpeg receives first is live) serves for
everything else (RTMP, HTTP-FLV). Each clock says in ``basis`` which reference it used, for the run's notes.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from livewatch.capture.base import ResolvedStream
from livewatch.capture.hls import HlsSegment, fetch_media_playlist
from livewatch.errors import CaptureError

log = logging.getLogger(__name__)


class BroadcastClock:
    """Output offset → wall clock, as ``wall_base + offset``."""

    #: Which reference places media on the wall clock (see the module's docstring), for the run's notes.
    basis = "the connection's start"

    def __init__(self, wall_base: datetime) -> None:
        self.wall_base = wall_base

    def wall(self, offset: float) -> datetime:
        return self.wall_base + timedelta(seconds=offset)

    def close(self) -> None:
        """Stop any background work."""


class HlsClock(BroadcastClock):
    """Follows the media playlist while ffmpeg records it, from the segment recording started at."""

    PDT_BASIS = "the playlist's program date-times"

    def __init__(self, stream: ResolvedStream, segments: list[HlsSegment], first_sequence: int,
                 timeout: float) -> None:
        first = next(s for s in segments if s.sequence == first_sequence)
        self.stream, self.first_sequence, self.timeout = stream, first_sequence, timeout
        if first.program_date_time is not None:
            super().__init__(first.program_date_time)
            self.basis = self.PDT_BASIS
        else:
            segments = self._fresh(segments)
            super().__init__(live_edge_start(segments, first_sequence, datetime.now(UTC)))
            self.basis = "the playlist's live edge (no program date-times)"
        self._segments: dict[int, HlsSegment] = {}
        self._lock = threading.Lock()
        self._add(segments)
        target = max((s.duration for s in segments), default=2.0)
        self._interval = max(0.5, min(target / 2, 5.0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="hls-clock", daemon=True)
        self._thread.start()

    def _fresh(self, segments: list[HlsSegment]) -> list[HlsSegment]:
        """The playlist read again now, so that "now" is its live edge; the checked one if that fails or no
        longer lists the segment recording starts at."""
        try:
            fresh = fetch_media_playlist(self.stream.media_url, self.stream.headers, timeout=self.timeout).segments
        except CaptureError:
            return segments
        return fresh if any(s.sequence == self.first_sequence for s in fresh) else segments

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

    def recorded_through(self, offset: float) -> tuple[int, str] | None:
        """The (sequence, URI) of the segment output second ``offset`` falls in: after a connection, the last
        segment it recorded, which a playlist without date-times is resumed after."""
        with self._lock:
            ordered = [self._segments[k] for k in sorted(self._segments)]
        covered, last = 0.0, None
        for segment in ordered:
            if covered >= offset and segment.duration > 0:
                break  # an empty segment (nginx-rtmp lists one when the publisher stops) counts as recorded
            covered, last = covered + segment.duration, segment
        return (last.sequence, last.uri) if last is not None else None

    def newest_listed(self) -> tuple[int, str] | None:
        """The (sequence, URI) of the newest segment the playlist has listed while recording: all recorded
        once ffmpeg ended by itself on a playlist that stopped advancing."""
        with self._lock:
            last = self._segments[max(self._segments)] if self._segments else None
        return (last.sequence, last.uri) if last is not None else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 1)


def live_edge_start(segments: list[HlsSegment], sequence: int, read_at: datetime) -> datetime:
    """When segment ``sequence`` began, for a playlist without date-times read at ``read_at``.

    An origin lists a segment as soon as it closes, so the newest listed segment ended between one segment
    before ``read_at`` and ``read_at`` itself: half its duration before is off by at most half a segment
    either way (measured on nginx-rtmp: docs/monitor.md)."""
    after = sum(s.duration for s in segments if s.sequence >= sequence)
    newest = segments[-1].duration if segments else 0.0
    return read_at - timedelta(seconds=after + newest / 2)
