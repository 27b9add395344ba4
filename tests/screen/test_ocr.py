"""The OCR reader on real frames: Chinese and English banners drawn by ffmpeg in Noto CJK over testsrc2."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from livewatch.errors import ScreenError
from livewatch.screen.appearances import normalise
from livewatch.screen.base import Reading, screen_readers
from livewatch.screen.ocr import OcrReader
from tests.screen.conftest import pixels


@pytest.fixture(scope="module")
def readings(banner_frame: Path) -> list[Reading]:
    return OcrReader().read(pixels(banner_frame))


def _line(readings: list[Reading], words: str) -> Reading:
    found = [r for r in readings if words in normalise(r.text)]
    assert len(found) == 1, [r.text for r in readings]
    return found[0]


def test_a_chinese_banner_is_read_with_its_box(readings: list[Reading]) -> None:
    line = _line(readings, "全网最低价")
    assert "13812345678" in line.text
    assert (line.item, line.reader, line.symbology) == ("text", "ocr", None)
    assert 0.8 <= line.confidence <= 1.0
    # drawtext put the text at (40, 440), 40 px high.
    assert 30 <= line.box.left <= 50
    assert 425 <= line.box.top <= 450
    assert 400 <= line.box.width <= 700
    assert 30 <= line.box.height <= 70


def test_an_english_banner_is_read(readings: list[Reading]) -> None:
    line = _line(readings, "limitedoffer")
    assert line.box.top < 120
    assert all(0.5 <= r.confidence <= 1.0 and r.text for r in readings)


def test_lines_below_the_minimum_score_are_dropped(banner_frame: Path, readings: list[Reading]) -> None:
    strict = OcrReader(min_score=0.9999).read(pixels(banner_frame))
    assert {r.text for r in strict} < {r.text for r in readings}
    assert all(r.confidence >= 0.9999 for r in strict)
    with pytest.raises(ScreenError, match="min_score"):
        OcrReader(min_score=2)
    with pytest.raises(ScreenError, match="detect_side"):
        OcrReader(detect_side=10)


def test_one_engine_serves_threads(banner_frame: Path) -> None:
    image = pixels(banner_frame)
    reader = screen_readers.get("ocr")()
    results: list[list[str]] = []

    def read() -> None:
        results.append(sorted(r.text for r in reader.read(image)))

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    assert results[0] == results[1]
    assert results[0]
