"""faster-whisper (CTranslate2): the fast backend, with Silero VAD built in."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from transcribers.base import Audio, Device, ModelInfo, Segment, TranscribeOptions, WhisperTranscriber, Word


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

    def transcribe(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
        segments, info = self._model.transcribe(
            audio if isinstance(audio, np.ndarray) else str(audio),
            language=options.language,
            beam_size=options.beam_size,
            temperature=list(options.temperatures),
            initial_prompt=options.initial_prompt,
            hotwords=options.hotwords or None,
            word_timestamps=options.word_timestamps,
            condition_on_previous_text=False,  # the worker decides what context to trust
            vad_filter=options.vad,
        )
        for seg in segments:
            yield Segment(
                start=float(seg.start), end=float(seg.end), text=seg.text,
                words=tuple(Word(float(w.start), float(w.end), w.word, float(w.probability))
                            for w in seg.words or ()),
                avg_logprob=float(seg.avg_logprob), no_speech_prob=float(seg.no_speech_prob),
                compression_ratio=float(seg.compression_ratio), language=info.language,
            )
