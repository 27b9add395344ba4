"""Technical facts of the captured audio — long silences and EBU R128 loudness — for the rule engine.

The ``silence`` and ``loudness`` rule types judge facts; this module only measures them, with ffmpeg's
``silencedetect`` and ``ebur128`` filters, so the rules stay pure and testable with made-up facts.

Capture writes short WAV segments, and a dead air of minutes crosses many of them: each contiguous run of
segments is therefore fed to ffmpeg as ONE input (concat demuxer), so a silence that spans a boundary is one
silence. A capture gap (reconnect, outage) ends a run: audio we never heard is not silence, and a silence is
never reported across it. Loudness is an integral over the whole broadcast, so it is one pass over everything.
"""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from livewatch.errors import CaptureError

#: ebur128's absolute gate: an integrated value at or below it means no block was loud enough to count
#: (ffmpeg 5.1 reports all-silent audio as ``I: -70.0 LUFS``, not ``-inf``).
ABSOLUTE_GATE_LUFS = -70.0
_NUMBER = r"([-+]?(?:inf|nan|\d+(?:\.\d*)?(?:e[-+]?\d+)?))"
_SILENCE = re.compile(rf"silence_(start|end): {_NUMBER}", re.IGNORECASE)
_UNOPENED = re.compile(r"Impossible to open '(.*)'")


@dataclass(frozen=True)
class AudioSegmentRef:
    """One captured WAV segment and the wall-clock span it covers."""

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
    integrated_lufs: float | None
    loudness_range_lu: float | None
    true_peak_dbtp: float | None


@dataclass(frozen=True)
class AudioFacts:
    silences: tuple[Silence, ...]
    loudness: Loudness | None  # None: there was no audio at all
    measured_seconds: float


def _input_args(inputs: Path, concat: bool) -> list[str]:
    # -nostdin: ffmpeg otherwise reads the terminal for [q] and can stall a background monitor.
    # framelog=verbose (ebur128) keeps its ten lines a second off the info level we read.
    return ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-v", "info",
            *(["-f", "concat", "-safe", "0"] if concat else []), "-i", str(inputs)]


def silencedetect_argv(inputs: Path, *, noise_db: float, min_duration_s: float, concat: bool) -> list[str]:
    """ffmpeg argv that logs ``silence_start``/``silence_end`` (seconds from the input's start) on stderr."""
    return [*_input_args(inputs, concat), "-af", f"silencedetect=noise={noise_db:g}dB:d={min_duration_s:g}",
            "-f", "null", "-"]


def ebur128_argv(inputs: Path, *, concat: bool) -> list[str]:
    """ffmpeg argv that logs an EBU R128 ``Summary:`` (with true peak) on stderr at the end."""
    return [*_input_args(inputs, concat), "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"]


def _number(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def parse_silences(stderr: str, *, media_seconds: float) -> list[tuple[float, float]]:
    """(start_s, end_s) offsets from silencedetect's log; a silence still open at the end closes there."""
    found: list[tuple[float, float]] = []
    open_at: float | None = None
    for kind, text in _SILENCE.findall(stderr):
        value = _number(text)
        if value is None:
            continue
        if kind.lower() == "start":
            # silencedetect reports the start as "now minus d", which can dip just below zero.
            open_at = max(0.0, value)
        elif open_at is not None:
            found.append((open_at, value))
            open_at = None
    # ffmpeg 5.1 closes a silence that reaches the end of input itself; older releases leave it open.
    if open_at is not None and media_seconds > open_at:
        found.append((open_at, media_seconds))
    return found


def parse_loudness(stderr: str) -> Loudness:
    """Integrated loudness, loudness range and true peak from the last ``Summary:`` block of ebur128."""
    summary = stderr[stderr.rfind("Summary:"):] if "Summary:" in stderr else ""

    def value(section: str, label: str) -> float | None:
        # Sections are read apart because "Peak:" appears under both "Sample peak:" and "True peak:".
        at = summary.find(section)
        match = re.search(rf"^\s*{label}:\s*{_NUMBER}", summary[at:], re.MULTILINE) if at >= 0 else None
        return _number(match.group(1)) if match else None

    integrated = value("Integrated loudness:", "I")
    if integrated is not None and integrated <= ABSOLUTE_GATE_LUFS:
        integrated = None
    # Without any gated block the range is a meaningless 0.0, not a measured steady level.
    lra = value("Loudness range:", "LRA") if integrated is not None else None
    # ffmpeg labels the true peak "dBFS"; with peak=true it is the oversampled (dBTP) value.
    return Loudness(integrated, lra, value("True peak:", "Peak"))


def contiguous_runs(segments: Sequence[AudioSegmentRef], *, tolerance_s: float = 1.5) -> list[list[AudioSegmentRef]]:
    """Segments in start order, split wherever the wall clock jumps more than ``tolerance_s``."""
    runs: list[list[AudioSegmentRef]] = []
    for segment in sorted(segments, key=lambda s: s.start_at):
        if runs and (segment.start_at - runs[-1][-1].end_at).total_seconds() <= tolerance_s:
            runs[-1].append(segment)
        else:
            runs.append([segment])
    return runs


def _seconds(segments: Sequence[AudioSegmentRef]) -> float:
    return sum(max(0.0, (s.end_at - s.start_at).total_seconds()) for s in segments)


def _concat_line(path: Path) -> str:
    text = str(path.absolute())  # the demuxer resolves relative names against the list file, not the cwd
    if "\n" in text or "\r" in text:
        raise CaptureError(f"audio segment {text!r}: a line break in the name cannot go in an ffmpeg concat list")
    return "file '" + text.replace("'", "'\\''") + "'\n"


def _describe(segments: Sequence[AudioSegmentRef]) -> str:
    if len(segments) == 1:
        return str(segments[0].path)
    return f"{segments[0].path} … {segments[-1].path} ({len(segments)} segments)"


def _run_ffmpeg(argv: list[str], segments: Sequence[AudioSegmentRef], ffmpeg: str, work: Path) -> str:
    try:
        done = subprocess.run([ffmpeg, *argv[1:]], check=False, capture_output=True, text=True,
                              errors="replace", stdin=subprocess.DEVNULL, cwd=work)
    except OSError as exc:
        raise CaptureError(f"cannot run {ffmpeg!r} to measure audio {_describe(segments)}: {exc}") from exc
    if done.returncode != 0:
        tail = "; ".join(line.strip() for line in done.stderr.strip().splitlines()[-3:])
        raise CaptureError(f"ffmpeg could not measure audio {_describe(segments)} "
                           f"(exit {done.returncode}): {tail or 'no message'}")
    # The concat demuxer treats a file it cannot open as the end of input and ffmpeg still exits 0:
    # the measurement would silently stop there (and close a silence at the broken file).
    unopened = _UNOPENED.search(done.stderr)
    if unopened:
        raise CaptureError(f"ffmpeg could not open audio segment {unopened.group(1)} "
                           f"while measuring {_describe(segments)}")
    return done.stderr


def _input(segments: Sequence[AudioSegmentRef], work: Path, name: str) -> tuple[Path, bool]:
    if len(segments) == 1:
        return segments[0].path.absolute(), False
    listing = work / name
    listing.write_text("".join(_concat_line(s.path) for s in segments), encoding="utf-8")
    return listing, True


def _wall_clock(run: Sequence[AudioSegmentRef], offset_s: float) -> datetime:
    # Each segment's own start anchors the offsets inside it: the small gaps a run tolerates then do not
    # pile up into drift over an hours-long run. Without gaps this equals run start + offset.
    elapsed = 0.0
    for segment in run:
        length = max(0.0, (segment.end_at - segment.start_at).total_seconds())
        if offset_s <= elapsed + length or segment is run[-1]:
            return segment.start_at + timedelta(seconds=offset_s - elapsed)
        elapsed += length
    raise AssertionError("unreachable: a run is never empty")


def measure_audio(segments: Sequence[AudioSegmentRef], *, noise_db: float = -50.0, min_silence_s: float = 30.0,
                  ffmpeg: str = "ffmpeg") -> AudioFacts:
    """Silences of ``min_silence_s`` or longer (per contiguous run) and the loudness of all the audio."""
    runs = contiguous_runs(segments)
    if not runs:
        return AudioFacts((), None, 0.0)
    silences: list[Silence] = []
    with tempfile.TemporaryDirectory(prefix="livewatch-audio-") as tmp:
        work = Path(tmp)
        for number, run in enumerate(runs):
            source, concat = _input(run, work, f"run-{number}.txt")
            argv = silencedetect_argv(source, noise_db=noise_db, min_duration_s=min_silence_s, concat=concat)
            stderr = _run_ffmpeg(argv, run, ffmpeg, work)
            for start_s, end_s in parse_silences(stderr, media_seconds=_seconds(run)):
                silences.append(Silence(_wall_clock(run, start_s), _wall_clock(run, end_s)))
        everything = [segment for run in runs for segment in run]
        source, concat = _input(everything, work, "all.txt")
        loudness = parse_loudness(_run_ffmpeg(ebur128_argv(source, concat=concat), everything, ffmpeg, work))
    return AudioFacts(tuple(silences), loudness, _seconds(everything))
