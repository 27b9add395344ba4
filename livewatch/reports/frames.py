"""A screen finding's evidence frame, kept beside the report and shown inside it.

The screen stage keeps, for each thing it read, the frame it read it best in (``events/<id>/frames/``); a
finding names that frame relative to the event's folder (:attr:`Finding.frame`) and the box in it. For the
report the frame is copied into ``reports/<event-id>/frames/<finding-id>.jpg`` (what ``findings.json``'s
``frame`` names; the box's pixels are that file's), and a small copy with the box drawn on it is embedded in
``report.html`` as a ``data:`` URI, so the page stays one self-contained file a reviewer opens from disk.

A frame is read without following links (:meth:`DataDir.read_bytes`), its size is bounded before it is
decoded, and a frame that is missing, refused or unreadable becomes a note in the report, never an error:
one bad file must not take the report down.
"""

from __future__ import annotations

import base64
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from livewatch.errors import StateError
from livewatch.i18n import N_
from livewatch.pipeline.findings import Finding
from livewatch.pipeline.screen import Box
from livewatch.state import DataDir

log = logging.getLogger(__name__)

#: The folder inside the report's folder that holds the kept frames.
FRAMES_FOLDER = "frames"
#: A frame file larger than this is not read (the capture writes frames of at most 960 px, ~100-300 KB).
MAX_FRAME_BYTES = 16 * 1024 * 1024
#: Nor one whose header claims more pixels than this (a decompression bomb).
MAX_FRAME_PIXELS = 40_000_000
#: The embedded copy: at most this wide, JPEG at this quality, and at most this many bytes (made smaller
#: until it fits, so a busy frame cannot bloat the page).
THUMBNAIL_WIDTH = 480
THUMBNAIL_QUALITY = 70
MAX_THUMBNAIL_BYTES = 64_000
#: The box's colour and stroke on the embedded copy (magenta: rare in broadcast pictures).
BOX_COLOUR = (255, 0, 170)
BOX_STROKE = 3

_SAFE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


@dataclass(frozen=True, slots=True)
class FrameEvidence:
    """A screen finding's frame as the report keeps it, or why it could not (``note``)."""

    #: The kept frame, relative to the report's folder (``frames/<finding-id>.jpg``); None when not kept.
    file: str | None
    #: The small JPEG with the box drawn on it, for the page (empty when not kept).
    thumbnail: bytes
    #: Why the frame is not kept ('' when it is).
    note: str

    @property
    def data_uri(self) -> str:
        """The thumbnail as a ``data:`` URI ('' when there is none)."""
        if not self.thumbnail:
            return ""
        return "data:image/jpeg;base64," + base64.b64encode(self.thumbnail).decode("ascii")


def keep_frames(data: DataDir, event_id: str, findings: Iterable[Finding], folder: Path) -> dict[str, FrameEvidence]:
    """Copy each screen finding's frame into ``folder/frames/`` and make its thumbnail; returns finding id →
    evidence (a note for a frame that could not be kept). Findings of other channels are skipped."""
    kept: dict[str, FrameEvidence] = {}
    for finding in findings:
        if finding.channel != "screen":
            continue
        kept[finding.id] = _keep(data, event_id, finding, folder)
    return kept


def kept_files(frames: Mapping[str, FrameEvidence]) -> dict[str, str]:
    """Finding id → kept frame file (relative to the report's folder), for the findings document."""
    return {finding_id: evidence.file for finding_id, evidence in frames.items() if evidence.file is not None}


def _not_kept(why: str) -> FrameEvidence:
    return FrameEvidence(None, b"", why)


def _keep(data: DataDir, event_id: str, finding: Finding, folder: Path) -> FrameEvidence:
    if not finding.frame:
        return _not_kept(N_("no frame was recorded for this finding"))
    if not _SAFE_ID.fullmatch(finding.id):
        return _not_kept("the finding's id cannot name a file")
    source = data.event_dir(event_id) / finding.frame
    try:
        raw = data.read_bytes(source)
    except StateError as err:  # a link, a special file, a path leading out of the event's folder
        log.warning("frame of finding %s refused: %s", finding.id, err)
        return _not_kept("the frame file was refused (a link or not a plain file inside the event's folder)")
    if raw is None:
        return _not_kept(N_("the frame file is missing"))
    if len(raw) > MAX_FRAME_BYTES:
        return _not_kept(f"the frame file is larger than {MAX_FRAME_BYTES // (1024 * 1024)} MiB")
    try:
        image, width, original = _decoded(raw)
        thumbnail = thumbnail_jpeg(image, finding.box, frame_width=width)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        log.warning("frame of finding %s unreadable: %s", finding.id, err)
        return _not_kept(N_("the frame file is no readable image"))
    target = folder / FRAMES_FOLDER / f"{finding.id}.jpg"
    data.make_folder(target.parent)
    data.write_whole(target, original)
    return FrameEvidence(f"{FRAMES_FOLDER}/{target.name}", thumbnail, "")


def _decoded(raw: bytes) -> tuple[Image.Image, int, bytes]:
    """The frame decoded as RGB (a JPEG at the smallest scale still as wide as the thumbnail: much less to
    decode), the frame's own width, and the bytes to keep: the file as it is when it is a JPEG (the box's
    pixels stay exact), else the picture re-encoded as one."""
    with Image.open(io.BytesIO(raw)) as opened:
        if opened.width * opened.height > MAX_FRAME_PIXELS:
            raise ValueError(f"{opened.width}x{opened.height} pixels is too large a frame")
        width, is_jpeg = opened.width, opened.format == "JPEG"
        if is_jpeg:
            opened.draft("RGB", (THUMBNAIL_WIDTH, THUMBNAIL_WIDTH * opened.height // opened.width))
        image = opened.convert("RGB")  # decodes the whole picture: a truncated file fails here
    if is_jpeg:
        return image, width, raw
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return image, width, out.getvalue()


def thumbnail_jpeg(image: Image.Image, box: Box | None, *, frame_width: int | None = None) -> bytes:
    """A copy at most :data:`THUMBNAIL_WIDTH` px wide with ``box`` drawn on it, as a JPEG of at most
    :data:`MAX_THUMBNAIL_BYTES` (narrower until it fits). ``box`` is in the pixels of the frame, which was
    ``frame_width`` wide (``image`` may have been decoded smaller); by default ``image``'s own width."""
    width = min(THUMBNAIL_WIDTH, image.width)
    while True:
        encoded = _boxed(image, box, width, (frame_width or image.width))
        if len(encoded) <= MAX_THUMBNAIL_BYTES or width <= 64:
            return encoded
        width = width * 3 // 4


def _boxed(image: Image.Image, box: Box | None, width: int, frame_width: int) -> bytes:
    height = max(round(image.height * width / image.width), 1)
    small = image if image.size == (width, height) else image.resize((width, height), Image.Resampling.LANCZOS)
    small = small.copy()  # drawn on: never the decoded frame itself
    scale = width / frame_width
    if box is not None:
        left = min(max(round(box.left * scale), 0), width - 1)
        top = min(max(round(box.top * scale), 0), height - 1)
        right = min(max(round((box.left + box.width) * scale), left + 1), width - 1)
        bottom = min(max(round((box.top + box.height) * scale), top + 1), height - 1)
        ImageDraw.Draw(small).rectangle((left, top, right, bottom), outline=BOX_COLOUR, width=BOX_STROKE)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return out.getvalue()
