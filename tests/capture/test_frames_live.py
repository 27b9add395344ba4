"""The capture's frame stream, for real: a local live HLS origin with a moving test picture, the real monitor and
ffmpeg. Frames come about one a second, each queued once for the screen readers at the audio's wall clock; a
stream without video, a frames folder that cannot be used and frames that cannot be written all still record
their sound."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from livewatch.demo.origin import SAMPLE_RATE
from livewatch.pipeline import decode
from livewatch.pipeline.screen import CapturedFrame
from livewatch.queue import SCREEN
from livewatch.state import Database, DataDir, tables
from tests.capture.conftest import RunFacts, capture_only, now, run_facts, run_monitor_until_idle, write_event
from tests.support.origin import LiveOrigin, wait_for_playlist

pytestmark = pytest.mark.slow

#: Connection ids the "frames cannot be written" event may get (ids count over the whole database).
CONNECTION_IDS = range(1, 40)


class SoundOnlyOrigin(LiveOrigin):
    """The same live origin with no video track at all (a radio-style stream)."""

    def encoder_argv(self, *, append: bool) -> list[str]:
        flags = "delete_segments+program_date_time+omit_endlist+temp_file" + ("+append_list" if append else "")
        return [
            "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning", "-y",
            "-re", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={SAMPLE_RATE},volume=0.05",
            "-map", "0:a:0", "-c:a", "aac", "-b:a", "64k", "-ar", str(SAMPLE_RATE), "-ac", "1",
            "-f", "hls", "-hls_time", f"{self.segment_seconds:g}", "-hls_list_size", str(self.list_size),
            "-hls_flags", flags, "-hls_segment_filename", str(self.workdir / "seg_%05d.ts"), str(self.playlist_path),
        ]  # fmt: skip


@dataclass
class Recorded:
    data: DataDir
    windows: dict[str, tuple[datetime, datetime]]

    def facts(self, event_id: str) -> RunFacts:
        return run_facts(self.data, event_id)

    def frames(self, event_id: str) -> list[CapturedFrame]:
        """The frames queued for the screen readers from ``event_id``'s run, in queue order."""
        run_id = self.facts(event_id).run.id
        with Database(self.data.database, migrate=False) as db, db.engine.connect() as conn:
            rows = conn.execute(select(tables.work_queue.c.item_key, tables.work_queue.c.payload_json)
                                .where(tables.work_queue.c.queue == SCREEN).order_by(tables.work_queue.c.id))
            frames = [(key, decode(CapturedFrame, json.loads(payload))) for key, payload in rows]
        assert all(key == frame.queue_key for key, frame in frames)
        return [frame for key, frame in frames if frame.run_id == run_id]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    root = tmp_path_factory.mktemp("frames")
    schedules = root / "schedules"
    schedules.mkdir()
    data = DataDir(root / "data").ensure()
    # A file where the frames folder goes: the capture cannot use it.
    data.event_dir("frames-folder-taken").mkdir(parents=True)
    data.frames_dir("frames-folder-taken").write_bytes(b"not a folder")
    # Folders where ffmpeg's JPEG writer puts its temporary files: every frame fails to be written.
    unwritable = data.frames_dir("frames-unwritable")
    unwritable.mkdir(parents=True)
    for connection in CONNECTION_IDS:
        for number in range(4):
            (unwritable / f"s0-c{connection}-{number:08d}.jpg.tmp").mkdir()
    with LiveOrigin(root / "origin") as picture, SoundOnlyOrigin(root / "sound-only") as sound:
        for origin in (picture, sound):
            origin.start()
        for origin in (picture, sound):
            wait_for_playlist(origin.url, min_segments=2)
        t0 = now()
        windows = {name: (t0 + timedelta(seconds=1), t0 + timedelta(seconds=11))
                   for name in ("framed", "sound-only", "frames-folder-taken", "frames-unwritable")}
        for name, (start, end) in windows.items():
            write_event(schedules, name, sound.url if name == "sound-only" else picture.url, start, end)
        run_monitor_until_idle(capture_only(data.root), schedules, timeout=40)
        yield Recorded(data, windows)


def test_frames_come_about_once_a_second_each_queued_once_on_the_audios_clock(recorded: Recorded) -> None:
    facts = recorded.facts("framed")
    frames = recorded.frames("framed")
    files = sorted(recorded.data.frames_dir("framed").glob("*.jpg"))
    audio_start, audio_end = facts.audio[0].start_at, facts.audio[-1].end_at
    audio_s = (audio_end - audio_start).total_seconds()
    assert audio_s >= 8
    # About one per second of recorded sound (the last second's frame may or may not be written).
    assert abs(len(files) - audio_s) <= 2.5, (len(files), audio_s)
    assert sorted(frame.path for frame in frames) == files  # every file queued, none twice
    assert len({frame.queue_key for frame in frames}) == len(frames)
    times = [frame.at for frame in frames]
    assert times == sorted(times)
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(abs(step - 1.0) < 0.01 for step in steps), steps
    # On the audio's clock: the frames span what the sound spans, within a second at either end.
    assert abs((times[0] - audio_start).total_seconds()) < 1.0
    assert abs((times[-1] + timedelta(seconds=1) - audio_end).total_seconds()) < 1.0
    assert {frame.connection for frame in frames} == {row.id for row in facts.connections}
    assert all(frame.interval_s == 1.0 and frame.stream == 0 for frame in frames)
    assert all(path.read_bytes()[:2] == b"\xff\xd8" for path in files)
    metadata = recorded.data.frames_dir("framed") / f"s0-c{facts.connections[0].id}.picture.txt"
    assert metadata.exists()  # ffmpeg's black/frozen metadata (a moving test picture: nothing in it)


def test_a_stream_without_video_records_its_sound_with_frames_on(recorded: Recorded) -> None:
    facts = recorded.facts("sound-only")
    assert facts.run.status == "finished"
    assert (facts.audio[-1].end_at - facts.audio[0].start_at).total_seconds() >= 8
    assert not facts.coverage_breaks()
    assert recorded.frames("sound-only") == []
    assert not list(recorded.data.frames_dir("sound-only").glob("*.jpg"))


@pytest.mark.parametrize("event_id", ["frames-folder-taken", "frames-unwritable"])
def test_frames_that_cannot_be_written_never_stop_the_sound(recorded: Recorded, event_id: str) -> None:
    facts = recorded.facts(event_id)
    assert facts.run.status == "finished"
    assert (facts.audio[-1].end_at - facts.audio[0].start_at).total_seconds() >= 8
    assert not facts.coverage_breaks()
    assert len(facts.connections) == 1
    assert recorded.frames(event_id) == []
    if event_id == "frames-unwritable":  # ffmpeg tried, and dropped the frame output alone
        assert "Slave muxer #0 failed" in facts.connections[0].stderr_tail
