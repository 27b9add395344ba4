"""A stream's screen memory (livewatch/screen/memory.py) through the store: it survives its JSON form, and a
restarted stage continues the appearances the last one left open, on the one-machine SQLite state."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from livewatch.errors import ScreenError
from livewatch.monitor.screen_stage import ScreenStage
from livewatch.pipeline.run_status import FINISHED
from livewatch.pipeline.screen import Box
from livewatch.screen.base import Reading
from livewatch.screen.change import dhash
from livewatch.screen.memory import (
    OpenAppearance,
    StreamMemory,
    TrackerMemory,
    memory_json,
    memory_of_json,
    reference_array,
    reference_of,
)
from livewatch.screen.qr import QrReader
from tests.screen_stage.media import WECHAT, screen_video
from tests.screen_stage.test_screen_service import START, _queue_frames, _session

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_memory_survives_its_json_form() -> None:
    code = Reading("code", WECHAT, 1.0, Box(320, 30, 200, 200), "QRCode", "qr")
    line = Reading("text", "扫码加微信 ｖｘ１２３", 0.83, Box(10, 300, 400, 40), None, "ocr")
    hashed = dhash(np.random.default_rng(7).integers(0, 256, (360, 640, 3), dtype=np.uint8))
    memory = StreamMemory(
        TrackerMemory((OpenAppearance(code, AT, code, Path("/data/events/forum/frames/s0-c0-00000005.jpg"),
                                      code.box, AT + timedelta(seconds=3), 1.0, ("a", "a", "a"), 0),
                       OpenAppearance(line, AT, line, Path("/x.jpg"), line.box, AT, 1.0, ("k1", "k2", "k3"), 1)),
                      AT + timedelta(seconds=3), 1.0),
        reference_of(hashed), (WECHAT, "扫码加微信"), 2, ((None, AT), (2, AT + timedelta(seconds=1))),
        (Path("/x.jpg"),), (line,), AT, True)
    again = memory_of_json(memory_json(memory))
    assert again == memory
    restored = reference_array(again.reference)
    assert restored is not None
    assert np.array_equal(restored, hashed)


def test_a_memory_that_cannot_be_read_is_named() -> None:
    with pytest.raises(ScreenError, match="version"):
        memory_of_json('{"v": 99}')
    with pytest.raises(ScreenError, match="cannot be read"):
        memory_of_json('{"v": 1, "open": [{}]}')


def test_a_restarted_monitor_continues_what_was_on_screen(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from livewatch.monitor.screen import ScreenService

    session = _session(tmp_path)
    run = session.runs.open_run("forum", START, START + timedelta(hours=1))
    assert run is not None
    frames = _queue_frames(session, screen_video(tmp_path), run.id, 0)
    before = ScreenService(session)  # its threads not started: frames read one call at a time
    for _ in frames[:9]:  # the code is on screen from 5 s
        assert before.process_one()
    after = ScreenService(session)  # the monitor restarted
    with caplog.at_level(logging.INFO):
        assert not after.stage.read(frames[8]).read  # read before the restart: passed over
    assert "was read already" in caplog.text
    while after.process_one():
        pass
    # Restarted once more after the last frame was read: its screen service finishes the stream, once.
    session.runs.finish_run(run.id, FINISHED, "test")
    ScreenService(session).finish_streams()
    assert session.screen.unfinished_lanes() == []
    assert not after.stage.finish(run.id, 0)
    items = session.screen.items(run.id)
    assert [(i.text, i.start_at, i.end_at) for i in items] == [
        (WECHAT, START + timedelta(seconds=5), START + timedelta(seconds=12))]
    assert items[0].frame.is_file()


def test_an_unusable_memory_starts_the_stream_afresh(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    session = _session(tmp_path)
    run = session.runs.open_run("forum", START, START + timedelta(hours=1))
    assert run is not None
    frames = _queue_frames(session, screen_video(tmp_path, seconds=8, code=(2, 6), black=None), run.id, 0)
    assert session.screen.save_lane_memory("forum", run.id, 0, frames[0].path.parent, '{"v": 1}', START)
    stage = ScreenStage(session.screen, session.data, [QrReader()])
    for frame in frames:
        stage.read(frame)
    assert "not usable" in caplog.text
    assert stage.finish(run.id, 0)
    assert [(i.start_at, i.end_at) for i in session.screen.items(run.id)] == [
        (START + timedelta(seconds=2), START + timedelta(seconds=6))]


def test_a_reader_that_lost_its_lane_unawares_leaves_the_stream_to_the_one_that_read_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = _session(tmp_path)
    run = session.runs.open_run("forum", START, START + timedelta(hours=1))
    assert run is not None
    frames = _queue_frames(session, screen_video(tmp_path, seconds=8, code=(2, 6), black=None), run.id, 0)
    # Every frame kept, so the stale reader still finds the one it reads (with "evidence", only the frames
    # the other reader keeps as evidence would be left to read).
    stale = ScreenStage(session.screen, session.data, [QrReader()], keep_frames="all")
    stale.read(frames[0])
    current = ScreenStage(session.screen, session.data, [QrReader()], keep_frames="all")  # took the lane over
    for frame in frames[1:4]:
        current.read(frame)
    stale.read(frames[1])  # not later than what the other saved: refused
    assert "another reader has read past" in caplog.text
    assert stale.streams() == []  # it let the stream go
    kept = session.screen.lane_memory(run.id, 0)
    assert kept is not None
    assert memory_of_json(kept.memory_json).tracker.last_at == frames[3].at
