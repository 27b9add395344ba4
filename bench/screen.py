"""Screen readers' cost per frame: OCR, QR and the change detector's hash on 960x540 frames.

    .venv/bin/python bench/screen.py [--frames 10]

The frames are ffmpeg's testsrc2 at the capture's frame size (960x540) with a Chinese and an English banner
drawn in Noto CJK and a WeChat-style QR code overlaid, written as JPEG like the capture's; each is loaded as
the screen stage loads it. Prints the median and the slowest time of each step in milliseconds. OCR's engine
is loaded (and timed) once before the runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zxingcpp
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livewatch.screen.base import load_image  # noqa: E402
from livewatch.screen.change import ChangeDetector  # noqa: E402
from livewatch.screen.ocr import OcrReader  # noqa: E402
from livewatch.screen.qr import QrReader  # noqa: E402

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


def _frames(folder: Path, count: int) -> list[Path]:
    qr = folder / "qr.png"
    code = zxingcpp.create_barcode("https://u.wechat.com/EKr7x_Jb0bM4aXnKR4yAbCs", zxingcpp.BarcodeFormat.QRCode)
    Image.fromarray(np.asarray(zxingcpp.write_barcode_to_image(code, scale=4))).save(qr)
    text = (f"drawtext=fontfile={FONT}:text='全网最低价 电话13812345678':fontsize=40:fontcolor=white:box=1:"
            f"boxcolor=black@0.85:x=40:y=440,drawtext=fontfile={FONT}:text='Limited offer today only':"
            f"fontsize=36:fontcolor=yellow:box=1:boxcolor=black@0.85:x=40:y=60")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=s=960x540:r=1:d={count}", "-i", str(qr), "-filter_complex",
                    f"[0:v]{text}[bg];[bg][1:v]overlay=700:60", "-q:v", "3", str(folder / "frame-%03d.jpg")],
                   check=True)
    return sorted(folder.glob("frame-*.jpg"))


def _time(step: Callable[[], object], runs: int) -> list[float]:
    spent = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = _frames(Path(folder), args.frames)
        images = [load_image(path) for path in paths]
        ocr, qr, detector = OcrReader(), QrReader(), ChangeDetector()
        start = time.perf_counter()
        found = ocr.read(images[0])
        print(f"OCR engine load + first read: {(time.perf_counter() - start) * 1000:.0f} ms; "
              f"lines: {[r.text for r in found]}")
        rows = {
            "load JPEG": [t for path in paths for t in _time(lambda p=path: load_image(p), 1)],
            "change (dHash)": [t for image in images for t in _time(lambda i=image: detector.changed(i), 1)],
            "QR": [t for image in images for t in _time(lambda i=image: qr.read(i), 1)],
            "OCR": [t for image in images for t in _time(lambda i=image: ocr.read(i), 1)],
        }
    for name, times in rows.items():
        print(f"{name:>15}: median {statistics.median(times):7.1f} ms, slowest {max(times):7.1f} ms "
              f"({len(times)} frames of 960x540)")


if __name__ == "__main__":
    main()
