"""Speech for the demo: espeak-ng says each line of a script, and the lines are joined with pauses into one
WAV track whose every line has a known start, so a finding can be compared with when its words were said."""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from livewatch.demo.script import Line, Script
from livewatch.errors import LivewatchError

#: Words per minute. espeak-ng's default (175) is harder for tiny.en; 150 is still a natural pace.
SPEED = 150


class SynthError(LivewatchError):
    """espeak-ng is missing or could not say a line."""


@dataclass(frozen=True)
class SpokenLine:
    line: Line
    start_s: float  # seconds from the start of the track
    end_s: float


@dataclass(frozen=True)
class Track:
    path: Path
    sample_rate: int
    duration_s: float
    lines: tuple[SpokenLine, ...]

    @property
    def plants(self) -> list[SpokenLine]:
        return [spoken for spoken in self.lines if spoken.line.is_plant]

    @property
    def speech_end_s(self) -> float:
        return self.lines[-1].end_s if self.lines else 0.0


def speak_argv(text: str, voice: str, out: Path, speed: int = SPEED) -> list[str]:
    # "--" ends the options: a line is never read as one, whatever it starts with.
    return ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), "--", text]


def synthesize(script: Script, folder: Path, *, speed: int = SPEED, lead_in_s: float = 1.0, pause_s: float = 1.2,
               tail_s: float = 1.0, on_line: Callable[[SpokenLine], None] | None = None) -> Track:
    """Say every line of ``script`` into ``folder``/lines, and join them into ``folder``/track.wav:
    ``lead_in_s`` of silence, then each line followed by ``pause_s`` (the last by ``tail_s``)."""
    if shutil.which("espeak-ng") is None:
        raise SynthError("espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    pieces_dir = folder / "lines"
    pieces_dir.mkdir(parents=True, exist_ok=True)
    rate: int | None = None
    frames: list[bytes] = []
    spoken: list[SpokenLine] = []
    at = 0.0  # where the next line starts, in seconds of the track
    for index, line in enumerate(script.lines):
        piece = pieces_dir / f"{index:02d}.wav"
        result = subprocess.run(speak_argv(line.text, line.speaker.voice, piece, speed), capture_output=True,
                                text=True, check=False)
        if result.returncode != 0 or not piece.is_file():
            raise SynthError(f"espeak-ng could not say line {index + 1} ({line.text!r}): "
                             f"{result.stderr.strip() or f'exit code {result.returncode}'}")
        with wave.open(str(piece), "rb") as handle:
            if handle.getnchannels() != 1 or handle.getsampwidth() != 2:
                raise SynthError(f"espeak-ng wrote {piece} in an unexpected format (want 16-bit mono)")
            if rate is None:
                rate = handle.getframerate()
                frames.append(_silence(rate, lead_in_s))
                at = len(frames[0]) // 2 / rate
            elif handle.getframerate() != rate:
                raise SynthError(f"espeak-ng voices disagree on the sample rate ({handle.getframerate()} vs {rate})")
            count = handle.getnframes()
            frames.append(handle.readframes(count))
        seconds = count / rate
        spoken.append(SpokenLine(line, at, at + seconds))
        if on_line is not None:
            on_line(spoken[-1])
        frames.append(_silence(rate, tail_s if index == len(script.lines) - 1 else pause_s))
        # Time is counted in whole frames, as written, so the starts do not drift from the audio.
        at += seconds + len(frames[-1]) // 2 / rate
    if rate is None:
        raise SynthError(f"script {script.name!r} has no lines")
    track = folder / "track.wav"
    with wave.open(str(track), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        for chunk in frames:
            out.writeframes(chunk)
    with wave.open(str(track), "rb") as handle:
        duration = handle.getnframes() / handle.getframerate()
    return Track(track, rate, duration, tuple(spoken))


def _silence(rate: int, seconds: float) -> bytes:
    return b"\x00\x00" * round(rate * seconds)
