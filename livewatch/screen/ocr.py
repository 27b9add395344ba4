"""Lines of text in a frame, Chinese and English, with RapidOCR (PaddleOCR's PP-OCRv4 models on ONNX Runtime;
the models ship inside the ``rapidocr-onnxruntime`` wheel, so nothing is downloaded).

The engine takes a second or two and ~100 MB to load, and is not safe to call from two threads at once (it
keeps per-call settings on itself): one engine per process (per detection size), built on the first read,
every call under one lock. See docs/screen.md for the time a frame takes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from livewatch.errors import ScreenError
from livewatch.pipeline.screen import Box
from livewatch.screen.base import MAX_TEXT, Reading, ScreenReader, clean_text, rgb_size

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: The longest line OCR keeps: a banner line on a 960 px frame holds well under 100 characters.
MAX_LINE = 500

#: RapidOCR's own default: the picture is scaled so that its short side is this long before text is looked
#: for (a 960x540 frame is scaled up to 1309x736; small text is found better, at twice the cost of 540).
DETECT_SIDE = 736

_engines: dict[int, Any] = {}
_engine_lock = threading.Lock()


def _engine(detect_side: int) -> Any:
    """The process's RapidOCR engine for this detection size, built once (call under the lock)."""
    engine = _engines.get(detect_side)
    if engine is None:
        try:
            from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped]
        except ImportError as err:
            raise ScreenError(f"the OCR screen reader needs rapidocr-onnxruntime, which does not load: {err}") from err
        engine = _engines[detect_side] = RapidOCR(det_limit_side_len=detect_side)
    return engine


class OcrReader(ScreenReader):
    """Every line of text RapidOCR reads with at least ``min_score`` (0..1), as its upright bounding box.
    ``detect_side``: see :data:`DETECT_SIDE` (540 reads a 960x540 frame as it is, about twice as fast)."""

    name: ClassVar[str] = "ocr"

    def __init__(self, *, min_score: float = 0.5, max_text: int = MAX_LINE, detect_side: int = DETECT_SIDE) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ScreenError(f"the OCR reader's min_score must be within 0..1, not {min_score!r}")
        if not 32 <= detect_side <= 4096:
            raise ScreenError(f"the OCR reader's detect_side must be 32..4096 px, not {detect_side!r}")
        self.min_score, self.detect_side = min_score, detect_side
        self.max_text = min(max_text, MAX_TEXT)

    def read(self, image: NDArray[np.uint8]) -> list[Reading]:
        height, width = rgb_size(image)
        # RapidOCR takes an array as OpenCV's BGR.
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        with _engine_lock:
            engine = _engine(self.detect_side)
            result, _elapsed = engine(bgr, text_score=self.min_score)
        readings = []
        for quad, raw_text, raw_score in result or ():
            text = clean_text(str(raw_text), self.max_text)
            score = min(1.0, max(0.0, float(raw_score)))
            if not text or score < self.min_score:
                continue
            readings.append(Reading(item="text", text=text, confidence=score, box=_bounds(quad, width, height),
                                    reader=self.name))
        return readings


def _bounds(quad: Any, width: int, height: int) -> Box:
    """The upright rectangle around a detected line's four corners, inside the frame."""
    points = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
    left, top = max(0, int(np.floor(points[:, 0].min()))), max(0, int(np.floor(points[:, 1].min())))
    right = min(width, int(np.ceil(points[:, 0].max())))
    bottom = min(height, int(np.ceil(points[:, 1].max())))
    return Box(left=left, top=top, width=max(1, right - left), height=max(1, bottom - top))
