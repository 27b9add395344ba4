"""nginx-rtmp as the origin: an ffmpeg publisher broadcasts RTMP to a real nginx with Debian's RTMP module,
which writes HLS without ``EXT-X-PROGRAM-DATE-TIME``; the real monitor records it.

The broadcast carries beeps at known seconds of the track, so the wall-clock time each beep went out is
known (the publisher sends in real time from ``started_at``). Where the monitor placed each beep (its audio
segment's start plus the beep's offset in the file) must be that time, within 3 s; each beep is recorded
once (a stale playlist re-recorded after the publisher stops would repeat one).

One monitor, three events on the same broadcast: ``early`` is armed before the broadcast starts (on-air time),
``joined`` is armed twelve seconds into it, when the playlist already lists ~10 s of look-back, and ``rtmp``
pulls RTMP from the same nginx (placed by when its media arrived: what it receives is live).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from livewatch.state import DataDir
from tests.capture.conftest import RunFacts, capture_only, now, run_facts, run_monitor_until_idle, write_event
from tests.support.nginx_rtmp import NginxRtmp, Publisher, beep_track, find_beeps

pytestmark = pytest.mark.slow

TRACK_S = 20.0
BEEPS = [3.0, 9.0, 14.0, 18.0]
TOLERANCE_S = 3.0


@dataclass
class Broadcast:
    data: DataDir
    started_at: datetime
    stopped_at: datetime

    def facts(self, event_id: str) -> RunFacts:
        return run_facts(self.data, event_id)

    def beeps_placed(self, event_id: str) -> list[datetime]:
        """Wall-clock times the monitor gave each beep it recorded, in recording order. A beep cut by a segment
        boundary is one beep (a beep recorded twice lands in overlapping segments: see the overlap test)."""
        placed: list[datetime] = []
        for segment in self.facts(event_id).audio:
            for offset in find_beeps(Path(segment.path)):
                at = segment.start_at + timedelta(seconds=offset)
                if not placed or abs((at - placed[-1]).total_seconds()) > 1.0:
                    placed.append(at)
        return placed

    def broadcast(self, second: float) -> datetime:
        return self.started_at + timedelta(seconds=second)


@pytest.fixture(scope="module")
def broadcast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broadcast]:
    root = tmp_path_factory.mktemp("nginx-hls")
    schedules = root / "schedules"
    schedules.mkdir()
    audio = beep_track(root / "track.wav", TRACK_S, BEEPS)
    with NginxRtmp(root / "nginx") as nginx:
        url = nginx.hls_url("show")
        t0 = now()
        # Both windows end a little after the track: the playlist then stays up, stale, and must not be
        # recorded again.
        end = t0 + timedelta(seconds=TRACK_S + 18)
        write_event(schedules, "early", url, t0 + timedelta(seconds=1), end, rw_timeout_s=2, stall_timeout_s=3)
        write_event(schedules, "rtmp", nginx.rtmp_url("show"), t0 + timedelta(seconds=1), end, rw_timeout_s=2,
                    stall_timeout_s=6)
        data = DataDir(root / "data")
        publisher = Publisher(nginx, "show", audio)

        def late_arm() -> None:
            time.sleep(12)
            write_event(schedules, "joined", url, now(), end, rw_timeout_s=2, stall_timeout_s=3)

        import threading

        threading.Timer(3, publisher.start).start()
        threading.Thread(target=late_arm, daemon=True).start()
        try:
            run_monitor_until_idle(capture_only(data.root), schedules, timeout=90)
            publisher.wait(10)
        finally:
            publisher.stop()
        assert publisher.started_at is not None
        assert publisher.stopped_at is not None
        yield Broadcast(data, publisher.started_at, publisher.stopped_at)


def _late(placed: list[datetime], broadcast: Broadcast) -> list[float]:
    """Seconds late of each placed beep. Recording runs to the end of the track, so the beeps recorded are the
    last ones broadcast, in order (a repeated stretch adds beeps, caught on its own)."""
    expected = BEEPS[max(0, len(BEEPS) - len(placed)):]
    return [round((at - broadcast.broadcast(second)).total_seconds(), 2)
            for at, second in zip(placed[-len(expected):], expected, strict=True)]


@pytest.mark.parametrize("event_id", ["early", "joined", "rtmp"])
def test_beeps_are_placed_when_they_were_broadcast(broadcast: Broadcast, event_id: str) -> None:
    placed = broadcast.beeps_placed(event_id)
    late = _late(placed, broadcast)
    print(event_id, "seconds late per beep:", late)
    facts = broadcast.facts(event_id)
    story = [facts.run.stop_reason, *(f"{c.end_reason}: {c.stderr_tail[-200:]}" for c in facts.connections)]
    assert placed, f"{event_id}: no beep recorded; {story}"
    assert all(abs(x) <= TOLERANCE_S for x in late), f"{event_id}: beeps placed off by {late} s"


def test_on_air_is_when_the_broadcast_started(broadcast: Broadcast) -> None:
    run = broadcast.facts("early").run
    assert run.on_air_at is not None
    off = (run.on_air_at.replace(tzinfo=broadcast.started_at.tzinfo) - broadcast.started_at).total_seconds()
    print("on air off by", round(off, 2), "s")
    assert abs(off) <= TOLERANCE_S


@pytest.mark.parametrize("event_id", ["early", "joined", "rtmp"])
def test_nothing_is_recorded_twice(broadcast: Broadcast, event_id: str) -> None:
    """The playlist stays up, stale, after the publisher stops (nginx-rtmp writes no ENDLIST): its segments
    must not be recorded again, neither on a reconnect nor as look-back."""
    facts = broadcast.facts(event_id)
    placed = broadcast.beeps_placed(event_id)
    assert len(placed) <= len(BEEPS), f"{event_id}: {len(placed)} beeps recorded, {len(BEEPS)} broadcast"
    overlaps = [(a.end_at, b.start_at) for a, b in zip(facts.audio, facts.audio[1:], strict=False)
                if (a.end_at - b.start_at).total_seconds() > 0.35]
    assert overlaps == [], f"{event_id}: audio recorded twice over {overlaps}"
    # Nothing recorded after the broadcast ended.
    assert facts.audio[-1].end_at <= broadcast.stopped_at + timedelta(seconds=TOLERANCE_S)


def test_the_run_says_how_its_times_were_placed(broadcast: Broadcast) -> None:
    reason = broadcast.facts("early").run.stop_reason
    assert "media times estimated from the playlist's live edge (no program date-times)" in reason, reason

