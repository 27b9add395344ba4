"""QR codes and the common barcodes in a frame, with zxing-cpp.

zxing-cpp needs no model and keeps no state between calls, so one :class:`QrReader` serves every thread.
The symbologies are those a broadcast shows to be scanned (QR and its small variants, Data Matrix, Aztec,
PDF417, the retail and Code 128/39 barcodes); ITF, Codabar and DataBar are left out: their loose structure
makes them "found" in stripes and text of an ordinary picture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
import zxingcpp

from livewatch.pipeline.screen import Box
from livewatch.screen.base import MAX_TEXT, Reading, ScreenReader, clean_text, rgb_size

if TYPE_CHECKING:
    from numpy.typing import NDArray

_F = zxingcpp.BarcodeFormat
#: What QrReader looks for.
FORMATS = (_F.QRCode, _F.MicroQRCode, _F.RMQRCode, _F.DataMatrix, _F.Aztec, _F.PDF417,
           _F.EAN13, _F.EAN8, _F.UPCA, _F.UPCE, _F.Code128, _F.Code39)


class QrReader(ScreenReader):
    """Every code zxing-cpp decodes in the frame, upright or turned, normal or inverted (light on dark),
    at the frame's size and downscaled. A decoded code's confidence is 1.0: its error correction checked it.
    The text is zxing-cpp's human-readable form of the content: a control character in it is spelled out
    (``<BEL>``), GS1 data gets its (AI) brackets."""

    name: ClassVar[str] = "qr"

    def __init__(self, *, max_text: int = MAX_TEXT) -> None:
        self.max_text = max_text
        self._formats = zxingcpp.BarcodeFormats(list(FORMATS))

    def read(self, image: NDArray[np.uint8]) -> list[Reading]:
        height, width = rgb_size(image)
        view = zxingcpp.ImageView(np.ascontiguousarray(image), width, height, zxingcpp.ImageFormat.RGB)
        found = zxingcpp.read_barcodes(view, formats=self._formats, try_rotate=True, try_downscale=True,
                                       try_invert=True)
        readings = []
        for code in found:
            text = clean_text(code.text, self.max_text)
            if not code.valid or not text:
                continue
            readings.append(Reading(item="code", text=text, confidence=1.0, box=_bounds(code.position, width, height),
                                    symbology=code.format.name, reader=self.name))
        return readings


def _bounds(position: zxingcpp.Position, width: int, height: int) -> Box:
    """The upright rectangle around a code's four corners (it may be turned), inside the frame."""
    corners = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    xs, ys = [p.x for p in corners], [p.y for p in corners]
    left, top = max(0, min(xs)), max(0, min(ys))
    right, bottom = min(width, max(xs) + 1), min(height, max(ys) + 1)
    return Box(left=left, top=top, width=max(1, right - left), height=max(1, bottom - top))

