"""The reader port: frames loaded only as bounded JPEG/PNG, readings checked and cleaned, readers run together."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from livewatch.errors import ScreenError
from livewatch.pipeline.screen import Box
from livewatch.screen.base import Reading, ScreenReader, clean_text, load_image, read_frame, rgb_size
from tests.screen.conftest import FrameMaker

BOX = Box(left=1, top=2, width=3, height=4)


def test_a_captured_frame_loads_as_rgb_pixels(make_frame: FrameMaker, tmp_path: Path) -> None:
    image = load_image(make_frame("plain-0"))
    assert image.shape == (540, 960, 3)
    assert image.dtype == np.dtype(np.uint8)
    png = tmp_path / "frame.png"
    Image.new("RGBA", (8, 6), (10, 20, 30, 255)).save(png)
    assert load_image(png)[0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "not a JPEG or PNG"),
    (b"GIF89a" + bytes(100), "not a JPEG or PNG"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a JPEG or PNG"),
    (b"\xff\xd8\xff\xe0" + bytes(50), "cannot be read"),
], ids=["empty", "gif", "svg", "broken-jpeg"])
def test_what_is_not_a_jpeg_or_png_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "frame.jpg"
    path.write_bytes(content)
    with pytest.raises(ScreenError, match=message) as caught:
        load_image(path)
    assert str(path) in str(caught.value)


def test_a_truncated_or_missing_frame_is_refused(make_frame: FrameMaker, tmp_path: Path) -> None:
    whole = make_frame("plain-0").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ScreenError, match="cannot be read"):
        load_image(cut)
    with pytest.raises(ScreenError, match="cannot be read"):
        load_image(tmp_path / "missing.jpg")


def test_a_picture_too_large_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    # A 5000x5000 PNG of one colour is a few kB: a decompression bomb in miniature.
    path = tmp_path / "bomb.png"
    Image.new("L", (5000, 5000)).save(path)
    assert path.stat().st_size < 100_000
    with pytest.raises(ScreenError, match="5000x5000 px"):
        load_image(path)


def test_a_reading_has_a_confidence_within_0_and_1() -> None:
    with pytest.raises(ScreenError, match=r"within 0\.\.1"):
        Reading(item="text", text="x", confidence=1.5, box=BOX)


def test_text_is_cleaned_and_bounded() -> None:
    assert clean_text(" a\x00b\u202ec\u200bd\te\nf\x1b ") == "abcd\te\nf"
    assert clean_text("全" * 3000) == "全" * 2000
    assert clean_text("abcdef", limit=3) == "abc"


def test_readers_run_together_stamped_and_a_failing_one_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    class Found(ScreenReader):
        name: ClassVar[str] = "found"

        def read(self, image: np.ndarray) -> list[Reading]:
            return [Reading(item="text", text="hello", confidence=0.9, box=BOX)]

    class Broken(ScreenReader):
        name: ClassVar[str] = "broken"

        def read(self, image: np.ndarray) -> list[Reading]:
            raise RuntimeError("model file missing")

    image = np.zeros((4, 4, 3), dtype=np.uint8)
    assert read_frame([Broken(), Found()], image) == [
        Reading(item="text", text="hello", confidence=0.9, box=BOX, reader="found")]
    assert "broken" in caplog.text
    assert "model file missing" in caplog.text


def test_only_rgb_pixels_are_taken() -> None:
    assert rgb_size(np.zeros((2, 3, 3), dtype=np.uint8)) == (2, 3)
    for bad in (np.zeros((2, 3), dtype=np.uint8), np.zeros((2, 3, 4), dtype=np.uint8),
                np.zeros((0, 3, 3), dtype=np.uint8)):
        with pytest.raises(ScreenError):
            rgb_size(bad)
