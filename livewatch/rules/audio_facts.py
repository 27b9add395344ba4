"""Technical facts of the captured audio for the technical rules: long silences (ffmpeg ``silencedetect``)
and loudness (ffmpeg ``ebur128``: EBU R128 integrated loudness, loudness range, true peak).

The capture writes 16 kHz mono WAV segments. Contiguous segments are measured as one input (the concat
demuxer), so a silence that spans a segment boundary is one silence; a capture gap starts a new run, so a
silence is never reported across audio that was not recorded.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from livewatch.errors import CaptureError


@dataclass(frozen=True)
class AudioSegmentRef:
    path: Path
    start_at: datetime
    end_at: datetime


@dataclass(frozen=True)
class Silence:
    start_at: datetime
    end_at: datetime

    @property
    def seconds(self) -> float:
        return (self.end_at - self.start_at).total_seconds()


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float | None  # None: nothing measurable (all silence)
    loudness_range_lu: float | None
    true_peak_dbtp: float | None


@dataclass(frozen=True)
class AudioFacts:
    silences: tuple[Silence, ...]
    loudness: Loudness | None  # None: no audio at all
    measured_seconds: float


def _input_args(inputs: Path, concat: bool) -> list[str]:
    return ["-f", "concat", "-safe", "0", "-i", str(inputs)] if concat else ["-i", str(inputs)]


def silencedetect_argv(inputs: Path, *, noise_db: float, min_duration_s: float, concat: bool) -> list[str]:
    return ["ffmpeg", "-hide_banner", "-nostats", "-v", "info", *_input_args(inputs, concat),
            "-af", f"silencedetect=noise={noise_db:g}dB:d={min_duration_s:g}", "-f", "null", "-"]


def ebur128_argv(inputs: Path, *, concat: bool) -> list[str]:
    return ["ffmpeg", "-hide_banner", "-nostats", "-v", "info", *_input_args(inputs, concat),
            "-af", "ebur128=peak=true", "-f", "null", "-"]


_SILENCE_START = re.compile(r"silence_start:\s*(-?[\d.]+)")
_SILENCE_END = re.compile(r"silence_end:\s*(-?[\d.]+)")


def parse_silences(stderr: str, *, media_seconds: float) -> list[tuple[float, float]]:
    """(start, end) offsets in seconds; a silence still open at the end closes at ``media_seconds``."""
    spans: list[tuple[float, float]] = []
    start: float | None = None
    for line in stderr.splitlines():
        began = _SILENCE_START.search(line)
        if began:
            start = max(0.0, float(began.group(1)))
            continue
        ended = _SILENCE_END.search(line)
        if ended and start is not None:
            spans.append((start, float(ended.group(1))))
            start = None
    if start is not None and media_seconds > start:
        spans.append((start, media_seconds))
    return spans


def _value(summary: str, label: str) -> float | None:
    found = re.search(rf"{label}:\s*(-?inf|nan|-?[\d.]+)", summary)
    if found is None or found.group(1) in ("inf", "-inf", "nan"):
        return None
    return float(found.group(1))


def parse_loudness(stderr: str) -> Loudness:
    """The values of ebur128's last ``Summary:`` block (ffmpeg prints one per filter instance at exit)."""
    summary = stderr.rsplit("Summary:", 1)[1] if "Summary:" in stderr else ""
    integrated = re.search(r"Integrated loudness:(.*?)(?:Loudness range:|$)", summary, re.S)
    lra = re.search(r"Loudness range:(.*?)(?:True peak:|Sample peak:|$)", summary, re.S)
    peak = re.search(r"True peak:(.*)", summary, re.S)
    level = _value(integrated.group(1), "I") if integrated else None
    # -70 LUFS is ebur128's absolute gate: what it reports when nothing was loud enough to measure.
    return Loudness(None if level is None or level <= -70.0 else level,
                    _value(lra.group(1), "LRA") if lra else None,
                    _value(peak.group(1), "Peak") if peak else None)


def contiguous_runs(segments: Sequence[AudioSegmentRef], *, tolerance_s: float = 1.5) -> list[list[AudioSegmentRef]]:
    runs: list[list[AudioSegmentRef]] = []
    for segment in sorted(segments, key=lambda s: s.start_at):
        if runs and segment.start_at - runs[-1][-1].end_at <= timedelta(seconds=tolerance_s):
            runs[-1].append(segment)
        else:
            runs.append([segment])
    return runs


def _concat_list(paths: Sequence[Path], folder: Path) -> Path:
    listing = folder / "inputs.txt"
    # The concat demuxer's quoting: inside '...', a ' is written as '\'' (close, escaped quote, reopen).
    listing.write_text("".join("file '{}'\n".format(str(p.resolve()).replace("'", "'\\''")) for p in paths),
                       encoding="utf-8")
    return listing


def _run(argv: list[str], what: Sequence[Path]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        raise CaptureError(f"ffmpeg cannot measure {', '.join(map(str, what[:3]))}: {tail[0]}")
    return result.stderr


def measure_audio(segments: Sequence[AudioSegmentRef], *, noise_db: float = -50.0, min_silence_s: float = 30.0,
                  ffmpeg: str = "ffmpeg") -> AudioFacts:
    if not segments:
        return AudioFacts((), None, 0.0)
    silences: list[Silence] = []
    with tempfile.TemporaryDirectory(prefix="livewatch-audio-") as tmp:
        folder = Path(tmp)
        for index, run in enumerate(contiguous_runs(segments)):
            run_folder = folder / str(index)
            run_folder.mkdir()
            listing = _concat_list([s.path for s in run], run_folder)
            argv = silencedetect_argv(listing, noise_db=noise_db, min_duration_s=min_silence_s, concat=True)
            argv[0] = ffmpeg
            seconds = (run[-1].end_at - run[0].start_at).total_seconds()
            for start, end in parse_silences(_run(argv, [s.path for s in run]), media_seconds=seconds):
                silences.append(Silence(run[0].start_at + timedelta(seconds=start),
                                        run[0].start_at + timedelta(seconds=end)))
        everything = _concat_list([s.path for s in sorted(segments, key=lambda s: s.start_at)], folder)
        argv = ebur128_argv(everything, concat=True)
        argv[0] = ffmpeg
        loudness = parse_loudness(_run(argv, [s.path for s in segments]))
    measured = sum((s.end_at - s.start_at).total_seconds() for s in segments)
    return AudioFacts(tuple(silences), loudness, measured)
