"""Real captures: a real live HLS origin on 127.0.0.1, the real monitor, real yt-dlp and ffmpeg.

All the events run in one monitor at once (which also shows that one capture's trouble never touches
another): normal, via a page (yt-dlp), late start and two feeds beside drop, stall and overrun; the monitor also
records tests/origins/test_backoff_and_end.py's events (tests/support/shared_capture.py: one wait for the
longest window).
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from livewatch.state import DataDir
from tests.capture.conftest import RunFacts, run_facts, write_event
from tests.support.origin import LiveOrigin, wait_for_playlist

pytestmark = pytest.mark.slow

SPEECH = "Welcome to the forum. Today we discuss how creators can disclose sponsorships."


@dataclass
class Group:
    data: DataDir
    origins: dict[str, LiveOrigin]
    windows: dict[str, tuple[datetime, datetime]]  # event id -> (start, end)

    def facts(self, event_id: str) -> RunFacts:
        return run_facts(self.data, event_id)


def _later(seconds: float, action: object) -> threading.Timer:
    timer = threading.Timer(seconds, action)  # type: ignore[arg-type]
    timer.daemon = True
    timer.start()
    return timer


class LiveCapturePart:
    """This module's origins and events in the shared capture-only monitor (tests/support/shared_capture.py):
    the well-behaved ones (normal, via a page, a late origin, two feeds) beside the troubled ones (a 30 s drop,
    a stall, an overrun), so the calm captures show that the others' trouble never reaches them."""

    def prepare(self, stack: ExitStack, root: Path) -> None:
        self.live = stack.enter_context(LiveOrigin(root / "origin-live", speech=SPEECH))
        self.late = stack.enter_context(LiveOrigin(root / "origin-late"))
        self.dropping = stack.enter_context(LiveOrigin(root / "o-drop"))
        self.stalling = stack.enter_context(LiveOrigin(root / "o-stall"))
        self.overrunning = stack.enter_context(LiveOrigin(root / "o-over"))
        for origin in (self.live, self.dropping, self.stalling, self.overrunning):
            origin.start()
        for origin in (self.live, self.dropping, self.stalling, self.overrunning):
            wait_for_playlist(origin.url, min_segments=2)

    def go(self, schedules: Path, t0: datetime) -> None:
        live = self.live
        self.windows = {
            "normal": (t0 + timedelta(seconds=1), t0 + timedelta(seconds=13)),
            "via-page": (t0 + timedelta(seconds=1), t0 + timedelta(seconds=13)),
            "late": (t0 + timedelta(seconds=1), t0 + timedelta(seconds=16)),
            # Long enough for the page's yt-dlp beside the direct feed on a loaded machine (free: the drop is longer).
            "two-feeds": (t0 + timedelta(seconds=1), t0 + timedelta(seconds=16)),
            "drop": (t0 + timedelta(seconds=1), t0 + timedelta(seconds=50)),
            "stall": (t0 + timedelta(seconds=1), t0 + timedelta(seconds=32)),
            "overrun": (t0 + timedelta(seconds=1), t0 + timedelta(seconds=10)),
        }
        windows = self.windows
        write_event(schedules, "normal", live.url, *windows["normal"])
        write_event(schedules, "via-page", live.page_url, *windows["via-page"])
        write_event(schedules, "late", self.late.url, *windows["late"])
        two = write_event(schedules, "two-feeds", live.url, *windows["two-feeds"])
        two.write_text(two.read_text(encoding="utf-8").replace(
            f'streams: [{{url: "{live.url}"}}]', f'streams: [{{url: "{live.url}"}}, {{url: "{live.page_url}"}}]'),
            encoding="utf-8")
        write_event(schedules, "drop", self.dropping.url, *windows["drop"])
        write_event(schedules, "stall", self.stalling.url, *windows["stall"], stall_timeout_s=5)
        write_event(schedules, "overrun", self.overrunning.url, *windows["overrun"], overrun_cap_minutes=0.2)
        _later(7, self.late.start)
        _later(8, lambda: self.dropping.drop(30))  # a 30 s origin outage mid-event
        _later(8, self.stalling.stall)
        _later(20, self.stalling.resume)

    def finish(self, data: DataDir) -> Group:
        return Group(data, {"live": self.live, "late": self.late, "drop": self.dropping, "stall": self.stalling,
                            "overrun": self.overrunning}, self.windows)


@pytest.fixture(scope="module")
def events(shared_capture: dict[str, object]) -> Group:
    group = shared_capture["live-capture"]
    assert isinstance(group, Group)
    return group


def test_normal_capture_is_contiguous_and_complete(events: Group) -> None:
    facts = events.facts("normal")
    start, end = events.windows["normal"]
    assert facts.run.status == "finished"
    assert facts.gaps == []
    assert facts.coverage_breaks() == []
    assert len(facts.connections) == 1
    # Recording covers the whole registered window (it may begin earlier: the playlist's look-back).
    assert facts.audio[0].start_at <= start
    assert facts.audio[-1].end_at >= end - timedelta(seconds=2)
    total = sum((s.end_at - s.start_at).total_seconds() for s in facts.audio)
    span = (facts.audio[-1].end_at - facts.audio[0].start_at).total_seconds()
    assert total == pytest.approx(span, abs=0.5)
    assert (facts.run.on_air_at, facts.run.off_air_at) == (facts.audio[0].start_at, facts.audio[-1].end_at)
    assert all(s.status == "ok" for s in facts.audio + facts.media)
    assert [s.seq for s in facts.audio] == list(range(len(facts.audio)))
    assert len(facts.media) >= len(facts.audio) - 1
    for segment in facts.audio + facts.media:
        assert Path(segment.path).stat().st_size == segment.bytes > 0
    assert facts.queued == len(facts.audio)  # every closed audio segment is waiting for transcription


def test_segments_carry_the_broadcast_clock(events: Group) -> None:
    live = events.origins["live"]
    facts = events.facts("normal")
    started = next(when for name, when in live.events if name == "start")
    # PROGRAM-DATE-TIME puts media at the time the origin produced it, not when we happened to read it.
    assert facts.audio[0].start_at >= started - timedelta(seconds=1)
    assert facts.audio[0].start_at < facts.connections[0].started_at


def test_yt_dlp_resolves_a_platform_page(events: Group) -> None:
    facts = events.facts("via-page")
    assert facts.run.status == "finished"
    assert facts.connections[0].media_url == events.origins["live"].url
    assert facts.coverage_breaks() == []
    assert len(facts.audio) >= 5


def test_late_origin_is_waited_for_and_the_late_start_recorded(events: Group) -> None:
    facts = events.facts("late")
    start, _ = events.windows["late"]
    went_live = next(when for name, when in events.origins["late"].events if name == "start")
    assert facts.run.status == "finished"
    assert facts.run.on_air_at >= went_live - timedelta(seconds=1)
    assert facts.run.on_air_at - start > timedelta(seconds=4)  # late by about 6 s
    assert facts.coverage_breaks() == []
    assert facts.gaps == []


def test_origin_drop_is_one_run_with_one_gap(events: Group) -> None:
    facts = events.facts("drop")
    origin = events.origins["drop"]
    assert facts.run.status == "finished"
    assert len({c.session for c in facts.connections}) == 1  # back within the grace window: one session
    assert len(facts.connections) >= 2
    [gap] = facts.gaps
    assert 25 <= (gap.end_at - gap.start_at).total_seconds() <= 35
    assert origin.dropped_at is not None
    assert origin.returned_at is not None
    assert abs((gap.start_at - origin.dropped_at).total_seconds()) < 4
    # Nothing lost on either side: audio runs right up to the gap and resumes right after it.
    assert facts.coverage_breaks() == [(gap.start_at, gap.end_at)]
    assert facts.audio[-1].end_at >= events.windows["drop"][1] - timedelta(seconds=2)
    assert [s.seq for s in facts.audio] == list(range(len(facts.audio)))


def test_stalled_origin_trips_the_watchdog(events: Group) -> None:
    facts = events.facts("stall")
    origin = events.origins["stall"]
    stalled_at = next(when for name, when in origin.events if name == "stall")
    first = facts.connections[0]
    assert first.end_reason.startswith("stalled: no new media for 5 s (watchdog)")
    # The watchdog restarted ffmpeg within its 5 s, plus the media still in flight when the origin froze
    # (ffmpeg reads a segment only once it is complete: up to two 2 s segments) and a second to stop.
    assert (first.ended_at - stalled_at).total_seconds() < 5 + 4 + 2
    assert facts.run.status == "finished"
    [gap] = facts.gaps
    assert gap.cause.startswith("stalled")
    assert 8 <= (gap.end_at - gap.start_at).total_seconds() <= 16


def test_stream_outliving_its_registration_stops_at_the_cap(events: Group) -> None:
    facts = events.facts("overrun")
    _, end = events.windows["overrun"]
    assert facts.run.status == "finished"
    assert "overrun cap reached" in facts.run.stop_reason
    cap = end + timedelta(seconds=12)
    assert cap - timedelta(seconds=4) <= facts.run.off_air_at <= cap + timedelta(seconds=2)
    assert facts.run.off_air_at > end + timedelta(seconds=5)  # the overrun is on record
    assert facts.coverage_breaks() == []


def test_every_stream_of_an_event_is_recorded_into_one_run(events: Group) -> None:
    facts = events.facts("two-feeds")
    assert facts.run.status == "finished"
    assert {c.stream for c in facts.connections} == {0, 1}
    for stream in (0, 1):
        audio = [s for s in facts.audio if s.stream == stream]
        assert len(audio) >= 4
        assert [s.seq for s in audio] == list(range(len(audio)))
        assert all(Path(s.path).name.startswith(f"s{stream}-") for s in audio)
