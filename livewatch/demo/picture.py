"""The demo's picture: a slide-like stage with a moving camera inset, and the screen plants laid over it.

A script may declare what its picture shows (:class:`Shown`): a QR code (made with zxing-cpp) or a banner (drawn
by ffmpeg's ``drawtext`` in Noto Sans CJK), each for a few seconds from the start of one of its lines, and which
rule of the default pack must find it on the screen. The origin's encoder draws it all live
(:meth:`Picture.encoder_video`); :func:`render_argv` writes the same picture to a file, which is how the tests
read it back with the real readers.

The camera inset is ``testsrc2``: it moves on every frame, so the picture is never frozen (a frozen picture is a
finding of its own) and the stage is no plain colour. Everything ffmpeg reads from files (the codes, the texts) is
named relative to the encoder's working folder, so no path ever needs filtergraph escaping. The shows are timed
on the encoder's own clock: a restarted encoder (``append_list``) would show them again, so only an origin that
runs once (the demo's) should carry them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

from livewatch.demo.script import Shown
from livewatch.errors import LivewatchError

#: Debian's fonts-noto-cjk: simplified Chinese in the first face of the collection is drawn with its glyphs.
CJK_FONT: Final = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
WIDTH: Final = 960  # what the frame stream keeps (frame_max_width): no scaling between the picture and the readers
HEIGHT: Final = 540
FPS: Final = 10
#: Pixels per QR module: a 29-module code (a WeChat link) is 6·37 = 222 px with its quiet zone.
QR_SCALE: Final = 6
_SAFE_PATH_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-")


class PictureError(LivewatchError):
    """The demo's picture cannot be drawn (no CJK font, a code that cannot be made)."""


@dataclass(frozen=True)
class ShownAt:
    """A :class:`Shown` placed on the broadcast's media clock (seconds from the start of the track)."""

    shown: Shown
    start_s: float
    end_s: float

    def enable(self) -> str:
        """ffmpeg's timeline option: on from ``start_s`` to ``end_s``."""
        return f"enable='between(t,{self.start_s:.3f},{self.end_s:.3f})'"


def schedule(shows: Sequence[Shown], line_starts: Sequence[float]) -> tuple[ShownAt, ...]:
    """Each show on the media clock, given when each line of the script starts in the track."""
    placed = []
    for shown in shows:
        if not 0 <= shown.line < len(line_starts):
            raise PictureError(f"a {shown.kind} is shown with line {shown.line}, but the script has "
                               f"{len(line_starts)} lines")
        start = line_starts[shown.line] + shown.offset_s
        placed.append(ShownAt(shown, round(start, 3), round(start + shown.duration_s, 3)))
    return tuple(placed)


def qr_image(payload: str, scale: int = QR_SCALE) -> Image.Image:
    """A QR code carrying ``payload``, black on white with its quiet zone, ``scale`` pixels per module."""
    import zxingcpp

    code = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode)
    pixels = np.asarray(zxingcpp.write_barcode_to_image(code, scale=scale, add_quiet_zones=True), dtype=np.uint8)
    return Image.fromarray(pixels).convert("RGB")


def check_font(font: Path = CJK_FONT) -> Path:
    """The CJK font drawtext uses; its path goes into the filtergraph as it is, so only plain characters."""
    if not font.is_file():
        raise PictureError(f"the Chinese font {font} is not installed (Debian/Ubuntu: sudo apt-get install "
                           "fonts-noto-cjk)")
    if not set(str(font)) <= _SAFE_PATH_CHARS:
        raise PictureError(f"the font path {font} has characters the filtergraph would need escaped")
    return font


@dataclass(frozen=True)
class Picture:
    """The demo's stage: ``title`` at the top, a moving camera inset, and ``shows`` over it."""

    title: str
    shows: tuple[ShownAt, ...] = ()
    font: Path = CJK_FONT
    fps: int = FPS

    def files(self) -> dict[str, str | Image.Image]:
        """What the encoder reads, by file name in its working folder: text files and QR images."""
        files: dict[str, str | Image.Image] = {"title.txt": self.title}
        for index, placed in enumerate(self.shows):
            if placed.shown.kind == "qr":
                files[f"qr-{index}.png"] = qr_image(placed.shown.content)
            else:
                files[f"banner-{index}.txt"] = placed.shown.content
        return files

    def prepare(self, folder: Path) -> None:
        """Write :meth:`files` into ``folder``, the encoder's working folder."""
        check_font(self.font)
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in self.files().items():
            if isinstance(content, str):
                (folder / name).write_text(content, encoding="utf-8")  # drawtext reads UTF-8
            else:
                content.save(folder / name)

    def inputs(self, *, paced: bool) -> tuple[list[str], list[str]]:
        """ffmpeg's arguments for the stage (input 0) and for the QR images (inputs 2 and on: input 1 is the
        audio); ``paced`` reads the stage at its frame rate (``-re``), as a live encoder must."""
        stage = ["-re"] if paced else []
        stage += ["-f", "lavfi", "-i", f"color=c=0x14213d:size={WIDTH}x{HEIGHT}:rate={self.fps}"]
        images: list[str] = []
        for index, placed in enumerate(self.shows):
            if placed.shown.kind == "qr":
                images += ["-i", f"qr-{index}.png"]
        return stage, images

    def filter_complex(self) -> str:
        """The filtergraph from input 0 (the stage) and the QR inputs to ``[picture]``."""
        font = check_font(self.font)
        text = f"fontfile={font}:fontcolor=white"
        # testsrc2 prints a clock and a frame count in its top-left corner: cropped off, they are no screen text.
        steps = [f"testsrc2=size=384x256:rate={self.fps},crop=384:216:0:40[camera]",
                 "[0:v][camera]overlay=x=48:y=120[stage]",
                 f"[stage]drawtext={text}:textfile=title.txt:fontsize=34:x=48:y=44[s0]"]
        image = 2
        for index, placed in enumerate(self.shows):
            before, after = f"s{index}", f"s{index + 1}"
            if placed.shown.kind == "qr":
                steps.append(f"[{before}][{image}:v]overlay=x=W-w-72:y=96:{placed.enable()}[{after}]")
                image += 1
            else:
                steps.append(f"[{before}]drawtext={text}:textfile=banner-{index}.txt:fontsize=40:"
                             "box=1:boxcolor=0xc1121f:boxborderw=18:x=(w-text_w)/2:y=h-th-60:"
                             f"{placed.enable()}[{after}]")
        steps.append(f"[s{len(self.shows)}]format=yuv420p[picture]")
        return ";".join(steps)

    def encoder_video(self, audio: Sequence[str], *, paced: bool = True) -> list[str]:
        """Inputs and filtergraph for an encoder whose audio input (input 1) is ``audio``; map ``[picture]``."""
        stage, images = self.inputs(paced=paced)
        return [*stage, *audio, *images, "-filter_complex", self.filter_complex()]


def render_argv(picture: Picture, out: Path, duration_s: float) -> list[str]:
    """ffmpeg writing ``duration_s`` of ``picture`` (silent) to ``out`` as fast as it can: what the origin
    broadcasts, for reading back offline. Run it in the folder :meth:`Picture.prepare` wrote."""
    silence = ["-f", "lavfi", "-i", "anullsrc=channel_layout=mono:sample_rate=44100"]
    return ["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error", "-y",
            *picture.encoder_video(silence, paced=False),
            "-map", "[picture]", "-map", "1:a:0", "-t", f"{duration_s:g}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
            str(out)]  # fmt: skip
