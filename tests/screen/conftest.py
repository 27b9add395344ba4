"""Real frames for the screen tests: ffmpeg's testsrc2 picture at the capture's frame size (960x540), with codes
overlaid by ffmpeg from zxing-cpp's own images and text drawn by ffmpeg's drawtext in Noto CJK, written as
JPEG the way the capture writes frames. Built once per test session."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from livewatch.screen.base import load_image

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
WIDTH, HEIGHT = 960, 540
WECHAT_LINK = "https://u.wechat.com/EKr7x_Jb0bM4aXnKR4yAbCs"
CHINESE_BANNER = "全网最低价 电话13812345678"
ENGLISH_BANNER = "Limited offer today only"

FrameMaker = Callable[..., Path]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True,
                   timeout=60)


def code_png(path: Path, content: str, fmt: zxingcpp.BarcodeFormat = zxingcpp.BarcodeFormat.QRCode,
             scale: int = 4) -> Path:
    """A code as zxing-cpp draws it (black on white, with its quiet zone), ``scale`` px per module."""
    image = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(content, fmt), scale=scale)
    Image.fromarray(np.asarray(image)).save(path)
    return path


def drawtext(text: str, *, size: int, x: int, y: int, color: str = "white") -> str:
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    return (f"drawtext=fontfile={FONT}:text='{escaped}':fontsize={size}:fontcolor={color}:box=1:"
            f"boxcolor=black@0.85:boxborderw=8:x={x}:y={y}")


@pytest.fixture(scope="session")
def frames_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("frames")


@pytest.fixture(scope="session")
def make_frame(frames_dir: Path) -> FrameMaker:
    """``make_frame(name, t=0.0, vf="", overlay=None, at=(x, y))``: the testsrc2 picture at second ``t`` with
    the filter chain ``vf`` applied and the PNG ``overlay`` put on at ``at``, as a JPEG. Cached by name."""

    def make(name: str, *, t: float = 0.0, vf: str = "", overlay: Path | None = None,
             at: tuple[int, int] = (0, 0)) -> Path:
        out = frames_dir / f"{name}.jpg"
        if out.exists():
            return out
        source = ["-f", "lavfi", "-i", f"testsrc2=s={WIDTH}x{HEIGHT}:r=25:d={t + 1:g}"]
        chain = f"trim=start={t:g},setpts=PTS-STARTPTS" + (f",{vf}" if vf else "")
        if overlay is None:
            ffmpeg(*source, "-vf", chain, "-frames:v", "1", "-q:v", "3", str(out))
        else:
            graph = f"[0:v]{chain}[bg];[bg][1:v]overlay={at[0]}:{at[1]}"
            ffmpeg(*source, "-i", str(overlay), "-filter_complex", graph, "-frames:v", "1", "-q:v", "3", str(out))
        return out

    return make


@pytest.fixture(scope="session")
def wechat_qr(frames_dir: Path) -> Path:
    return code_png(frames_dir / "wechat.png", WECHAT_LINK, scale=4)


@pytest.fixture(scope="session")
def banner_frame(make_frame: FrameMaker) -> Path:
    """Chinese text in a banner near the bottom and English near the top, over testsrc2."""
    vf = ",".join([drawtext(CHINESE_BANNER, size=40, x=40, y=440),
                   drawtext(ENGLISH_BANNER, size=36, x=40, y=60, color="yellow")])
    return make_frame("banner", vf=vf)


def pixels(path: Path) -> np.ndarray:
    return load_image(path)
