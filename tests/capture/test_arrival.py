"""RTMP and HTTP-FLV are placed by when their media arrived (ffmpeg's progress against the wall clock), the
recorder's own connection is their live check, and a stream off air inside its window is checked often."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from livewatch.capture.base import ResolvedStream
from livewatch.capture.clock import SETTLE_REPORTS, ArrivalClock
from livewatch.capture.pacing import WINDOW_BACKOFF_S, backoff_s
from livewatch.capture.probe import nothing_arrived
from livewatch.capture.process import FfmpegProcess, earliest_origin
from livewatch.fields import CaptureSettings

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RTMP = ResolvedStream("rtmp://127.0.0.1/live/show", "rtmp://127.0.0.1/live/show", "rtmp")
FLV = ResolvedStream("http://127.0.0.1/live.flv", "http://127.0.0.1/live.flv", "progressive")


def test_the_earliest_report_bounds_output_second_zero() -> None:
    # Written up to 2 s of output by 09:00:05: second 0 went out by 09:00:03.
    first = earliest_origin(None, T0 + timedelta(seconds=5), 2_000_000)
    assert first == T0 + timedelta(seconds=3)
    # A later report read late (a busy machine) or a burst of older media loosens nothing.
    assert earliest_origin(first, T0 + timedelta(seconds=6.5), 3_000_000) == first
    # One closer to the live edge tightens it.
    assert earliest_origin(first, T0 + timedelta(seconds=6), 3_200_000) == T0 + timedelta(seconds=2.8)
    # ffmpeg's "no time yet" bounds nothing.
    assert earliest_origin(first, T0, -9_223_372_036_854_775_807) == first
    assert earliest_origin(None, T0, -1) is None


@dataclass
class Progress:
    media_origin: datetime | None = None
    media_reports: int = 0


def test_an_arrival_clock_waits_for_the_reports_then_keeps_its_origin() -> None:
    clock = ArrivalClock(T0)  # ffmpeg started at T0 and waited for a publisher
    progress = Progress(T0 + timedelta(seconds=9), 1)  # the burst after finding the streams: seconds late
    clock.follow(progress)
    assert not clock.ready()
    progress.media_origin, progress.media_reports = T0 + timedelta(seconds=4), SETTLE_REPORTS
    assert clock.ready()
    assert clock.wall(0.0) == T0 + timedelta(seconds=4)
    # The connection's segments stay contiguous: later reports do not move it.
    progress.media_origin = T0 + timedelta(seconds=3.9)
    assert clock.wall(10.0) == T0 + timedelta(seconds=14)
    assert clock.fixed


def test_an_arrival_clock_without_progress_keeps_the_connections_start() -> None:
    clock = ArrivalClock(T0)
    clock.follow(Progress())
    assert not clock.ready()
    # At the connection's end its segments are placed all the same.
    assert clock.wall(2.0) == T0 + timedelta(seconds=2)
    assert clock.ready()


def test_ffmpegs_progress_gives_when_its_media_went_out() -> None:
    # A stand-in for ffmpeg that has written 2 s of output when it reports.
    script = "import sys, time; print('out_time_us=N/A\\nout_time_us=2000000\\nprogress=continue', flush=True); " \
             "time.sleep(0.3)"
    process = FfmpegProcess([sys.executable, "-c", script])
    before = datetime.now(UTC)
    process.start()
    assert process.wait_exit() == 0
    after = datetime.now(UTC)
    assert process.media_origin is not None
    assert before - timedelta(seconds=2) <= process.media_origin <= after - timedelta(seconds=2)
    assert process.media_reports == 1


def test_a_process_that_wrote_nothing_has_no_media_origin() -> None:
    process = FfmpegProcess([sys.executable, "-c", "print('out_time_us=0\\nprogress=end', flush=True)"])
    process.start()
    process.wait_exit()
    assert process.media_origin is None


def test_a_recorder_connection_that_brought_nothing_says_why() -> None:
    said = "[rtmp @ 0x1] Server error\nrtmp://127.0.0.1/live/show: Input/output error\n"
    idle = nothing_arrived(RTMP, said, 15.2)
    assert not idle.live
    assert idle.ended  # nginx-rtmp's answer while no one publishes, and after an unpublish
    assert idle.reason == "no one is publishing (the RTMP server answered but sent no media within 15 s)"
    # Stopped by the watchdog with nothing at all: the same answer.
    assert nothing_arrived(RTMP, "", 6.0, timed_out=True).reason.startswith("no one is publishing")
    refused = nothing_arrived(FLV, "http://127.0.0.1/live.flv: Connection refused\n", 0.2)
    assert (refused.live, refused.ended, refused.error) == (False, False, False)
    assert refused.reason == "http://127.0.0.1/live.flv: Connection refused"
    assert nothing_arrived(FLV, "", 0.1).reason == "the connection brought no media"


def test_off_air_inside_the_window_is_checked_as_often_as_before_the_start() -> None:
    end = T0 + timedelta(hours=1)
    settings = CaptureSettings(backoff_base_s=0.5, backoff_max_s=60, poll_interval_s=1)
    inside = [backoff_s(settings, failures, T0, end, 0.0) for failures in range(6)]
    assert inside == [0.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    # The default poll (15 s) leaves the window's own cap.
    slow = CaptureSettings(backoff_base_s=2, backoff_max_s=60, poll_interval_s=15)
    assert [backoff_s(slow, failures, T0, end, 0.0) for failures in range(4)] == [2.0, 4.0, 4.0, 4.0]
    assert WINDOW_BACKOFF_S == 4.0
    # HLS: half the playlist's length when shorter; never under backoff_base_s.
    assert backoff_s(slow, 5, T0, end, 6.0) == 3.0
    assert backoff_s(slow, 5, T0, end, 2.0) == 2.0
    # Past the registered end the back-off grows again.
    assert backoff_s(slow, 4, end, end, 0.0) == 32.0


def test_progress_reports_are_read_as_they_come() -> None:
    # The bound is taken when a report is read, not when ffmpeg ends.
    script = "import time; print('out_time_us=1000000', flush=True); time.sleep(1.0)"
    process = FfmpegProcess([sys.executable, "-c", script])
    process.start()
    deadline = time.monotonic() + 5
    while process.media_origin is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.media_origin is not None
    assert process.returncode is None
    process.wait_exit()
