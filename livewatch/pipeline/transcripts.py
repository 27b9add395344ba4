"""Transcription → checks: what Whisper heard in one span of a stream, on the wall clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from livewatch.pipeline.base import Message


@dataclass(frozen=True, slots=True)
class SpanWord(Message):
    kind: ClassVar[str] = "span-word"

    start_at: datetime
    end_at: datetime
    word: str
    probability: float


@dataclass(frozen=True, slots=True)
class TranscriptSpan(Message):
    """One committed transcript segment of a stream. Built once by the transcription worker; stored by the
    transcript store and read back from it by the checks, the exports and the report."""

    kind: ClassVar[str] = "transcript-span"

    run_id: int
    stream: int
    #: The captured segment the span begins in (None when its segments were never recorded).
    segment_id: int | None
    start_at: datetime
    end_at: datetime
    text: str
    #: The text the rules read (Simplified Chinese for Chinese speech).
    text_check: str
    language: str | None
    avg_logprob: float | None
    no_speech_prob: float | None
    compression_ratio: float | None
    #: Quality flags (see :mod:`livewatch.transcription.quality`); empty when the span is trustworthy.
    flags: tuple[str, ...]
    words: tuple[SpanWord, ...]
    backend: str
    model: str
