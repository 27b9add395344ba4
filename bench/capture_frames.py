"""What the frame stream costs the capture: CPU of the capture's ffmpeg with and without its frame output.

    .venv/bin/python bench/capture_frames.py [--seconds 60] [--size 1280x720] [--rate 25] [--fps 1]

A test stream (``testsrc2`` at ``--size`` and ``--rate``, H.264 with AAC, ``--seconds`` long) is encoded once,
then served over HTTP from 127.0.0.1 and recorded twice by the argv livewatch builds
(:func:`livewatch.capture.commands.record_args`, an HTTP stream as a live one is read): once as before, once
with the frame output (:func:`~livewatch.capture.commands.frame_args`). Each recording's CPU seconds (user +
system, of the ffmpeg process alone) are printed, per second of media and as a share of one core, with the
ratio. The frame output decodes every video frame (the media output only copies them), which is most of its
cost; the 1 fps filter chain and the JPEG encoder are small beside it.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livewatch.capture.base import ResolvedStream  # noqa: E402
from livewatch.capture.commands import FramePlan, RecordPlan, record_args  # noqa: E402


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Not every request on the terminal."""


def encode_source(folder: Path, seconds: int, size: str, rate: int) -> Path:
    source = folder / "source.ts"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-g", str(rate * 2), "-c:a", "aac", "-b:a", "64k", str(source)],
        check=True)  # fmt: skip
    return source


def record(folder: Path, url: str, frames: FramePlan | None) -> tuple[float, float]:
    """CPU seconds and wall seconds of one recording of ``url``."""
    for sub in ("media", "audio", "frames"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    plan = RecordPlan(folder / "media" / "s0-%06d.ts", folder / "audio" / "s0-%06d.wav",
                      folder / "media" / "s0-000000.media.csv", folder / "audio" / "s0-000000.audio.csv", 0, 10)
    args = record_args(ResolvedStream(url, url, "progressive"), plan, rw_timeout_s=15, frames=frames)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--rate", type=int, default=25)
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--width", type=int, default=960)
    parser.add_argument("--repeat", type=int, default=2, help="recordings of each kind (the lowest CPU counts)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="livewatch-frames-") as tmp:
        folder = Path(tmp)
        source = encode_source(folder, options.seconds, options.size, options.rate)
        handler = functools.partial(QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/{source.name}"
        results: dict[str, list[tuple[float, float]]] = {"audio and media only": [], "with frames": []}
        for attempt in range(options.repeat):
            for name in results:
                out = folder / f"{attempt}-{name.replace(' ', '-')}"
                frames = None if name != "with frames" else FramePlan(
                    out / "frames" / "s0-c1-%08d.jpg", out / "frames" / "s0-c1.picture.txt", options.fps,
                    options.width)
                results[name].append(record(out, url, frames))
        server.shutdown()
        written = len(list(folder.glob("*/frames/*.jpg")))
    print(f"{options.seconds} s of {options.size} at {options.rate} fps (H.264 + AAC), frames at {options.fps:g}/s, "
          f"at most {options.width} px wide ({written} frames written)")
    best = {}
    for name, runs in results.items():
        cpu, wall = min(runs)
        best[name] = cpu
        print(f"  {name:22} {cpu:6.2f} CPU s  ({cpu / options.seconds:.3f} of a core while live; "
              f"recorded in {wall:.1f} s)")
    base, framed = best["audio and media only"], best["with frames"]
    print(f"  ratio with/without frames: {framed / base:.2f}  (+{(framed - base) / options.seconds:.3f} of a core)")


if __name__ == "__main__":
    main()
