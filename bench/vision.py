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
3. + readers: variant 2, and every frame through the monitor's own screen stage (``ScreenStage.read``): the change
   detector, the QR reader (zxing-cpp) on each changed frame, and OCR (RapidOCR) on each changed frame, then
   at most once per ``--costly-interval`` seconds (``[screen] costly_interval_s``, the default's 2 s).

ffmpeg's CPU is its user+system time (``wait4``); the readers' is this process's CPU time around them (all
threads: onnxruntime's too). Reported per stream: CPU seconds per stream-minute, and cores (CPU seconds per
second of media: what one live stream keeps busy). The goal (issue 18): on a talking head the readers add under
0.05 of a core. A busy picture is bounded by the change detector only where it stands still; beyond it, by the
costly-reader interval.

    .venv/bin/python bench/vision.py [--minutes 2] [--costly-interval 2] [--cache DIR]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livewatch.capture.base import ResolvedStream  # noqa: E402
from livewatch.capture.commands import FramePlan, RecordPlan, record_args  # noqa: E402
from livewatch.demo.picture import CJK_FONT  # noqa: E402

SIZE, RATE, FRAMES_PER_S, MAX_WIDTH = "1280x720", 25, 1.0, 960
SLIDES = (("星河科技 年度粉丝大会", "议程：开场致辞", "嘉宾介绍", "互动问答"),
          ("过去一年的成绩", "用户数增长", "新产品上线", "社区活动"),
          ("明年的计划", "更多城市", "更多合作伙伴", "谢谢大家"))


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


class _NoStore:
    """The screen store's two writes, kept nowhere: the bench measures reading, not the database."""

    def record_items(self, items: Sequence[Any], *, keys: Sequence[str] | None = None) -> int:
        return 0

    def record_spells(self, spells: Sequence[Any]) -> None:
        return None


@dataclass(frozen=True)
class Read:
    frames: int
    read: int  # frames the readers ran on (the code reader: every changed frame)
    ocr_reads: int
    cpu_s: float  # decode + change detector + readers, through the screen stage


def read_frames(folder: Path, costly_interval_s: float) -> Read:
    """Every frame through the monitor's own screen stage (``ScreenStage.read``: the change detector, the code
    reader on each changed frame, OCR at most once per ``costly_interval_s``); its CPU, this process's."""
    from livewatch.monitor.screen_stage import ScreenStage, build_readers
    from livewatch.pipeline.screen import CapturedFrame
    from livewatch.settings import ScreenSettings
    from livewatch.state import DataDir

    readers = build_readers(ScreenSettings())
    ocr = next(r for r in readers if r.costly)
    calls = [0]
    original = ocr.read

    def counted(image: Any) -> list[Any]:
        calls[0] += 1
        return original(image)

    ocr.read = counted  # type: ignore[method-assign]
    ocr.read(np.zeros((64, 64, 3), dtype=np.uint8))  # the model loads once per process, not per stream
    calls[0] = 0
    stage = ScreenStage(_NoStore(), DataDir(folder.parent), readers, keep_frames="all",  # type: ignore[arg-type]
                        costly_interval_s=costly_interval_s)
    zero = datetime(2026, 1, 1, tzinfo=UTC)
    frames = sorted(folder.glob("*.jpg"))
    read = 0
    began = time.process_time()
    for index, path in enumerate(frames):
        frame = CapturedFrame("bench", 1, 0, 0, path, zero + timedelta(seconds=index / FRAMES_PER_S),
                              1 / FRAMES_PER_S)
        read += stage.read(frame).read
    return Read(len(frames), read, calls[0], time.process_time() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=2, help="Length of each picture (a slide per minute).")
    parser.add_argument("--costly-interval", type=float, default=2.0,
                        help="[screen] costly_interval_s for the bounded row (the default's).")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "livewatch-bench-vision",
                        help="Where the generated pictures are kept between runs.")
    args = parser.parse_args()
    media_s = args.minutes * 60.0
    args.cache.mkdir(parents=True, exist_ok=True)
    server, base_url = serve(args.cache)
    print(f"{args.minutes} min per picture, {SIZE} {RATE} fps; frames at {FRAMES_PER_S:g}/s ≤{MAX_WIDTH} px; "
          f"OCR at most once per {args.costly_interval:g} s (0: every changed frame); {os.cpu_count()} cores here")
    rows: list[tuple[str, str, float, str]] = []
    added: dict[str, float] = {}
    for kind in ("talking-head", "busy"):
        source = generate(kind, args.minutes, args.cache)
        with tempfile.TemporaryDirectory(prefix="livewatch-vision-") as scratch:
            capture = run_ffmpeg(capture_argv(f"{base_url}/{source.name}", Path(scratch) / "capture", frames=False))
            frames_work = Path(scratch) / "frames"
            with_frames = run_ffmpeg(capture_argv(f"{base_url}/{source.name}", frames_work, frames=True))
            every = read_frames(frames_work / "frames", 0.0)
            bounded = read_frames(frames_work / "frames", args.costly_interval)
        rows += [(kind, "capture", capture, ""), (kind, "+ frames", with_frames, "decode, 1 fps JPEG, black/freeze"),
                 (kind, "+ readers, OCR every change", with_frames + every.cpu_s,
                  f"{every.read} of {every.frames} frames read, {every.ocr_reads} OCR'd"),
                 (kind, f"+ readers, OCR ≤1/{args.costly_interval:g} s", with_frames + bounded.cpu_s,
                  f"{bounded.read} of {bounded.frames} frames read, {bounded.ocr_reads} OCR'd")]
        added[kind] = bounded.cpu_s / media_s
    server.shutdown()
    print(f"\n{'picture':13} {'variant':28} {'CPU s':>7} {'CPU s/stream-min':>16} {'cores/stream':>12}  notes")
    for kind, variant, cpu, notes in rows:
        print(f"{kind:13} {variant:28} {cpu:7.1f} {cpu / args.minutes:16.2f} {cpu / media_s:12.4f}  {notes}")
    head = added["talking-head"]
    verdict = "met" if head < 0.05 else "MISSED"
    print(f"\nthe readers add {head:.4f} of a core on a talking head (goal < 0.05: {verdict}); "
          f"{added['busy']:.4f} on a busy picture")


if __name__ == "__main__":
    main()
