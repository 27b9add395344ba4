"""openai-whisper (PyTorch): the reference backend.

openai-whisper has no voice-activity detection; the equivalent here runs faster-whisper's Silero VAD (the
ONNX model ships inside that package, so it works offline) and silences everything that is not speech
before decoding, which keeps timestamps where they were and gives the decoder nothing to hallucinate on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from transcribers.base import (
    SAMPLE_RATE,
    Audio,
    Device,
    ModelInfo,
    Segment,
    TranscribeOptions,
    WhisperTranscriber,
    Word,
)

# whisper, torch and faster-whisper's audio code are imported where they are used: validating a configuration
# loads this class, and they take seconds to import.


def speech_only(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32] | None:
    """``samples`` with non-speech set to zero, or None when there is no speech at all."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(samples, VadOptions())
    if not spans:
        return None
    masked = np.zeros_like(samples)
    for span in spans:
        masked[span["start"]:span["end"]] = samples[span["start"]:span["end"]]
    return masked


def prompt_with_hotwords(options: TranscribeOptions) -> str | None:
    """openai-whisper has no hot words: they go before the prompt, where faster-whisper puts them too (and the
    prompt, usually the most recent text, stays last: nearest the speech it is context for)."""
    parts = [part.strip() for part in (options.hotwords, options.initial_prompt) if part and part.strip()]
    return " ".join(parts) or None


class OpenAIWhisperTranscriber(WhisperTranscriber):
    name = "openai-whisper"

    def __init__(self, model: ModelInfo, *, device: Device = "cpu", compute_type: str = "default",
                 workers: int = 1) -> None:
        super().__init__(model, device=device, compute_type=compute_type, workers=workers)
        # whisper installs key-value cache hooks on the shared model for each decode: one call at a time.
        self._lock = threading.Lock()
        import whisper

        from transcribers.convert import load_openai_model

        if model.path is not None:
            self._model = load_openai_model(model.path, device=device)
        else:
            self._model = whisper.load_model(model.name, device=device)

    def transcribe(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
        from faster_whisper.audio import decode_audio

        samples: npt.NDArray[np.float32] = (
            audio if isinstance(audio, np.ndarray) else decode_audio(str(audio), sampling_rate=SAMPLE_RATE)
        )
        if options.vad:
            gated = speech_only(samples)
            if gated is None:
                return
            samples = gated
        with self._lock:
            result: dict[str, Any] = self._model.transcribe(
                samples,
                language=options.language,
                beam_size=options.beam_size,
                temperature=options.temperatures,
                initial_prompt=prompt_with_hotwords(options),
                word_timestamps=options.word_timestamps,
                condition_on_previous_text=False,
                fp16=self.device == "cuda" and self.compute_type in ("float16", "default"),
                verbose=None,
            )
        language = result.get("language")
        for seg in result["segments"]:
            yield Segment(
                start=float(seg["start"]), end=float(seg["end"]), text=str(seg["text"]),
                words=tuple(Word(float(w["start"]), float(w["end"]), str(w["word"]), float(w["probability"]))
                            for w in seg.get("words") or ()),
                avg_logprob=float(seg["avg_logprob"]), no_speech_prob=float(seg["no_speech_prob"]),
                compression_ratio=float(seg["compression_ratio"]), language=language,
            )
