"""Maps a recording's own timeline (seconds into what one ffmpeg wrote) to the broadcast's wall clock.

For HLS with ``EXT-X-PROGRAM-DATE-TIME`` the playlist is read alongside ffmpeg: output second *t* falls in
the k-th playlist segment recorded, whose program date-time is known, so a broadcaster's restart
(a discontinuity, a jump in PDT) inside one connection still lands every later segment at its true time.
Without PDT (nginx-rtmp, many small origins) the playlist's live edge is the reference: the end of its newest
segment was broadcast moments before the playlist was read, so the segment recording starts at went out the
listed durations before that. Everything else (RTMP, HTTP-FLV) is live as it arrives: the media's arrival,
as ffmpeg reports its output time against the wall clock (:class:`ArrivalClock`), not the connection's start,
which can be long before the first packet (a recorder waiting on a server with no one publishing yet). Each
clock says in ``basis`` which reference it used, for the run's notes.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

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

    def moment(self, offset: float) -> datetime:
        """Where output second ``offset`` falls, for something that is not a segment (a still frame): the same
        placement as :meth:`wall`, without counting it as recorded media."""
        return self.wall(offset)

    #: What ffmpeg reads instead of the stream's URL, and the descriptors it inherits for that: set where
    #: livewatch feeds ffmpeg itself (DASH: livewatch.capture.dash_feed).
    input_url: str | None = None
    pass_fds: tuple[int, ...] = ()

    def started(self) -> None:
        """ffmpeg is running."""

    def ready(self) -> bool:
        """Whether segments can be placed yet (an arrival clock waits for ffmpeg's first reports)."""
        return True

    def restarted(self) -> str | None:
        """Why what this clock places ended (a DASH packager's restart, its manifest turned static): the
        connection's end reason once ffmpeg has exited; the next connection is placed by the new stream's."""
        return None

    def close(self) -> None:
        """Stop any background work."""


#: Progress reports with media an arrival clock waits for before it places a segment: ffmpeg writes what it
#: read while finding the streams in one burst, reported (once a second) as far behind, so the first report's
#: bound is seconds late; the next, at the live edge, is not. One more for a busy machine.
SETTLE_REPORTS = 3


class MediaProgress(Protocol):
    """What a running ffmpeg tells of its media (:class:`livewatch.capture.process.FfmpegProcess`)."""

    @property
    def media_origin(self) -> datetime | None: ...
    @property
    def media_reports(self) -> int: ...


class _NoProgress:
    media_origin: datetime | None = None
    media_reports = 0


class ArrivalClock(BroadcastClock):
    """Places a live stream without timestamps of its own (RTMP, HTTP-FLV) by when its media arrived.

    The progress it :meth:`follow` s says when output second 0 was broadcast
    (:attr:`livewatch.capture.process.FfmpegProcess.media_origin`): the earliest of "written up to output
    time *t* by wall time *w*", so *w - t*. It is taken when the first segment is placed, once
    :data:`SETTLE_REPORTS` reports have come (:meth:`ready`; at the connection's end in any case), and kept
    for the whole connection, so its segments stay contiguous; until then ``wall_base`` is the connection's
    start, which stays if no progress was reported by then."""

    basis = "the media's arrival (ffmpeg's progress against the wall clock)"

    def __init__(self, started: datetime) -> None:
        super().__init__(started)
        self._progress: MediaProgress = _NoProgress()
        #: Whether ``wall_base`` is settled (the first segment has been placed), and stored with the connection.
        self.fixed = False
        self.saved = False

    def follow(self, progress: MediaProgress) -> None:
        """Take output second 0's broadcast time from ``progress`` (the running ffmpeg's)."""
        self._progress = progress

    def ready(self) -> bool:
        return self.fixed or self._progress.media_reports >= SETTLE_REPORTS

    def wall(self, offset: float) -> datetime:
        if not self.fixed:
            self.wall_base, self.fixed = self._progress.media_origin or self.wall_base, True
        return super().wall(offset)


class HlsClock(BroadcastClock):
    """Follows the media playlist while ffmpeg records it, from the segment recording started at.

    Without date-times each run of segments (a stream between two ``EXT-X-DISCONTINUITY``) is anchored on
    its own: the run recording starts in at ``continues_at`` when it follows on directly from the media
    recorded before (see :func:`~livewatch.capture.hls.resume_point`), else from the live edge but never
    before ``not_before`` (the end of the media recorded before); a run that starts later (the broadcaster's
    restart, an origin's return) from the live edge when it is first listed.
    """

    PDT_BASIS = "the playlist's program date-times"

    def __init__(self, stream: ResolvedStream, segments: list[HlsSegment], first_sequence: int,
                 timeout: float, continues_at: datetime | None = None, not_before: datetime | None = None) -> None:
        first = next(s for s in segments if s.sequence == first_sequence)
        self.stream, self.first_sequence, self.timeout = stream, first_sequence, timeout
        #: Without date-times: when each run of segments began, by the sequence of its first segment.
        self._anchors: dict[int, datetime] = {}
        #: When each segment was first listed (monotonic seconds), for :meth:`newest_listed`.
        self._seen: dict[int, float] = {}
        self._segments: dict[int, HlsSegment] = {}
        #: The furthest output second placed so far: how far ffmpeg got (see :meth:`recorded_last`).
        self.placed_through = 0.0
        self._lock = threading.Lock()
        read_at = datetime.now(UTC)
        if first.program_date_time is not None:
            super().__init__(first.program_date_time)
            self.basis = self.PDT_BASIS
        else:
            segments = self._fresh(segments)
            read_at = datetime.now(UTC)
            if continues_at is not None:
                super().__init__(continues_at)
            else:
                # Media never recorded before went out after all media recorded before (livewatch never records a
                # segment twice): the live edge's estimate, off by up to half a segment, is not let earlier.
                estimate = live_edge_start(segments, first_sequence, read_at)
                super().__init__(estimate if not_before is None else max(estimate, not_before))
            self.basis = "the playlist's live edge (no program date-times)"
            self._anchors[first_sequence] = self.wall_base
        #: Where ``first_sequence`` is in the playlist as last read, for ffmpeg's ``-live_start_index`` (an
        #: index into the playlist ffmpeg reads moments later: the freshest read, not the check's, so that a
        #: playlist that slid by one meanwhile does not start ffmpeg one segment later than this clock places).
        self.start_index = next(i for i, s in enumerate(segments) if s.sequence == first_sequence)
        self._add(segments, read_at, None)
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

    def _add(self, segments: list[HlsSegment], read_at: datetime, previous_read: datetime | None) -> None:
        """Take in the segments of a playlist read at ``read_at``; without date-times a new run listed since
        ``previous_read`` (the last read before; None: not known) is anchored from this read's live edge."""
        seen = time.monotonic()
        with self._lock:
            for segment in segments:
                if segment.sequence < self.first_sequence or segment.sequence in self._segments:
                    continue
                self._segments[segment.sequence] = segment
                self._seen[segment.sequence] = seen
                if (self.basis != self.PDT_BASIS and segment.discontinuity
                        and segment.sequence not in self._anchors):
                    self._anchors[segment.sequence] = live_edge_start(segments, segment.sequence, read_at,
                                                                      previous_read)

    def _follow(self) -> None:
        previous: datetime | None = datetime.now(UTC)
        while not self._stop.wait(self._interval):
            try:
                playlist = fetch_media_playlist(self.stream.media_url, self.stream.headers, timeout=self.timeout)
            except CaptureError:
                previous = None  # what is listed next may have been listed at any time since
                continue  # ffmpeg will notice an outage too; the segments we know keep their times
            read_at = datetime.now(UTC)
            self._add(playlist.segments, read_at, previous)
            previous = read_at

    def _ordered(self) -> list[HlsSegment]:
        with self._lock:
            return [self._segments[k] for k in sorted(self._segments)]

    def listed(self) -> list[HlsSegment]:
        """The segments listed so far from the one recording starts at, in order."""
        return self._ordered()

    def wall(self, offset: float) -> datetime:
        self.placed_through = max(self.placed_through, offset)
        return self.moment(offset)

    def moment(self, offset: float) -> datetime:
        ordered = self._ordered()
        covered = 0.0
        anchor, anchor_offset = self.wall_base, 0.0
        for segment in ordered:
            if segment.program_date_time is not None:
                anchor, anchor_offset = segment.program_date_time, covered
            elif segment.sequence in self._anchors:
                # A run never starts before the previous one ended: the live edge's estimate is off by up
                # to half a segment, and media placed twice over would read as recorded twice.
                follows = anchor + timedelta(seconds=covered - anchor_offset)
                anchor, anchor_offset = max(self._anchors[segment.sequence], follows), covered
            if offset < covered + segment.duration:
                break
            covered += segment.duration
        return anchor + timedelta(seconds=offset - anchor_offset)

    def recorded_through(self, offset: float) -> tuple[int, str] | None:
        """The (sequence, URI) of the segment output second ``offset`` falls in: after a connection, the last
        segment it recorded, which a playlist without date-times is resumed after."""
        covered, last = 0.0, None
        for segment in self._ordered():
            if covered >= offset and segment.duration > 0:
                break  # an empty segment (nginx-rtmp lists one when the publisher stops) counts as recorded
            covered, last = covered + segment.duration, segment
        return (last.sequence, last.uri) if last is not None else None

    def recorded_last(self, ended_itself: bool, seen_before: float | None = None) -> tuple[int, str] | None:
        """The (sequence, URI) of the last segment this connection recorded, which a playlist without
        date-times is resumed after.

        ffmpeg that ended by itself (``-m3u8_hold_counters``) on a playlist that stopped advancing had read
        every segment listed (:meth:`newest_listed`): the output's length, a few hundredths of a second off
        the listed durations, could name the one before and replay the last. It also ends by itself when
        the origin goes away, with what it had: then the output falls short of the newest listed by more
        than half of it, and what the output reaches is the answer (:meth:`recorded_through`)."""
        through = self.recorded_through(self.placed_through - 0.25)
        if not ended_itself:
            return through
        newest = self.newest_listed(seen_before)
        if newest is None:
            return through
        covered = 0.0
        for segment in self._ordered():
            covered += segment.duration
            if segment.sequence == newest[0]:
                return newest if self.placed_through >= covered - segment.duration / 2 else through
        return through

    def unlisted_s(self) -> float:
        """Seconds ffmpeg's output reached past every segment this clock saw listed: ffmpeg reads the playlist
        on its own, and one listed (and read) between two of this clock's reads just before the origin went
        away is recorded without this clock ever seeing it."""
        return max(0.0, self.placed_through - sum(segment.duration for segment in self._ordered()))

    def newest_listed(self, seen_before: float | None = None) -> tuple[int, str] | None:
        """The (sequence, URI) of the newest segment the playlist listed while recording (first seen before
        ``seen_before``, monotonic seconds: ffmpeg's exit): all recorded once ffmpeg ended by itself on a
        playlist that stopped advancing. One listed after ffmpeg had gone (a new stream) was not."""
        with self._lock:
            listed = [k for k in self._segments if seen_before is None or self._seen[k] <= seen_before]
            last = self._segments[max(listed)] if listed else None
        return (last.sequence, last.uri) if last is not None else None

    def end_of(self, sequence: int) -> datetime | None:
        """When segment ``sequence`` ended on the wall clock, as this clock places it (None: not listed)."""
        covered = 0.0
        for segment in self._ordered():
            covered += segment.duration
            if segment.sequence == sequence:
                return self.wall(covered - segment.duration) + timedelta(seconds=segment.duration)
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 1)


def live_edge_start(segments: list[HlsSegment], sequence: int, read_at: datetime,
                    previous_read: datetime | None = None) -> datetime:
    """When segment ``sequence`` began, for a playlist without date-times read at ``read_at``.

    An origin lists a segment as soon as it closes, so the newest listed segment ended between one segment
    before ``read_at`` and ``read_at`` itself: half its duration before is off by at most half a segment
    either way (measured on nginx-rtmp: docs/monitor.md). Where it was not listed yet at ``previous_read``
    (a later read), it ended after that: the middle of the shorter interval."""
    after = sum(s.duration for s in segments if s.sequence >= sequence)
    newest = segments[-1].duration if segments else 0.0
    ended_within = newest if previous_read is None else min(newest, (read_at - previous_read).total_seconds())
    return read_at - timedelta(seconds=after + max(ended_within, 0.0) / 2)
