"""The screen-reader port: what a reader finds in one frame (:class:`Reading`), the reader itself
(:class:`ScreenReader`, a plugin kind, entry-point group ``livewatch.screen_readers``), and the one way a frame
file becomes pixels (:func:`load_image`, which refuses anything but a bounded-size JPEG or PNG).

Everything a reader returns comes from a stream origin and is hostile: a decoded payload or an OCR line is
cut to a bounded length and stripped of NUL and other control characters (PostgreSQL refuses NUL in text;
the report escapes the rest), and is never executed or opened.
"""

from __future__ import annotations

import logging
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from PIL import Image, UnidentifiedImageError

from livewatch.errors import ScreenError
from livewatch.plugins import Registry

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from livewatch.pipeline.screen import Box, ScreenKind

log = logging.getLogger(__name__)

#: The longest text a reading keeps (a QR code holds at most ~7000 characters; a payload worth reporting is
#: a link or a number, and the report shows no more).
MAX_TEXT = 2000
#: The largest picture load_image decodes: a frame is at most ``frame_max_width`` (960) px wide, so anything
#: bigger was not written by the capture, and decoding it could take the memory of the whole stage.
MAX_SIDE = 4096
#: The largest frame file load_image opens (a 4096x4096 JPEG of noise is ~12 MB).
MAX_FILE_BYTES = 32 * 1024 * 1024

_SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}
#: Control characters kept in a reading: line breaks and tabs are part of some payloads (a vCard, WIFI:).
_KEPT_CONTROLS = frozenset("\n\t")


@dataclass(frozen=True, slots=True)
class Reading:
    """One thing a reader found in one frame: a code (its decoded payload) or a line of text."""

    item: ScreenKind
    #: The payload or the line, bounded (:data:`MAX_TEXT`) and without control characters (:func:`clean_text`).
    text: str
    #: 0..1: OCR's score for a line; 1.0 for a decoded code (its error correction checked it).
    confidence: float
    #: Where it was, in the frame's pixels.
    box: Box
    #: For a code: its symbology as zxing-cpp names it (``QRCode``, ``EAN13``, ...); None for text.
    symbology: str | None = None
    #: The reader that found it (its registered name); :func:`read_frame` fills it in when a reader leaves
    #: it empty, so a plugin need not.
    reader: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ScreenError(f"a reading's confidence must be within 0..1, not {self.confidence!r}")


class ScreenReader(ABC):
    """Finds codes or text in a frame. A reader is built once (without arguments, or with its settings as
    keyword arguments) and reused for every frame of every stream; a model it needs is loaded lazily, on the
    first read, once per process. ``read`` may be called from several threads."""

    #: The name it is registered under (the entry point's name).
    name: ClassVar[str]

    @abstractmethod
    def read(self, image: NDArray[np.uint8]) -> list[Reading]:
        """Everything found in ``image`` (RGB, uint8, height x width x 3), in no particular order."""


screen_readers: Registry[ScreenReader] = Registry("livewatch.screen_readers", ScreenReader, "screen reader")


def read_frame(readers: Iterable[ScreenReader], image: NDArray[np.uint8]) -> list[Reading]:
    """What every reader finds in ``image``, each reading stamped with its reader's name. A reader that
    raises is logged and skipped, so a broken plugin cannot stop the others (nor the stream's checks)."""
    found: list[Reading] = []
    for reader in readers:
        try:
            readings = reader.read(image)
        except Exception:
            log.exception("the screen reader %r failed on a frame; its readings of this frame are lost", reader.name)
            continue
        found.extend(r if r.reader == reader.name else replace(r, reader=reader.name) for r in readings)
    return found


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` without NUL and other control characters (bar line breaks and tabs) and without format
    characters (bidi overrides, zero-width spaces: they hide or reorder what a reviewer sees), stripped, and cut to
    ``limit`` characters."""
    kept = "".join(ch for ch in text if ch in _KEPT_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    return kept.strip()[:limit]


def rgb_size(image: NDArray[np.uint8]) -> tuple[int, int]:
    """The image's height and width; :class:`ScreenError` unless it is height x width x 3 of uint8 (what a
    reader takes)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ScreenError(f"a screen reader takes RGB uint8 pixels (height x width x 3), not {image.dtype} "
                          f"{image.shape}")
    return int(image.shape[0]), int(image.shape[1])


def load_image(path: Path) -> NDArray[np.uint8]:
    """The frame at ``path`` as RGB pixels (height x width x 3, uint8). Raises :class:`ScreenError` naming the
    file when it is missing, too large, not a JPEG or PNG by its first bytes, larger than :data:`MAX_SIDE`
    on a side (checked from the header, before decoding), or broken."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, 2)
            file.seek(0)
            if size > MAX_FILE_BYTES:
                raise ScreenError(f"the frame {path} is {size} bytes; a frame is at most {MAX_FILE_BYTES}")
            head = file.read(8)
            kind = next((name for magic, name in _SIGNATURES.items() if head.startswith(magic)), None)
            if kind is None:
                raise ScreenError(f"the frame {path} is not a JPEG or PNG file")
            file.seek(0)
            with Image.open(file, formats=[kind]) as picture:
                width, height = picture.size
                if width > MAX_SIDE or height > MAX_SIDE or width < 1 or height < 1:
                    raise ScreenError(f"the frame {path} is {width}x{height} px; a frame is at most "
                                      f"{MAX_SIDE}x{MAX_SIDE}")
                rgb = picture.convert("RGB")
                return np.asarray(rgb, dtype=np.uint8)
    except ScreenError:
        raise
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError) as err:
        raise ScreenError(f"the frame {path} cannot be read: {err}") from err
