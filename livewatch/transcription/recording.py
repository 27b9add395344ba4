"""A whole recording transcribed at once (``livewatch analyze``), instead of segment by segment.

Live, the worker hears each 10 s segment as it closes, carrying unfinished sentences into the next window
(:mod:`livewatch.transcription.worker`). A handed-in recording is all there: it is decoded in one call
(:meth:`~transcribers.base.Transcriber.transcribe_recording`: faster-whisper's batched pipeline, which skips the
silence and decodes several speech chunks at once), and what it heard is committed as the worker would have: the
same spans (absolute times, checking text, quality flags, the captured segment each begins in), one commit for the
stream, its progress at the last segment and flushed. The worker's path stays for what this does not cover: an
event whose language is detected as it goes (``auto``).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from livewatch.pipeline import TranscriptSpan
from livewatch.state.transcripts import TranscriptLog
from livewatch.transcription.worker import EngineChoice, TranscriptionWorker, read_wav
from transcribers.base import SAMPLE_RATE


@dataclass(frozen=True)
class RecordedSegment:
    """One audio segment of the recording as the run store has it."""

    seq: int
    segment_id: int
    path: Path
    start_at: datetime
    end_at: datetime


def recording_mode(choice: EngineChoice) -> bool:
    """Whether a recording can be transcribed at once with ``choice``: its language is known (an ``auto`` event
    changes model once its language settles, which only the worker's window-by-window path does)."""
    return choice.options.language is not None


def transcribe_recording(transcripts: TranscriptLog, choice: EngineChoice, run_id: int, stream: int,
                         segments: Sequence[RecordedSegment]) -> int:
    """Decode ``segments`` (contiguous, in order) as one recording and commit what was heard; the spans
    committed. The prompt is the language's fixed part only (there is no earlier text to offer)."""
    if not segments:
        return 0
    audio = np.concatenate([read_wav(segment.path) for segment in segments])
    origin = segments[0].start_at
    starts = [(segment.start_at - origin).total_seconds() for segment in segments]
    model = choice.transcriber.model
    spans: list[TranscriptSpan] = []
    for heard in choice.transcriber.transcribe_recording(audio, choice.options):
        within = max(0, bisect.bisect_right(starts, heard.start) - 1)
        # The worker's own span builder: both paths store the same fields the same way.
        spans.append(TranscriptionWorker._span(run_id, stream, segments[within].segment_id, origin, heard,
                                               choice.transcriber.name, model.name))
    end = origin + timedelta(seconds=len(audio) / SAMPLE_RATE)
    transcripts.commit(run_id, stream, spans, committed_until=max(end, segments[-1].end_at),
                       last_seq=segments[-1].seq, built_on=transcripts.progress(run_id, stream))
    transcripts.mark_flushed(run_id, stream)
    return len(spans)
