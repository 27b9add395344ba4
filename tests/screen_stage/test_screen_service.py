"""The monitor's screen service on real frames: ffmpeg's frames of a test-pattern video with a real QR code
shown for a while and a black spell, queued as the capture queues them and read by the service's threads."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from livewatch.analyze import frames_argv
from livewatch.monitor.check_service import CheckService
from livewatch.pipeline import encode
from livewatch.pipeline.run_status import FINISHED
from livewatch.pipeline.screen import CapturedFrame
from livewatch.queue import FAILED, SCREEN
from livewatch.session import Session
from livewatch.settings import ScreenSettings, Settings
from livewatch.state import tables
from tests.screen_stage.media import WECHAT, screen_video

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def _session(tmp_path: Path, **screen: object) -> Session:
    settings = Settings(data_dir=tmp_path / "data", screen=ScreenSettings.model_validate({"readers": ["qr"], **screen}))
    session = Session.open(settings)
    with session.engine.begin() as conn:
        conn.execute(tables.events.insert().values(
            id="forum", title="Forum", kind="livestream", timezone="Asia/Shanghai", registered_start=START,
            registered_end=START + timedelta(hours=1), source_file="forum.yaml", source_sha256="0" * 64,
            registration_json="{}", updated_at=START))
    return session


def _queue_frames(session: Session, media: Path, run_id: int, stream: int) -> list[CapturedFrame]:
    """The video's frames (1 a second) in the event's frames folder, queued as the capture queues them."""
    folder = session.data.ensure_event("forum") / "frames"
    argv = frames_argv(media, folder, fps=1.0, max_width=960)
    argv[-1] = str(folder / f"s{stream}-c0-%08d.jpg")
    argv[argv.index("-vf") + 1] = argv[argv.index("-vf") + 1].replace("s0-c0.picture", f"s{stream}-c0.picture")
    subprocess.run(argv, check=True)
    frames = [CapturedFrame("forum", run_id, stream, 0, path, START + timedelta(seconds=int(path.stem[-8:])), 1.0)
              for path in sorted(folder.glob(f"s{stream}-c0-*.jpg"))]
    for frame in frames:
        session.queue.put(SCREEN, frame.queue_key, encode(frame))
    return frames


def test_the_service_stores_what_each_stream_showed_and_when(tmp_path: Path) -> None:
    from livewatch.monitor.screen import ScreenService

    session = _session(tmp_path)
    run = session.runs.open_run("forum", START, START + timedelta(hours=1))
    assert run is not None
    media = screen_video(tmp_path)
    frames = _queue_frames(session, media, run.id, 0)
    assert len(frames) == 20
    # A second stream whose first frame is not a picture at all: it fails alone, the rest of it is read.
    others = _queue_frames(session, media, run.id, 1)
    others[0].path.write_bytes(b"#EXTM3U\nnot a frame\n")
    checks = CheckService(session)  # not started: the marks it gets stay pending
    service = ScreenService(session, checks=checks)
    service.start()
    try:
        session.runs.finish_run(run.id, FINISHED, "test")
        deadline = time.monotonic() + 30
        while service.busy({run.id}):
            assert time.monotonic() < deadline, "the screen service did not finish"
            time.sleep(0.2)
    finally:
        service.stop(5)
    assert checks.busy()  # the event was marked for checks (the code appeared, the streams finished)
    items = session.screen.items(run.id)
    assert [(i.stream, i.item, i.text, i.payload_class) for i in items] == [
        (0, "code", WECHAT, "wechat-personal"), (1, "code", WECHAT, "wechat-personal")]
    for item in items:  # shown from 5 s; last read at 11 s (the frame at 12 s is past the overlay's end)
        assert (item.start_at, item.end_at) == (START + timedelta(seconds=5), START + timedelta(seconds=12))
        assert item.frame.is_file()  # the evidence stays
    kept = sorted(p.name for p in (session.data.event_dir("forum") / "frames").glob("*.jpg"))
    assert kept == sorted([item.frame.name for item in items] + ["s1-c0-00000000.jpg"])  # the broken one is left
    spells = session.screen.spells(run.id)
    assert [(s.stream, s.problem) for s in spells if s.problem == "black"] == [(0, "black"), (1, "black")]
    for spell in spells:
        if spell.problem == "black":
            assert (spell.start_at, spell.end_at) == (START + timedelta(seconds=14), START + timedelta(seconds=18))
    with session.engine.connect() as conn:
        failed = conn.execute(tables.work_queue.select().where(tables.work_queue.c.status == FAILED)).all()
    assert [(row.item_key, "is not a JPEG or PNG" in (row.error or "")) for row in failed] == [
        (others[0].queue_key, True)]
    session.close()


def test_every_frame_stays_when_asked(tmp_path: Path) -> None:
    from livewatch.monitor.screen import ScreenService

    session = _session(tmp_path, keep_frames="all")
    run = session.runs.open_run("forum", START, START + timedelta(hours=1))
    assert run is not None
    frames = _queue_frames(session, screen_video(tmp_path, seconds=8, code=(2, 4), black=None), run.id, 0)
    ScreenService(session).drain()
    assert all(frame.path.is_file() for frame in frames)
    [item] = session.screen.items(run.id)
    assert (item.start_at, item.end_at) == (START + timedelta(seconds=2), START + timedelta(seconds=4))
    session.close()


def test_a_line_keeps_the_key_it_was_stored_under_while_ocr_reads_it_better() -> None:
    from livewatch.monitor.screen_stage import stored_keys
    from livewatch.pipeline.screen import Box, ScreenItem

    def line(text: str, start: int) -> ScreenItem:
        return ScreenItem(1, 0, "text", text, START + timedelta(seconds=start), START + timedelta(seconds=9), 0.9,
                          Box(0, 0, 10, 10), Path("f.jpg"), "ocr")

    stored = [(line("全网最低介", 2), "全网最低介"), (line("加微信 abc123", 2), "加微信 abc123")]
    # Both lines appeared in one frame; the first is now read better, and a third line is new.
    batch = [line("加微信 abc123", 2), line("全网最低价", 2), line("限时秒杀", 5)]
    assert stored_keys(stored, batch) == ["加微信 abc123", "全网最低介", "限时秒杀"]
