"""The picture-health part of the capture's frame filter chain: ffmpeg's ``blackdetect`` and ``freezedetect``
on the low-rate frames, their findings printed by ``metadata=mode=print`` into one file per connection.

A stand-in until ``livewatch.screen.picture.picture_filters`` (same signature and output, the screen readers'
side, which also parses the file) is merged; the capture then imports that one and this module goes.
"""

from __future__ import annotations

from pathlib import Path

#: A pixel darker than this (share of the luma range) counts as black; ffmpeg's default.
BLACK_PIXEL_THRESHOLD = 0.10
#: A picture is black when this share of its pixels is (ffmpeg's default).
BLACK_PICTURE_THRESHOLD = 0.98
#: Noise tolerance of freezedetect: frames closer than this are the same picture (ffmpeg's default, -60 dB).
FREEZE_NOISE_DB = -60


def filter_value(text: str) -> str:
    """``text`` as one option value inside a filter graph string: escaped once for the option parser
    (``\\ ' :``), then again for the graph parser (``\\ ' [ ] , ;``)."""
    for special in ("\\", "'", ":"):
        text = text.replace(special, "\\" + special)
    for special in ("\\", "'", "[", "]", ",", ";"):
        text = text.replace(special, "\\" + special)
    return text


def picture_filters(metadata_path: Path, black_min_s: float, frozen_min_s: float) -> str:
    """Filters (comma-joined, for the end of a video chain) that mark black spells of at least ``black_min_s``
    and frozen spells of at least ``frozen_min_s`` seconds, and print every marked frame's metadata
    (``lavfi.black_start``, ``lavfi.freezedetect.freeze_start`` ...) with its ``pts_time`` to
    ``metadata_path``."""
    return (f"blackdetect=d={black_min_s:g}:pix_th={BLACK_PIXEL_THRESHOLD:g}:pic_th={BLACK_PICTURE_THRESHOLD:g},"
            f"freezedetect=n={FREEZE_NOISE_DB}dB:d={frozen_min_s:g},"
            f"metadata=mode=print:file={filter_value(str(metadata_path))}")
