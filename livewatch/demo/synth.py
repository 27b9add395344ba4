"""Speech for the demo: each line of a script is said by its speaker's voice engine — espeak-ng (English), or
Kokoro (``kokoro:<voice>``, Mandarin; see :mod:`livewatch.demo.kokoro`) — and the lines are joined with pauses into
one WAV track whose every line has a known start, so a finding can be compared with when its words were said."""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from livewatch.demo import kokoro
from livewatch.demo.script import Line, Script
from livewatch.errors import LivewatchError

#: Words per minute. espeak-ng's default (175) is harder for tiny.en; 150 is still a natural pace.
SPEED = 150


#: The rate of a track that mixes espeak-ng and Kokoro lines.
MIXED_RATE = 16_000


class SynthError(LivewatchError):
    """A voice engine is missing or could not say a line."""


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
               tail_s: float = 1.0, on_line: Callable[[SpokenLine], None] | None = None,
               kokoro_speed: float = 1.0, cache_in: Path | None = None) -> Track:
    """Say every line of ``script`` into ``folder``/lines, and join them into ``folder``/track.wav:
    ``lead_in_s`` of silence, then each line followed by ``pause_s`` (the last by ``tail_s``).

    ``speed`` is espeak-ng's words per minute, ``kokoro_speed`` Kokoro's speed factor; Kokoro lines are cached in
    ``cache_in`` (default :func:`kokoro.cache_dir`). A Kokoro-only track is 24 kHz, an espeak-only one keeps
    espeak-ng's rate, and a track mixing both engines is 16 kHz (what the transcriber hears anyway)."""
    engines = {kokoro.kokoro_voice(line.speaker.voice) is not None for line in script.lines}
    if False in engines and shutil.which("espeak-ng") is None:
        raise SynthError("espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    # None: the rate of the first piece (espeak-ng's, whatever this build writes).
    rate: int | None = None if engines == {False} else kokoro.SAMPLE_RATE if engines == {True} else MIXED_RATE
    pieces_dir = folder / "lines"
    pieces_dir.mkdir(parents=True, exist_ok=True)
    frames: list[bytes] = []
    spoken: list[SpokenLine] = []
    for index, line in enumerate(script.lines):
        piece = pieces_dir / f"{index:02d}.wav"
        samples, piece_rate = _say(line, index, piece, speed, kokoro_speed, cache_in)
        if rate is None:
            rate = piece_rate
        if piece_rate != rate:
            samples = resample(samples, piece_rate, rate)
        _write_wav(piece, samples, rate)
        if not frames:
            frames.append(_silence(rate, lead_in_s))
        # Time is counted in whole frames, as written, so the starts do not drift from the audio.
        at = sum(len(chunk) for chunk in frames) // 2 / rate
        frames.append(samples.astype("<i2").tobytes())
        spoken.append(SpokenLine(line, at, at + len(samples) / rate))
        if on_line is not None:
            on_line(spoken[-1])
        frames.append(_silence(rate, tail_s if index == len(script.lines) - 1 else pause_s))
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


def _say(line: Line, index: int, piece: Path, speed: int, kokoro_speed: float,
         cache_in: Path | None) -> tuple[npt.NDArray[np.int16], int]:
    """One line's samples (16-bit mono) and their rate, from the line's voice engine."""
    voice = kokoro.kokoro_voice(line.speaker.voice)
    if voice is not None:
        try:
            speech = kokoro.say(line.text, voice, speed=kokoro_speed, cache_in=cache_in)
        except kokoro.SpeechError as error:
            raise SynthError(f"Kokoro could not say line {index + 1} ({line.text!r}): {error}") from error
        return speech.samples, speech.sample_rate
    result = subprocess.run(speak_argv(line.text, line.speaker.voice, piece, speed), capture_output=True,
                            text=True, check=False)
    if result.returncode != 0 or not piece.is_file():
        raise SynthError(f"espeak-ng could not say line {index + 1} ({line.text!r}): "
                         f"{result.stderr.strip() or f'exit code {result.returncode}'}")
    with wave.open(str(piece), "rb") as handle:
        if handle.getnchannels() != 1 or handle.getsampwidth() != 2:
            raise SynthError(f"espeak-ng wrote {piece} in an unexpected format (want 16-bit mono)")
        rate, frames = handle.getframerate(), handle.readframes(handle.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.int16), rate


def resample(samples: npt.NDArray[np.int16], source: int, target: int) -> npt.NDArray[np.int16]:
    """``samples`` at ``target`` Hz: a windowed-sinc low-pass below the lower Nyquist frequency (no aliasing
    when going down), then linear interpolation. Good enough for speech; only mixed-engine tracks need it."""
    audio = samples.astype(np.float64)
    if target < source:
        cutoff = 0.45 * target / source  # cycles per source sample, a little under the new Nyquist
        taps = np.arange(-32, 33)
        kernel = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.hanning(len(taps))
        audio = np.convolve(audio, kernel / kernel.sum(), mode="same")
    count = round(len(samples) * target / source)
    resampled = np.interp(np.arange(count) * source / target, np.arange(len(samples)), audio)
    return np.clip(np.round(resampled), -32768, 32767).astype(np.int16)


def _write_wav(path: Path, samples: npt.NDArray[np.int16], rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())


def _silence(rate: int, seconds: float) -> bytes:
    return b"\x00\x00" * round(rate * seconds)
