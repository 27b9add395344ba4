"""Frame ingestion on real files, a real SQLite queue and real JPEGs: when a frame is complete, where it is
placed, what is never handed on, and what crash recovery queues."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from livewatch.capture.clock import BroadcastClock
from livewatch.capture.context import CaptureContext
from livewatch.capture.frames import MAX_FRAME_BYTES, FrameIngest, check_frame
from livewatch.capture.registry import SourceRegistry
from livewatch.fields import CaptureSettings
from livewatch.pipeline import decode
from livewatch.pipeline.screen import CapturedFrame
from livewatch.queue import SCREEN
from livewatch.state import Database, DataDir, tables
from livewatch.state.runs import Run, RunStore
from livewatch.state.work_queue import SqliteWorkQueue, lane_of_key

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 18), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


class Capture:
    def __init__(self, root: Path, db: Database, **settings: object) -> None:
        self.data = DataDir(root).ensure()
        self.data.ensure_event("ev")
        self.run = Run(1, "ev", "recording", T0, T0 + timedelta(hours=1))  # frames name only its id
        self.db = db
        self.ctx = CaptureContext(self.data, RunStore(db.engine), SqliteWorkQueue(db.engine), SourceRegistry([]),
                                  threading.BoundedSemaphore(1))
        self.frames = FrameIngest(self.ctx, self.run, "ev", 0, CaptureSettings.model_validate(settings))

    def write(self, connection: int, number: int, content: bytes | None = None) -> Path:
        path = self.data.frames_dir("ev") / f"s0-c{connection}-{number:08d}.jpg"
        path.write_bytes(jpeg() if content is None else content)
        return path

    def queued(self) -> list[CapturedFrame]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(tables.work_queue.c.payload_json).where(tables.work_queue.c.queue == SCREEN)
                                .order_by(tables.work_queue.c.id))
            return [decode(CapturedFrame, json.loads(row[0])) for row in rows]


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[Capture]:
    with Database(tmp_path / "livewatch.db") as db:
        yield Capture(tmp_path / "data", db, frames_per_second=2)


def test_a_frame_is_handed_on_once_a_later_one_exists_or_ffmpeg_has_ended(capture: Capture) -> None:
    clock = BroadcastClock(T0)
    plan = capture.frames.plan(7)
    assert plan is not None
    assert plan.frames_per_second == 2.0
    assert plan.pattern == capture.data.frames_dir("ev") / "s0-c7-%08d.jpg"
    assert plan.metadata.exists()  # created by livewatch, so ffmpeg never opens a planted link's target
    capture.write(7, 1)
    assert capture.frames.ingest(7, clock) == 0  # the newest may be half-written
    capture.write(7, 2)
    capture.write(7, 3)
    assert capture.frames.ingest(7, clock) == 2
    assert capture.frames.ingest(7, clock, final=True) == 1
    frames = capture.queued()
    # Frame n shows output second n / fps of the connection, placed by the connection's clock.
    assert [frame.at for frame in frames] == [T0 + timedelta(seconds=s) for s in (0.5, 1.0, 1.5)]
    assert [frame.connection for frame in frames] == [7, 7, 7]
    assert {frame.interval_s for frame in frames} == {0.5}
    # The frame's time in whole milliseconds: only digits after the lane, so the queue sees one lane per stream.
    assert frames[0].queue_key == f"{capture.run.id}:0:screen:{round((T0 + timedelta(seconds=0.5)).timestamp() * 1000)}"
    assert lane_of_key(frames[0].queue_key) == frames[0].lane


def test_connections_never_mix_and_a_skipped_number_is_found(capture: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("livewatch.capture.frames.RESCAN_S", 0.0)
    clock = BroadcastClock(T0)
    for number in (10, 11, 14):  # ffmpeg's first frame may be late; a jump in timestamps skips numbers
        capture.write(3, number)
    capture.write(4, 0)
    assert capture.frames.ingest(3, clock, final=True) == 3
    assert [frame.at for frame in capture.queued()] == [T0 + timedelta(seconds=s) for s in (5, 5.5, 7)]
    assert {frame.path.name for frame in capture.queued()} == {"s0-c3-00000010.jpg", "s0-c3-00000011.jpg",
                                                                "s0-c3-00000014.jpg"}


def test_links_and_what_is_not_a_small_jpeg_are_never_handed_on(capture: Capture, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(jpeg())
    folder = capture.data.frames_dir("ev")
    (folder / "s0-c1-00000000.jpg").symlink_to(secret)
    capture.write(1, 1, b"<html>not a picture</html>")
    capture.write(1, 2, b"")
    capture.write(1, 3)
    assert check_frame(folder / "s0-c1-00000000.jpg") == "not a plain file"
    assert check_frame(folder / "s0-c1-00000001.jpg") == "not a JPEG file"
    assert check_frame(folder / "s0-c1-00000002.jpg") == "0 bytes"
    big = capture.write(1, 4, b"\xff\xd8" + b"\0" * MAX_FRAME_BYTES)
    assert check_frame(big) == f"{MAX_FRAME_BYTES + 2} bytes"
    capture.frames.ingest(1, BroadcastClock(T0), final=True)
    assert [frame.path.name for frame in capture.queued()] == ["s0-c1-00000003.jpg"]
    assert capture.frames.refused == 4


def test_recovery_queues_only_what_a_dead_connection_left_unhanded(capture: Capture, tmp_path: Path) -> None:
    for number in range(3):
        capture.write(5, number)
    assert capture.frames.ingest(5, BroadcastClock(T0)) == 2  # then the monitor died
    capture.write(5, 3)
    with Database(tmp_path / "livewatch.db") as db:
        restarted = Capture(tmp_path / "data", db, frames_per_second=2)
        # The restarted monitor places the dead connection by its start, not by its live clock: a frame
        # handed on before would come again under another time.
        assert restarted.frames.recover(5, BroadcastClock(T0 + timedelta(seconds=3))) == 2
        names = [frame.path.name for frame in restarted.queued()]
    assert names == [f"s0-c5-{n:08d}.jpg" for n in range(4)]


def test_frames_off_plans_and_queues_nothing(tmp_path: Path) -> None:
    with Database(tmp_path / "livewatch.db") as db:
        capture = Capture(tmp_path / "data", db, frames=False)
        capture.write(1, 0)
        assert capture.frames.plan(1) is None
        assert capture.frames.ingest(1, BroadcastClock(T0), final=True) == 0


def test_an_unusable_frames_folder_means_no_frames_not_no_recording(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    data.event_dir("ev").mkdir(parents=True)
    data.frames_dir("ev").write_bytes(b"a file where the folder goes")
    assert data.ensure_event("ev") == data.event_dir("ev")  # media, audio and transcripts are there
    assert data.audio_dir("ev").is_dir()
    with Database(tmp_path / "livewatch.db") as db:
        assert Capture(tmp_path / "data", db).frames.plan(1) is None
