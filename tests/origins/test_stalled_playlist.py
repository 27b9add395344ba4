"""A playlist with program date-times that stops advancing for good (the encoder gone, the server still up).

Before, the watchdog stopped ffmpeg blocked in its playlist wait; that stop interrupts the writes, so the
audio ffmpeg still held (here the whole last 4 s WAV segment) was lost. The recording then ended before the
playlist's newest segment, the live check saw media newer than what was recorded, and the stale segments
were fetched again, held again and lost again: a reconnect every ~8 s until the window closed. Now ffmpeg
ends by itself (``-m3u8_hold_counters``) before the watchdog would stop it, every output flushed and listed:
one connection, everything the origin served recorded once, and the live check says "not advancing".
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from livewatch.capture.hls import parse_media
from livewatch.state import DataDir
from tests.capture.conftest import capture_only, now, run_facts, run_monitor_until_idle, write_event
from tests.support.origin import LiveOrigin, fetch, wait_for_playlist

pytestmark = pytest.mark.slow


def test_a_stalled_playlist_is_recorded_to_its_end_once_and_not_reconnected(tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data")
    with LiveOrigin(tmp_path / "origin") as origin:
        origin.start()
        wait_for_playlist(origin.url, min_segments=2)
        t0 = now()
        # 4 s audio segments (ffmpeg holds a whole one before writing it); stalled from 7 s to the end.
        write_event(schedules, "stalls", origin.url, t0 + timedelta(seconds=1), t0 + timedelta(seconds=28),
                    segment_seconds=4, stall_timeout_s=6, reconnect_grace_s=30)
        threading.Timer(7, origin.stall).start()
        run_monitor_until_idle(capture_only(data.root), schedules, timeout=60)
        _, body, _ = fetch(origin.url)
    newest = parse_media(body.decode(), origin.url).segments[-1].end_time
    assert newest is not None
    facts = run_facts(data, "stalls")
    story = [(c.end_reason, (c.ended_at - c.started_at).total_seconds()) for c in facts.connections]
    print("connections:", story, "recorded up to", (facts.audio[-1].end_at - newest).total_seconds(), "s of the end")
    # Before: four connections, the last 4 s never recorded (each connection held them, then lost them).
    assert len(facts.connections) == 1, story
    assert facts.connections[0].end_reason == "ffmpeg exited with code 0", story
    assert abs((facts.audio[-1].end_at - newest).total_seconds()) <= 0.5
    assert facts.coverage_breaks() == []
    assert all(row.status != "partial" for row in facts.audio)
