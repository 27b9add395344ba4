"""Playlists without date-times after a drop and an origin's restart (nginx-rtmp, issue 16): what is resumed
where, what is never recorded again, and how each run of segments is placed on the wall clock.

The playlists are those nginx-rtmp served in such a broadcast (2 s fragments, ``hls_continuous`` on): after
the publisher's drop its last, short fragment stays listed; after nginx's restart its first playlist is the
one it wrote at the unpublish (its files survive), listing a fragment no reader could fetch before it went
down, and the new stream follows behind an ``EXT-X-DISCONTINUITY``, numbered on.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from livewatch.capture.base import ResolvedStream
from livewatch.capture.clock import HlsClock, live_edge_start
from livewatch.capture.commands import RecordPlan, record_args
from livewatch.capture.hls import (
    HlsSegment,
    Resume,
    last_run_start,
    parse_media,
    resume_point,
    stale_leftover_s,
    start_index,
)
from livewatch.capture.probe import LiveCheck, keeps_resolution

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)


def nginx(first: int, durations: list[float], *, breaks: tuple[int, ...] = ()) -> str:
    """A playlist as nginx-rtmp writes it: show-N.ts from ``first``, a discontinuity before each of ``breaks``."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-MEDIA-SEQUENCE:{first}", "#EXT-X-TARGETDURATION:2"]
    for number, duration in enumerate(durations, start=first):
        if number in breaks:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += [f"#EXTINF:{duration:.3f},", f"show-{number}.ts"]
    return "\n".join(lines) + "\n"


def segments(text: str) -> list[HlsSegment]:
    return parse_media(text, "http://127.0.0.1:1/hls/show.m3u8").segments


#: After nginx's restart: 7-10 recorded before it went down, 11 written at the unpublish, never fetched.
RESTARTED = nginx(7, [2, 2, 2, 2, 1.749])
#: Three seconds later: the new stream's first fragment, behind a discontinuity.
RESTARTED_AND_NEW = nginx(8, [2, 2, 2, 1.749, 2], breaks=(12,))


def test_the_segment_after_the_one_recorded_continues_it() -> None:
    assert resume_point(segments(RESTARTED), (10, "show-10.ts")) == Resume(4, True)
    assert resume_point(segments(RESTARTED_AND_NEW), (10, "show-10.ts")) == Resume(3, True)


def test_a_stale_playlist_is_not_recorded_again() -> None:
    # Everything listed was recorded: not advancing, whether the reader got to the newest or not.
    assert resume_point(segments(RESTARTED), (11, "show-11.ts")) == Resume(None, False)
    after_drop = segments(nginx(1, [2, 2, 2, 2, 1.494]))
    assert resume_point(after_drop, (5, "show-5.ts")) == Resume(None, False)


def test_a_new_run_after_a_discontinuity_is_placed_from_the_live_edge() -> None:
    assert resume_point(segments(RESTARTED_AND_NEW), (11, "show-11.ts")) == Resume(4, False)
    back_from_drop = segments(nginx(2, [2, 2, 2, 1.494, 2], breaks=(6,)))
    assert resume_point(back_from_drop, (5, "show-5.ts")) == Resume(4, False)


def test_what_has_left_the_playlist_is_skipped_not_replayed() -> None:
    # The successor of the segment recorded last is still listed: it follows on.
    assert resume_point(segments(nginx(11, [1.749, 2, 2], breaks=(12,))), (10, "show-10.ts")) == Resume(0, True)
    # Segments were missed: the oldest newer one, placed from the live edge (one run).
    assert resume_point(segments(nginx(20, [2, 2, 2])), (10, "show-10.ts")) == Resume(0, False)
    # Missed segments of an older run cannot be placed: the newest run.
    assert resume_point(segments(nginx(20, [2, 2, 2, 2], breaks=(22,))), (10, "show-10.ts")) == Resume(2, False)


def test_what_the_output_reached_past_the_listed_segments_is_not_recorded_again() -> None:
    # The previous connection's clock saw 7 and 8 listed; ffmpeg read 9 too, listed between two of the clock's
    # reads just before the origin went away, and its output reached 1.97 s past 8.
    back = segments(nginx(7, [2, 2, 2, 2, 1.749]))
    assert resume_point(back, (8, "show-8.ts"), unlisted_s=1.97) == Resume(3, True, 2.0)
    # Less than half a segment past it is placement jitter: 9 was not recorded.
    assert resume_point(back, (8, "show-8.ts"), unlisted_s=0.4) == Resume(2, True)
    # All that is listed was recorded: not advancing.
    assert resume_point(back, (8, "show-8.ts"), unlisted_s=5.8) == Resume(None, False)
    # Skipping stops at a new run, which is placed from the live edge.
    assert resume_point(segments(nginx(7, [2, 2, 2, 2], breaks=(10,))), (8, "show-8.ts"),
                        unlisted_s=7.0) == Resume(3, False)
    # 8 has left the playlist; its successor 9 (recorded) is still there.
    assert resume_point(segments(nginx(9, [2, 2])), (8, "show-8.ts"), unlisted_s=2.0) == Resume(1, True, 2.0)


def test_a_renumbered_stream_is_a_new_stream() -> None:
    # The origin started numbering again (hls_continuous off): same names, lower sequence numbers.
    assert resume_point(segments(nginx(0, [2, 2], breaks=(0,))), (10, "show-10.ts")) == Resume(0, False)
    # The same sequence number naming another segment.
    renamed = segments(nginx(9, [2, 2, 2]).replace("show-10.ts", "other-10.ts"))
    assert resume_point(renamed, (10, "show-10.ts")) == Resume(0, False)


def test_last_run_start() -> None:
    assert last_run_start(segments(RESTARTED)) == 0
    assert last_run_start(segments(RESTARTED_AND_NEW)) == 4
    assert last_run_start(segments(nginx(0, [2, 2], breaks=(0,)))) == 0


def test_a_fresh_start_without_date_times_stays_in_the_newest_run() -> None:
    parsed = parse_media(RESTARTED_AND_NEW, "u")
    assert start_index(parsed, None, max_lookback_s=60) == 4
    assert start_index(parsed, None, max_lookback_s=0) == 4
    one_run = parse_media(nginx(0, [2] * 6, breaks=(0,)), "u")
    assert start_index(one_run, None, max_lookback_s=5) == 4  # 4 s back: the newest two
    assert start_index(one_run, None, max_lookback_s=60) == 0
    # Resuming through start_index: after the one recorded, or the newest when all is recorded.
    assert start_index(parsed, T0, max_lookback_s=60, after=(10, "show-10.ts")) == 3
    assert start_index(parsed, T0, max_lookback_s=60, after=(12, "show-12.ts")) == 4


def test_live_edge_start_narrows_to_the_interval_since_the_last_read() -> None:
    listed = segments(nginx(3, [2, 2, 2]))
    read = T0 + timedelta(seconds=100)
    # The newest ended within its own length before the read: half of it, plus the segments from 4 on.
    assert live_edge_start(listed, 4, read) == read - timedelta(seconds=4 + 1)
    # It was not listed half a second before: it ended within that half second.
    assert live_edge_start(listed, 4, read, read - timedelta(seconds=0.5)) == read - timedelta(seconds=4.25)
    # A read long before says no more than the segment's length.
    assert live_edge_start(listed, 5, read, read - timedelta(seconds=30)) == read - timedelta(seconds=3)


UNREACHABLE = ResolvedStream("http://127.0.0.1:1/hls/show.m3u8", "http://127.0.0.1:1/hls/show.m3u8", "hls")


def test_the_clock_places_the_leftover_after_the_recording_and_the_new_run_at_the_live_edge() -> None:
    listed = segments(RESTARTED_AND_NEW)
    recorded_end = T0 + timedelta(seconds=61)
    before = datetime.now(UTC)
    clock = HlsClock(UNREACHABLE, listed, 11, timeout=0.5, continues_at=recorded_end)
    after = datetime.now(UTC)
    try:
        assert clock.wall(0) == recorded_end
        assert clock.start_index == 3  # segment 11 in the playlist as read
        assert [s.sequence for s in clock.listed()] == [11, 12]
        # What the capture reads for its length only: segment 11, up to the new stream's discontinuity.
        assert stale_leftover_s(clock.listed(), 0, recorded_end, T0 + timedelta(seconds=64)) == 1.749
        assert clock.wall(1.0) == recorded_end + timedelta(seconds=1)
        assert clock.end_of(11) == recorded_end + timedelta(seconds=1.749)
        # Segment 12 opens a new run: it ended about half its length before the playlist was read.
        new_run = clock.wall(1.749)
        assert before - timedelta(seconds=3) <= new_run <= after - timedelta(seconds=3)
        assert clock.wall(2.749) == new_run + timedelta(seconds=1)
        assert clock.end_of(12) == new_run + timedelta(seconds=2)
    finally:
        clock.close()


def test_a_new_run_never_starts_before_the_previous_one_ended() -> None:
    listed = segments(RESTARTED_AND_NEW)
    late = datetime.now(UTC) + timedelta(seconds=60)  # recorded media placed (wrongly) in the future
    clock = HlsClock(UNREACHABLE, listed, 11, timeout=0.5, continues_at=late)
    try:
        assert clock.wall(1.749) == late + timedelta(seconds=1.749)
    finally:
        clock.close()


def test_newest_listed_leaves_out_what_was_listed_after_ffmpeg_ended() -> None:
    clock = HlsClock(UNREACHABLE, segments(RESTARTED), 11, timeout=0.5, continues_at=T0)
    try:
        ended = time.monotonic()
        time.sleep(0.01)
        clock._add(segments(RESTARTED_AND_NEW), datetime.now(UTC), None)  # the follower's next read
        assert clock.newest_listed() == (12, "show-12.ts")
        assert clock.newest_listed(seen_before=ended) == (11, "show-11.ts")
    finally:
        clock.close()


def test_a_remembered_stream_url_is_kept_until_it_fails_or_is_gone() -> None:
    hls = ResolvedStream("http://h/room.html", "http://h/hls/show.m3u8", "hls")
    rtmp = ResolvedStream("http://h/room.html", "rtmp://h/live/show", "rtmp")
    assert keeps_resolution(LiveCheck(True, "playlist is live"), hls)
    assert keeps_resolution(LiveCheck(False, "playlist is not advancing"), hls)
    assert keeps_resolution(LiveCheck(False, "playlist has no segments yet"), hls)
    assert not keeps_resolution(LiveCheck(False, "HTTP 404", gone=True), hls)
    assert not keeps_resolution(LiveCheck(False, "connection refused", error=True), hls)
    assert not keeps_resolution(LiveCheck(False, "local URL", error=True, refused=True), hls)
    assert not keeps_resolution(LiveCheck(False, "EXT-X-ENDLIST", ended=True), hls)
    assert keeps_resolution(LiveCheck(True, "stream answers"), rtmp)
    assert not keeps_resolution(LiveCheck(False, "no one is publishing", ended=True), rtmp)
    assert not keeps_resolution(LiveCheck(False, "probe failed"), rtmp)


def test_what_ffmpeg_recorded_last_is_what_its_output_reached() -> None:
    clock = HlsClock(UNREACHABLE, segments(nginx(7, [2, 2, 2, 2])), 7, timeout=0.5, continues_at=T0)
    try:
        clock.wall(7.95)  # the output reached 7.95 s of the 8 listed
        # Ended by itself on a stale playlist: it read all that was listed (the output a little short of it).
        assert clock.recorded_last(ended_itself=True) == (10, "show-10.ts")
    finally:
        clock.close()
    clock = HlsClock(UNREACHABLE, segments(nginx(7, [2, 2, 2, 2])), 7, timeout=0.5, continues_at=T0)
    try:
        clock.wall(5.9)  # the output reached 5.9 s: segments 7, 8 and most of 9
        # Ended because the origin went away: segment 10 was listed but never read.
        assert clock.recorded_last(ended_itself=True) == (9, "show-9.ts")
        # Stopped by the watchdog: what the output reached.
        assert clock.recorded_last(ended_itself=False) == (9, "show-9.ts")
        assert clock.end_of(9) == T0 + timedelta(seconds=6)
        assert clock.unlisted_s() == 0.0
    finally:
        clock.close()
    clock = HlsClock(UNREACHABLE, segments(nginx(7, [2, 2])), 7, timeout=0.5, continues_at=T0)
    try:
        clock.wall(5.95)  # ffmpeg read 9, which this clock never saw listed, before the origin went away
        assert clock.recorded_last(ended_itself=True) == (8, "show-8.ts")
        assert abs(clock.unlisted_s() - 1.95) < 1e-9
    finally:
        clock.close()


def test_a_leftover_from_before_the_outage_is_recorded_on_its_own() -> None:
    recorded_end = T0 + timedelta(seconds=61)
    # nginx back, nothing new yet: segment 11 ended 20 s before by its place, so it is all there will be.
    assert stale_leftover_s(segments(RESTARTED), 4, recorded_end, T0 + timedelta(seconds=83)) == 1.749
    # The new stream is listed already: the leftover up to its discontinuity, never into it.
    assert stale_leftover_s(segments(RESTARTED_AND_NEW), 3, recorded_end, T0 + timedelta(seconds=64)) == 1.749
    # A playlist that is advancing (the watchdog restarted ffmpeg mid-stream): followed live.
    live = segments(nginx(7, [2, 2, 2, 2, 2]))
    assert stale_leftover_s(live, 3, T0 + timedelta(seconds=80), T0 + timedelta(seconds=85)) is None
    # Three segment lengths behind is where "not advancing" begins.
    assert stale_leftover_s(live, 3, T0 + timedelta(seconds=80), T0 + timedelta(seconds=90)) is None
    assert stale_leftover_s(live, 3, T0 + timedelta(seconds=80), T0 + timedelta(seconds=90.1)) == 4.0


def test_a_leftover_is_read_for_its_length_only(tmp_path: Path) -> None:
    plan = RecordPlan(media_pattern=tmp_path / "s0-%06d.ts", audio_pattern=tmp_path / "s0-%06d.wav",
                      media_list=tmp_path / "m.csv", audio_list=tmp_path / "a.csv", start_number=0,
                      segment_seconds=4)
    args = record_args(UNREACHABLE, plan, rw_timeout_s=3, live_start_index=4, duration_s=1.749)
    assert args[args.index("-t") + 1] == "1.749"
    assert args.index("-t") < args.index("-i")  # an input option: what is read, not what is written
    assert "-t" not in record_args(UNREACHABLE, plan, rw_timeout_s=3, live_start_index=4)
