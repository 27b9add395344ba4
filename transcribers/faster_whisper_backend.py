"""faster-whisper (CTranslate2): the fast backend, with Silero VAD built in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from transcribers.base import Audio, Device, ModelInfo, Segment, TranscribeOptions, WhisperTranscriber, Word
from transcribers.utterances import utterances

#: Speech chunks (up to 30 s each, cut by Silero VAD) that the batched pipeline decodes together for a recording.
RECORDING_BATCH = 8


class _WindowDone(Exception):
    """Raised inside faster-whisper's decoding loop to end a first-window-only decode before its next encode."""


class FasterWhisperTranscriber(WhisperTranscriber):
    name = "faster-whisper"

    def __init__(self, model: ModelInfo, *, device: Device = "cpu", compute_type: str = "default",
                 workers: int = 1) -> None:
        super().__init__(model, device=device, compute_type=compute_type, workers=workers)
        # Imported here: validating a configuration loads this class, and CTranslate2 takes seconds to import.
        from faster_whisper import WhisperModel

        # num_workers: CTranslate2 keeps that many model replicas, so calls from several threads run in parallel.
        self._model = WhisperModel(str(model.path or model.name), device=device, compute_type=compute_type,
                                   local_files_only=model.path is not None, num_workers=workers)
        # faster-whisper has no option to decode one window only: its encoder is wrapped so that a call asking
        # for that (per thread: the calls of several workers run at once) ends before a second encode.
        self._encode = self._model.encode
        self._encodes_left = threading.local()
        self._model.encode = self._counted_encode
        self._batched: Any = None
        self._batched_lock = threading.Lock()

    def _counted_encode(self, features: Any) -> Any:
        left: int | None = getattr(self._encodes_left, "value", None)
        if left is not None:
            if left <= 0:
                raise _WindowDone
            self._encodes_left.value = left - 1
        return self._encode(features)

    @classmethod
    def cuda_available(cls) -> bool:
        """CTranslate2's own view: deciding ``auto`` this way spares importing torch (seconds) to load a model."""
        import ctranslate2

        return bool(ctranslate2.get_cuda_device_count() > 0)

    def transcribe(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
        # Set for this call only; faster-whisper decodes lazily, inside this generator, in this thread.
        self._encodes_left.value = 1 if options.first_window_only else None
        try:
            yield from self._transcribe(audio, options)
        except _WindowDone:
            return
        finally:
            self._encodes_left.value = None

    def _transcribe(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
        segments, info = self._model.transcribe(
            _source(audio), **_decoding(options),
            condition_on_previous_text=False,  # the worker decides what context to trust
        )
        for seg in segments:
            yield _segment(seg, info.language)

    def transcribe_recording(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
        """A whole recording through faster-whisper's batched pipeline: Silero VAD cuts the speech into chunks of
        up to 30 s (silence is never decoded) and :data:`RECORDING_BATCH` chunks are decoded at once, with the
        same beam, prompt and hot words. It has no temperature fallback (the first temperature only) and no
        timestamp tokens, so each chunk is one segment; it is cut into utterances by its word times."""
        with self._batched_lock:
            if self._batched is None:
                from faster_whisper import BatchedInferencePipeline

                self._batched = BatchedInferencePipeline(self._model)
            pipeline = self._batched
        segments, info = pipeline.transcribe(_source(audio), **_decoding(options), batch_size=RECORDING_BATCH)
        for seg in segments:
            yield from utterances(_segment(seg, info.language))


def _source(audio: Audio) -> Any:
    return audio if isinstance(audio, np.ndarray) else str(audio)


def _decoding(options: TranscribeOptions) -> dict[str, Any]:
    """The decoding options both of faster-whisper's entry points take, from ours."""
    return {"language": options.language, "beam_size": options.beam_size,
            "temperature": list(options.temperatures), "initial_prompt": options.initial_prompt,
            "hotwords": options.hotwords or None, "word_timestamps": options.word_timestamps,
            "vad_filter": options.vad}


def _segment(seg: Any, language: str) -> Segment:
    """One of faster-whisper's segments as ours."""
    return Segment(
        start=float(seg.start), end=float(seg.end), text=seg.text,
        words=tuple(Word(float(w.start), float(w.end), w.word, float(w.probability)) for w in seg.words or ()),
        avg_logprob=float(seg.avg_logprob), no_speech_prob=float(seg.no_speech_prob),
        compression_ratio=float(seg.compression_ratio), language=language,
    )
