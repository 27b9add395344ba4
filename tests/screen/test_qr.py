"""The QR reader on real frames: zxing-cpp's codes overlaid by ffmpeg on testsrc2, saved as JPEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from livewatch.errors import ScreenError
from livewatch.screen.base import MAX_TEXT, screen_readers
from livewatch.screen.qr import QrReader
from tests.screen.conftest import WECHAT_LINK, FrameMaker, code_png, pixels

READER = QrReader()


def test_a_wechat_code_on_a_frame_is_read_with_its_place(make_frame: FrameMaker, wechat_qr: Path) -> None:
    frame = make_frame("qr-readable", t=1.0, overlay=wechat_qr, at=(700, 60))
    [reading] = READER.read(pixels(frame))
    assert (reading.item, reading.text, reading.confidence) == ("code", WECHAT_LINK, 1.0)
    assert (reading.symbology, reading.reader) == ("QRCode", "qr")
    # The quiet zone is part of the overlay; the code's finder patterns start a few modules in.
    box = reading.box
    assert 700 <= box.left <= 700 + 24
    assert 60 <= box.top <= 60 + 24
    assert 110 <= box.width <= 150
    assert 110 <= box.height <= 150


def test_a_code_too_small_to_read_gives_nothing(make_frame: FrameMaker, frames_dir: Path) -> None:
    # Below one pixel per module nothing can be decoded: the reader must not guess.
    tiny = code_png(frames_dir / "tiny.png", WECHAT_LINK, scale=1)
    Image.open(tiny).resize((22, 22)).save(tiny)
    assert READER.read(pixels(make_frame("qr-tiny", overlay=tiny, at=(700, 60)))) == []


def test_plain_moving_test_pictures_hold_no_codes(make_frame: FrameMaker) -> None:
    for t in (0.0, 2.5, 4.0):
        assert READER.read(pixels(make_frame(f"plain-{t:g}", t=t))) == []


def test_a_turned_inverted_code_and_a_retail_barcode_are_read(make_frame: FrameMaker, frames_dir: Path) -> None:
    code = code_png(frames_dir / "alipay.png", "HTTPS://QR.ALIPAY.COM/FKX12345ABCDE", scale=4)
    turned = make_frame("qr-turned-inverted", overlay=code, at=(300, 150), vf="transpose=1,negate")
    assert [r.text for r in READER.read(pixels(turned))] == ["HTTPS://QR.ALIPAY.COM/FKX12345ABCDE"]
    ean = code_png(frames_dir / "ean.png", "6901234567892", zxingcpp.BarcodeFormat.EAN13, scale=3)
    [reading] = READER.read(pixels(make_frame("ean13", overlay=ean, at=(200, 300))))
    assert (reading.text, reading.symbology) == ("6901234567892", "EAN13")


def test_a_hostile_payload_is_bounded_and_loses_control_characters(make_frame: FrameMaker,
                                                                   frames_dir: Path) -> None:
    payload = "https://x.example/\u202egnp.exe\x07" + "A" * 2500
    code = code_png(frames_dir / "hostile.png", payload, scale=2)
    [reading] = READER.read(pixels(make_frame("qr-hostile", overlay=code, at=(20, 20))))
    assert len(reading.text) == MAX_TEXT
    # zxing-cpp spells a control character out; the bidi override that would turn the text around is gone.
    assert reading.text.startswith("https://x.example/gnp.exe<BEL>AAA")


def test_only_rgb_pixels_are_taken() -> None:
    with pytest.raises(ScreenError, match="RGB uint8"):
        READER.read(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ScreenError, match="RGB uint8"):
        READER.read(np.zeros((10, 10, 3), dtype=np.float32))


def test_the_readers_are_registered_under_their_names() -> None:
    assert {"qr", "ocr"} <= set(screen_readers.names())
    assert screen_readers.get("qr") is QrReader
