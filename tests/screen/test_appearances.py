"""Appearances: a code or a line from the frame it was first read in to the last, across missed reads and
unchanged frames; the real readers and change detector over a sequence of real frames, then the rules of
identity one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from livewatch.errors import ScreenError
from livewatch.pipeline.screen import Box, CapturedFrame
from livewatch.screen.appearances import AppearanceTracker
from livewatch.screen.base import Reading, read_frame
from livewatch.screen.change import ChangeDetector
from livewatch.screen.qr import QrReader
from tests.screen.conftest import WECHAT_LINK, FrameMaker, code_png, pixels

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def frame(second: int, path: Path | None = None, *, stream: int = 0) -> CapturedFrame:
    return CapturedFrame(event_id="ev", run_id=7, stream=stream, connection=1,
                         path=path or Path(f"frames/{second:05d}.jpg"), at=T0 + timedelta(seconds=second),
                         interval_s=1.0)


def line(text: str, confidence: float = 0.9, box: Box | None = None) -> Reading:
    return Reading(item="text", text=text, confidence=confidence,
                   box=box or Box(left=40, top=440, width=520, height=40), reader="ocr")


def code(payload: str = WECHAT_LINK, box: Box | None = None) -> Reading:
    return Reading(item="code", text=payload, confidence=1.0, box=box or Box(left=700, top=60, width=120, height=120),
                   symbology="QRCode", reader="qr")


def test_a_code_shown_for_a_while_is_one_appearance(make_frame: FrameMaker, wechat_qr: Path) -> None:
    """The stage's loop on real frames: seconds 0-1 plain, 2-5 with the code (4 too small to read: a missed
    read), 6-8 plain again. Unchanged frames are not read."""
    plain = make_frame("plain-0")
    shown = make_frame("qr-readable", t=1.0, overlay=wechat_qr, at=(700, 60))
    small = code_png(wechat_qr.parent / "small.png", WECHAT_LINK, scale=1)
    Image.open(small).resize((20, 20)).save(small)
    missed = make_frame("qr-missed", t=1.0, overlay=small, at=(700, 60))
    sequence = [plain, plain, shown, shown, missed, shown, plain, plain, plain]
    detector, tracker, readers = ChangeDetector(), AppearanceTracker(), [QrReader()]
    closed, reads = [], 0
    for second, path in enumerate(sequence):
        image = pixels(path)
        readings = None
        if detector.changed(image):
            readings, reads = read_frame(readers, image), reads + 1
        closed += tracker.see(frame(second, path), readings)
        if second == 3:
            [on_screen] = tracker.open_items()
            assert on_screen.end_at == T0 + timedelta(seconds=4)
    assert tracker.flush() == []
    assert reads == 5  # 0, 2, 4, 5 and 6; 1, 3, 7 and 8 were unchanged
    [item] = closed
    assert (item.start_at, item.end_at) == (T0 + timedelta(seconds=2), T0 + timedelta(seconds=6))
    assert (item.item, item.text, item.reader, item.symbology) == ("code", WECHAT_LINK, "qr", "QRCode")
    assert (item.payload_class, item.host) == ("wechat-personal", "u.wechat.com")
    assert (item.run_id, item.stream, item.frame) == (7, 0, shown)
    assert 700 <= item.box.left <= 724


def test_an_item_closes_after_more_missed_reads_than_tolerated() -> None:
    tracker = AppearanceTracker(missed_reads=1)
    assert tracker.see(frame(0), [code()]) == []
    assert tracker.see(frame(1), []) == []
    [item] = tracker.see(frame(2), [])
    assert item.end_at == T0 + timedelta(seconds=1)
    strict = AppearanceTracker(missed_reads=0)
    strict.see(frame(0), [code()])
    [item] = strict.see(frame(1), [])
    assert item.end_at == T0 + timedelta(seconds=1)


def test_an_unchanged_frame_is_the_last_read_again() -> None:
    tracker = AppearanceTracker(missed_reads=1)
    tracker.see(frame(0), [code(), line("全网最低价")])
    tracker.see(frame(1), [code()])  # the line missed once
    [on_screen, missed] = tracker.open_items()
    assert (on_screen.item, missed.item, missed.end_at) == ("code", "text", T0 + timedelta(seconds=1))
    [gone] = tracker.see(frame(2), None)  # missed again: closed where it was last seen
    assert (gone.item, gone.start_at, gone.end_at) == ("text", T0, T0 + timedelta(seconds=1))
    for second in range(3, 10):
        assert tracker.see(frame(second), None) == []
    [item] = tracker.flush()
    assert (item.item, item.start_at, item.end_at) == ("code", T0, T0 + timedelta(seconds=10))


def test_ocr_jitter_is_the_same_line_and_the_best_reading_is_kept() -> None:
    tracker = AppearanceTracker()
    moved = Box(left=44, top=438, width=515, height=42)
    tracker.see(frame(0, Path("f0.jpg")), [line("全网最低价 电话13812345678", 0.80)])
    tracker.see(frame(1, Path("f1.jpg")), [line("全网最低价电话1381234567B", 0.95, moved)])
    tracker.see(frame(2, Path("f2.jpg")), [line("全网最低价 電話13812345678", 0.85)])
    [item] = tracker.flush()
    assert (item.text, item.confidence, item.frame, item.box) == ("全网最低价电话1381234567B", 0.95, Path("f1.jpg"),
                                                                  moved)
    assert (item.start_at, item.end_at, item.payload_class, item.host) == (T0, T0 + timedelta(seconds=3), None, None)


def test_other_text_or_the_same_text_elsewhere_is_another_line() -> None:
    tracker = AppearanceTracker()
    elsewhere = Box(left=40, top=40, width=520, height=40)
    tracker.see(frame(0), [line("全网最低价 电话13812345678"), line("全网最低价 电话13812345678", box=elsewhere)])
    tracker.see(frame(1), [line("限时秒杀 今晚八点"), line("全网最低价 电话13812345678", box=elsewhere)])
    items = tracker.flush()
    assert sorted((i.text, i.box.top, i.start_at.second, i.end_at.second) for i in items) == [
        ("全网最低价 电话13812345678", 40, 0, 2),
        ("全网最低价 电话13812345678", 440, 0, 1),
        ("限时秒杀 今晚八点", 440, 1, 2),
    ]


def test_a_code_is_one_item_wherever_it_is_and_however_often() -> None:
    tracker = AppearanceTracker()
    other_place = Box(left=10, top=10, width=100, height=100)
    tracker.see(frame(0), [code(), code(box=other_place)])
    tracker.see(frame(1), [code(box=other_place), code("https://qm.qq.com/cgi-bin/qm/qr?k=abc")])
    items = tracker.flush()
    assert [(i.text, i.payload_class, i.start_at.second, i.end_at.second) for i in items] == [
        (WECHAT_LINK, "wechat-personal", 0, 2), ("https://qm.qq.com/cgi-bin/qm/qr?k=abc", "qq", 1, 2)]


def test_frames_of_another_stream_are_refused_and_old_frames_ignored(caplog: pytest.LogCaptureFixture) -> None:
    tracker = AppearanceTracker()
    tracker.see(frame(5), [code()])
    with pytest.raises(ScreenError, match="stream 1"):
        tracker.see(frame(6, stream=1), [])
    assert tracker.see(frame(5), []) == []
    assert tracker.see(frame(3), []) == []
    assert "not after the last frame" in caplog.text
    [item] = tracker.flush()
    assert item.end_at == T0 + timedelta(seconds=6)


def test_settings_are_checked() -> None:
    with pytest.raises(ScreenError, match="missed_reads"):
        AppearanceTracker(missed_reads=-1)
    with pytest.raises(ScreenError, match="text_similarity"):
        AppearanceTracker(text_similarity=0)


def test_a_gap_in_the_frames_ends_every_appearance() -> None:
    tracker = AppearanceTracker(missed_reads=1)
    tracker.see(frame(0), [code()])
    tracker.see(frame(1), [code()])
    tracker.see(frame(3), [code()])  # one frame lost: within the misses tolerated
    [before] = tracker.see(frame(60), [code()])  # the capture was down for a minute
    assert (before.start_at, before.end_at) == (T0, T0 + timedelta(seconds=4))
    [after] = tracker.flush()
    assert (after.start_at, after.end_at) == (T0 + timedelta(seconds=60), T0 + timedelta(seconds=61))
