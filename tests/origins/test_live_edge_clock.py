"""The clock and resume point for HLS without program date-times (nginx-rtmp's playlists), without a server.

The same behaviour on a real nginx-rtmp broadcast: tests/origins/test_real_origins.py (``hls`` and ``joined``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from livewatch.capture.base import ResolvedStream
from livewatch.capture.clock import HlsClock, live_edge_start
from livewatch.capture.hls import HlsSegment, MediaPlaylist, start_index

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def nginx_segments(first: int, count: int, last_empty: bool = False) -> list[HlsSegment]:
    """What nginx-rtmp lists: 2 s fragments named KEY-N.ts, no date-times; an empty last one after the
    publisher stops."""
    out = [HlsSegment(f"show-{n}.ts", 2.0, n, None) for n in range(first, first + count)]
    if last_empty:
        out.append(HlsSegment(f"show-{first + count}.ts", 0.0, first + count, None))
    return out


def test_the_start_is_placed_back_from_the_live_edge() -> None:
    segments = nginx_segments(5, 5)  # #5..#9, 10 s, read at T0
    # #5 began 10 s before the newest segment's end, which is half a segment before the read (on average).
    assert live_edge_start(segments, 5, T0) == T0 - timedelta(seconds=11)
    assert live_edge_start(segments, 9, T0) == T0 - timedelta(seconds=3)


def test_a_fresh_start_still_looks_back() -> None:
    playlist = MediaPlaylist("u", 2.0, 5, False, nginx_segments(5, 5))
    assert start_index(playlist, None, max_lookback_s=6) == 2


def test_a_resume_without_date_times_starts_after_the_last_recorded_segment() -> None:
    playlist = MediaPlaylist("u", 2.0, 5, False, nginx_segments(5, 5))
    assert start_index(playlist, T0, max_lookback_s=60, after=(7, "show-7.ts")) == 3
    # Gone from the playlist (a long outage): all that is left is new.
    assert start_index(playlist, T0, max_lookback_s=60, after=(2, "show-2.ts")) == 0
    # Same number, other file (the origin restarted its numbering): new too.
    assert start_index(playlist, T0, max_lookback_s=60, after=(7, "other-7.ts")) == 0
    # Before the fix a resume looked back max_lookback_s and recorded #5..#7 again.
    assert start_index(playlist, T0, max_lookback_s=60) == 0


def test_the_last_recorded_segment_is_what_ffmpeg_got_to() -> None:
    """Not the newest listed when recording began: nginx-rtmp leaves the playlist up after the publisher
    stops, and its newest segment then was recorded by the connection that just ended (an empty one too)."""
    # Nothing answers on this port: the clock keeps the segments it was given.
    stream = ResolvedStream("http://127.0.0.1:9/", "http://127.0.0.1:9/show.m3u8", "hls")
    clock = HlsClock(stream, nginx_segments(5, 5, last_empty=True), 7, timeout=0.5)
    try:
        assert clock.basis == "the playlist's live edge (no program date-times)"
        assert clock.recorded_through(3.5) == (8, "show-8.ts")  # #7 and #8 recorded, #9 not yet
        assert clock.recorded_through(5.75) == (10, "show-10.ts")  # to the end, the empty #10 included
    finally:
        clock.close()


def test_a_new_connection_is_never_placed_before_the_media_recorded_before() -> None:
    """Livewatch never records a segment twice, so what a new connection records went out after what was
    recorded before: the live edge's estimate (off by up to half a segment) is not let earlier than that."""
    stream = ResolvedStream("http://127.0.0.1:9/", "http://127.0.0.1:9/show.m3u8", "hls")
    free = HlsClock(stream, nginx_segments(5, 5), 9, timeout=0.5)
    free.close()
    estimate = free.wall_base
    later = estimate + timedelta(seconds=0.5)
    bounded = HlsClock(stream, nginx_segments(5, 5), 9, timeout=0.5, not_before=later)
    early = HlsClock(stream, nginx_segments(5, 5), 9, timeout=0.5, not_before=estimate - timedelta(seconds=5))
    try:
        assert bounded.wall_base >= later
        assert bounded.wall(1.0) >= later + timedelta(seconds=1.0)
        assert abs((early.wall_base - estimate).total_seconds()) < 0.5  # an older end changes nothing
    finally:
        bounded.close()
        early.close()
