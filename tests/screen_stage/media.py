"""Real test media for the screen stage: a test-pattern video with a QR code shown for a while and a spell
of black picture, made with ffmpeg and zxing-cpp."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import zxingcpp
from PIL import Image

#: A personal WeChat contact link, the kind of code the default pack calls traffic diversion.
WECHAT = "https://u.wechat.com/EHxQm3yYc8Fh-example"


def qr_png(folder: Path, text: str = WECHAT, scale: int = 8) -> Path:
    """A QR code of ``text`` as a PNG, ``scale`` px a module (quiet zone included)."""
    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode)
    bitmap = zxingcpp.write_barcode_to_image(code, scale=scale)
    path = folder / "code.png"
    Image.fromarray(np.asarray(bitmap, dtype=np.uint8)).convert("RGB").save(path)
    return path


def screen_video(folder: Path, *, seconds: int = 20, code: tuple[int, int] = (5, 12),
                 black: tuple[int, int] | None = (14, 18)) -> Path:
    """A ``seconds`` long 640x360 testsrc2 video with a tone; the QR code is shown from ``code[0]`` to
    ``code[1]`` s and the picture is black from ``black[0]`` to ``black[1]`` s."""
    png = qr_png(folder)
    chain = f"[0:v][1:v]overlay=x=320:y=30:enable='between(t,{code[0]},{code[1]})'"
    if black is not None:
        chain += f",drawbox=c=black:t=fill:enable='between(t,{black[0]},{black[1]})'"
    out = folder / "recording.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=d={seconds}:s=640x360:r=10",
                    "-loop", "1", "-i", str(png), "-f", "lavfi", "-i", f"sine=d={seconds}",
                    "-filter_complex", chain + "[v]", "-map", "[v]", "-map", "2:a", "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)],
                   check=True)
    return out
