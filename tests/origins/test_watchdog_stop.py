"""Issue 16, item 3: the watchdog stops ffmpeg on a stalled origin mid-segment, and no recorded second is lost.

A stalled HLS input leaves ffmpeg blocked in its playlist wait, where only a second SIGINT reaches it; that
one fails every write too, so the segment being written is neither listed nor finalised (its WAV sizes are
``0xffffffff``). ffmpeg writes a segment's WAV in 256 KiB blocks (8.2 s at 16 kHz), so the origin stalls once
the first block is on disk: before the fix those 8.2 s were never in ``segments`` nor transcribed.
"""

from __future__ import annotations

import struct
import subprocess
import threading
import time
import wave
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from livewatch.capture.recovery import INTERRUPTED_NOTE, repair_wav_header
from livewatch.capture.segments import wav_seconds
from livewatch.monitor import Monitor
from livewatch.state import Database, DataDir, tables
from tests.capture.conftest import capture_only, now, run_facts, write_event
from tests.support.origin import LiveOrigin, wait_for_playlist

pytestmark = pytest.mark.slow

#: One WAV block as ffmpeg flushes it: the first bytes of a segment that reach the disk.
WAV_BLOCK = 256 * 1024


def _stall_once_written(origin: LiveOrigin, audio_dir: Path, deadline: float) -> None:
    """Stall the origin as soon as the open audio segment has a block on disk (mid-segment, by design)."""
    while time.monotonic() < deadline:
        if any(path.stat().st_size >= WAV_BLOCK for path in audio_dir.glob("s0-*.wav")):
            origin.stall()
            return
        time.sleep(0.1)


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def _closed_connections(data: DataDir) -> int:
    if not data.database.exists():
        return 0
    with Database(data.database, migrate=False) as db, db.engine.connect() as conn:
        table = tables.connections
        return len(list(conn.execute(select(table.c.id).where(table.c.ended_at.is_not(None)))))


def test_watchdog_stop_keeps_the_segment_being_written(tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data")
    with LiveOrigin(tmp_path / "origin", segment_seconds=1) as origin:
        origin.start()
        wait_for_playlist(origin.url, min_segments=2)
        t0 = now()
        # One long segment, so the stall always falls inside the first one; the window outlasts the
        # watchdog's stop, so it is the watchdog (not the end of the window) that stops ffmpeg.
        write_event(schedules, "stalls", origin.url, t0 + timedelta(seconds=1), t0 + timedelta(seconds=22),
                    segment_seconds=60, stall_timeout_s=2, stop_timeout_s=4)
        stall = threading.Thread(target=_stall_once_written,
                                 args=(origin, data.audio_dir("stalls"), time.monotonic() + 30), daemon=True)
        stall.start()
        monitor = Monitor(capture_only(data.root), [schedules], reload_interval=0.5, horizon=timedelta(minutes=10))
        monitor.start()
        runner = threading.Thread(target=monitor.run_until_idle, daemon=True)
        runner.start()
        try:
            # What happens after the watchdog's stop (reconnecting to a stale playlist) is not this test's
            # business: the monitor is stopped once the first connection is closed.
            closed = _wait_for(lambda: _closed_connections(data) >= 1, timeout=45)
        finally:
            monitor.request_stop()
            runner.join(30)
            monitor.shutdown()
        stall.join(5)
        assert closed, "the watchdog never stopped ffmpeg"

    facts = run_facts(data, "stalls")
    assert any("(watchdog)" in (c.end_reason or "") for c in facts.connections), facts.connections
    on_disk = {path.name: wav_seconds(path) for path in data.audio_dir("stalls").glob("s0-*.wav")}
    registered = {Path(row.path).name: row for row in facts.audio}
    lost = sum(seconds for name, seconds in on_disk.items() if seconds > 0 and name not in registered)
    assert lost == 0, f"{lost:.1f} s of audio on disk but not in segments: {on_disk} vs {list(registered)}"
    partial = [row for row in facts.audio if row.status == "partial"]
    assert partial, "the segment being written when the watchdog stopped ffmpeg was not recovered"
    for row in partial:
        assert row.note == INTERRUPTED_NOTE
        assert (row.end_at - row.start_at).total_seconds() == pytest.approx(on_disk[Path(row.path).name], abs=0.01)
        head = Path(row.path).read_bytes()[:8]
        assert struct.unpack("<I", head[4:8])[0] == Path(row.path).stat().st_size - 8  # the header repaired
    # Every second registered is queued for transcription, and no empty file is registered as media.
    assert facts.queued == sum(row.status != "corrupt" for row in facts.audio)
    assert all(Path(row.path).stat().st_size > 0 for row in facts.media)


def test_cut_off_ffmpeg_wav_is_repaired_behind_its_list_chunk(tmp_path: Path) -> None:
    """ffmpeg's WAV header is 78 bytes (a LIST/INFO chunk precedes ``data``); a cut-off one reads again."""
    wav = tmp_path / "s0-000007.wav"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=16000:duration=2", "-ac", "1", "-c:a", "pcm_s16le", str(wav)],
                   check=True, timeout=30)
    data = bytearray(wav.read_bytes())
    assert data[36:40] == b"LIST"  # what the old 44-byte repair refused to touch
    data_at = data.index(b"data")
    cut = data[: data_at + 8 + 16_000]  # 0.5 s of audio, the sizes as a cut-off ffmpeg leaves them
    cut[4:8] = cut[data_at + 4:data_at + 8] = b"\xff\xff\xff\xff"
    wav.write_bytes(bytes(cut))
    repair_wav_header(wav)
    with wave.open(str(wav)) as reader:
        assert reader.getnframes() == 8_000
    assert wav_seconds(wav) == pytest.approx(0.5)
