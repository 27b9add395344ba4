"""What reading the screen costs: CPU per stream for the capture alone, with the frame stream, and with the readers.

Two pictures, ``--minutes`` each, 1280x720 at 25 fps with an AAC tone, H.264 at about 2.5 Mbit/s in MPEG-TS (what a
platform sends), generated once and cached:

* talking head: a slide (a title and three lines of Chinese) under fine sensor noise that changes every frame,
  a new slide every minute: what most forums look like;
* busy: ``testsrc2`` moving across the whole picture: the worst case, every frame differs.

For each, three variants side by side in one run, each ffmpeg reading the file as fast as it can (the bench
measures CPU, not wall time; a live capture spends the same CPU over the stream's real time):

1. capture: the capture's own ffmpeg argv (``record_args``, the file served over HTTP on 127.0.0.1) with its two
   outputs (the stream copied into MPEG-TS segments, 16 kHz mono WAV segments for Whisper);
2. + frames: the same argv with the frame output (``frame_args``): the video decoded, 1 frame per second scaled
   to at most 960 px wide as JPEG, through ``blackdetect`` and ``freezedetect`` into the picture metadata file;
3. + readers: variant 2, and every frame through the change detector, and the changed ones through the QR reader
   (zxing-cpp) and the OCR reader (RapidOCR): ``livewatch.screen``'s own readers where they are installed, else
   stand-ins on the same libraries (marked in the output).

ffmpeg's CPU is its user+system time (``wait4``); the readers' is this process's CPU time around them (all
threads: onnxruntime's too). Reported per stream: CPU seconds per stream-minute, and cores (CPU seconds per
second of media: what one live stream keeps busy). The goal (issue 18): on a talking head the readers add under
0.05 of a core. A busy picture is bounded by the change detector and, beyond it, by an OCR cap of ``--ocr-cap``
frames per minute (the capped row counts the measured cost of the frames the cap lets through).

    .venv/bin/python bench/vision.py [--minutes 2] [--ocr-cap 6] [--cache DIR]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import importlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livewatch.capture.base import ResolvedStream  # noqa: E402
from livewatch.capture.commands import FramePlan, RecordPlan, record_args  # noqa: E402
from livewatch.demo.picture import CJK_FONT  # noqa: E402

SIZE, RATE, FRAMES_PER_S, MAX_WIDTH = "1280x720", 25, 1.0, 960
SLIDES = (("星河科技 年度粉丝大会", "议程：开场致辞", "嘉宾介绍", "互动问答"),
          ("过去一年的成绩", "用户数增长", "新产品上线", "社区活动"),
          ("明年的计划", "更多城市", "更多合作伙伴", "谢谢大家"))
Rgb = npt.NDArray[np.uint8]


def slide_filter(minutes: int, folder: Path) -> str:
    """drawtext steps that show slide k from minute k, then sensor-like noise over the whole picture."""
    steps = []
    for k in range(minutes):
        lines = SLIDES[k % len(SLIDES)]
        for row, text in enumerate(lines):
            name = folder / f"slide-{k}-{row}.txt"
            name.write_text(text, encoding="utf-8")
            size = 64 if row == 0 else 44
            steps.append(f"drawtext=fontfile={CJK_FONT}:textfile={name.name}:fontsize={size}:fontcolor=0x1d3557:"
                         f"x=120:y={120 + row * 120}:enable='gte(t,{k * 60})*lt(t,{k * 60 + 60})'")
    return ",".join([*steps, "noise=alls=6:allf=t"])


def generate(kind: str, minutes: int, cache: Path) -> Path:
    """The picture's file, made once per kind and length."""
    out = cache / f"{kind}-{minutes}min.ts"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    seconds = minutes * 60
    if kind == "talking-head":
        video = ["-f", "lavfi", "-i", f"color=c=0xf1faee:size={SIZE}:rate={RATE}:duration={seconds}"]
        filters = ["-vf", slide_filter(minutes, cache)]
    else:
        video = ["-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={RATE}:duration={seconds}"]
        filters = []
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *video,
            "-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=44100:duration={seconds}", *filters,
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k",
            "-g", str(2 * RATE), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-f", "mpegts",
            str(out.with_suffix(".tmp"))]  # fmt: skip
    print(f"generating {out.name} (once) ...", flush=True)
    subprocess.run(argv, check=True, cwd=cache)
    out.with_suffix(".tmp").replace(out)
    return out


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """``folder`` over HTTP on 127.0.0.1: the capture reads a URL, never a file (its protocol whitelist)."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Not every request on the terminal."""


def capture_argv(url: str, work: Path, *, frames: bool) -> list[str]:
    """The capture's own argv (:func:`livewatch.capture.commands.record_args`): stream copy and 16 kHz WAV
    segments, and with ``frames`` the frame output (1 fps, at most 960 px, JPEG, blackdetect + freezedetect)."""
    for sub in ("media", "audio", "frames"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    plan = RecordPlan(work / "media" / "s0-%06d.ts", work / "audio" / "s0-%06d.wav",
                      work / "media" / "s0-000000.media.csv", work / "audio" / "s0-000000.audio.csv", 0, 10)
    frame_plan = FramePlan(work / "frames" / "s0-%08d.jpg", work / "frames" / "s0.picture.txt",
                           frames_per_second=FRAMES_PER_S, max_width=MAX_WIDTH)
    return record_args(ResolvedStream(url, url, "progressive"), plan, rw_timeout_s=15,
                       frames=frame_plan if frames else None)


def run_ffmpeg(argv: Sequence[str]) -> float:
    """Run ffmpeg to the end; its CPU seconds (user + system)."""
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # -progress pipe:1
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"ffmpeg failed ({process.returncode}): {' '.join(argv)}")
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Readers:
    source: str  # "livewatch.screen" or "stand-ins"
    changed: Callable[[Rgb], bool]
    qr: Callable[[Rgb], list[Any]]
    ocr: Callable[[Rgb], list[Any]]


def readers() -> Readers:
    """livewatch.screen's change detector and readers; stand-ins on the same libraries until they are merged."""
    try:  # by name: helper "readers" builds these modules, and the bench runs before and after they land
        change, qr_module, ocr_module = (importlib.import_module(f"livewatch.screen.{name}")
                                         for name in ("change", "qr", "ocr"))
    except ImportError:
        return stand_ins()
    detector, qr, ocr = change.ChangeDetector(), qr_module.QrReader(), ocr_module.OcrReader()
    return Readers("livewatch.screen", detector.changed, qr.read, ocr.read)


def stand_ins() -> Readers:
    import zxingcpp
    from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped,unused-ignore]

    engine = RapidOCR()
    last: list[npt.NDArray[np.bool_]] = []

    def changed(image: Rgb) -> bool:
        # A 16x16 difference hash; more than 10 of its 256 bits flipped is a new picture (noise flips a few).
        small = np.asarray(Image.fromarray(image).convert("L").resize((17, 16), Image.Resampling.BILINEAR),
                           dtype=np.int16)
        bits = small[:, 1:] > small[:, :-1]
        new = not last or int(np.count_nonzero(bits != last[0])) > 10
        last[:] = [bits]
        return new

    def ocr(image: Rgb) -> list[Any]:
        result, _ = engine(image)
        return list(result or [])

    return Readers("stand-ins", changed, lambda image: list(zxingcpp.read_barcodes(image)), ocr)


@dataclass(frozen=True)
class Read:
    frames: int
    changed: int
    cpu_s: float  # decode + detector + QR + OCR on the changed frames
    capped_cpu_s: float  # the same, OCR only on the changed frames the cap lets through
    capped_ocr: int


def read_frames(folder: Path, tools: Readers, cap_per_minute: int) -> Read:
    frames = sorted(folder.glob("*.jpg"))
    base = ocr_all = ocr_capped = 0.0
    changed = capped = 0
    window: list[float] = []  # media seconds of the last OCR runs (a minute's worth)
    for index, path in enumerate(frames):
        at = index / FRAMES_PER_S
        began = time.process_time()
        image = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
        new = tools.changed(image)
        if new:
            tools.qr(image)
        base += time.process_time() - began
        if not new:
            continue
        changed += 1
        began = time.process_time()
        tools.ocr(image)
        spent = time.process_time() - began
        ocr_all += spent
        window[:] = [t for t in window if at - t < 60]
        if cap_per_minute <= 0 or len(window) < cap_per_minute:
            window.append(at)
            ocr_capped += spent
            capped += 1
    return Read(len(frames), changed, base + ocr_all, base + ocr_capped, capped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=2, help="Length of each picture (a slide per minute).")
    parser.add_argument("--ocr-cap", type=int, default=6, help="OCR at most this many frames a minute (capped row).")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "livewatch-bench-vision",
                        help="Where the generated pictures are kept between runs.")
    args = parser.parse_args()
    media_s = args.minutes * 60.0
    tools = readers()
    args.cache.mkdir(parents=True, exist_ok=True)
    server, base_url = serve(args.cache)
    print(f"{args.minutes} min per picture, {SIZE} {RATE} fps; frames at {FRAMES_PER_S:g}/s ≤{MAX_WIDTH} px; "
          f"readers: {tools.source}; {os.cpu_count()} cores here")
    rows: list[tuple[str, str, float, str]] = []
    added: dict[str, float] = {}
    for kind in ("talking-head", "busy"):
        source = generate(kind, args.minutes, args.cache)
        with tempfile.TemporaryDirectory(prefix="livewatch-vision-") as scratch:
            capture = run_ffmpeg(capture_argv(f"{base_url}/{source.name}", Path(scratch) / "capture", frames=False))
            frames_work = Path(scratch) / "frames"
            with_frames = run_ffmpeg(capture_argv(f"{base_url}/{source.name}", frames_work, frames=True))
            read = read_frames(frames_work / "frames", tools, args.ocr_cap)
        detail = f"{read.changed} of {read.frames} frames changed, all OCR'd"
        rows += [(kind, "capture", capture, ""), (kind, "+ frames", with_frames, "decode, 1 fps JPEG, black/freeze"),
                 (kind, "+ readers", with_frames + read.cpu_s, detail)]
        if read.capped_ocr < read.changed:
            rows.append((kind, f"+ readers, OCR ≤{args.ocr_cap}/min", with_frames + read.capped_cpu_s,
                         f"{read.capped_ocr} of {read.changed} changed frames OCR'd"))
        added[kind] = read.cpu_s / media_s
    server.shutdown()
    print(f"\n{'picture':13} {'variant':24} {'CPU s':>7} {'CPU s/stream-min':>16} {'cores/stream':>12}  notes")
    for kind, variant, cpu, notes in rows:
        print(f"{kind:13} {variant:24} {cpu:7.1f} {cpu / args.minutes:16.2f} {cpu / media_s:12.4f}  {notes}")
    head = added["talking-head"]
    verdict = "met" if head < 0.05 else "MISSED"
    print(f"\nthe readers add {head:.4f} of a core on a talking head (goal < 0.05: {verdict}); "
          f"{added['busy']:.4f} on a busy picture")


if __name__ == "__main__":
    main()
