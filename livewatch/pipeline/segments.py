"""Capture → transcription: an audio segment the capture has closed and recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from livewatch.pipeline.base import Message


@dataclass(frozen=True, slots=True)
class ClosedSegment(Message):
    """A 16 kHz mono WAV segment of one stream of a run, placed on the wall clock. Built once, by the
    capture's segment writer or by ``livewatch analyze``; the transcription worker reads it from the queue."""

    kind: ClassVar[str] = "closed-segment"

    event_id: str
    run_id: int
    stream: int
    seq: int
    #: The segment's row in the run store; None only for a segment that was never recorded there.
    segment_id: int | None
    path: Path
    start_at: datetime
    end_at: datetime

    @property
    def lane(self) -> str:
        """The queue-key prefix shared by every segment of this stream (see :attr:`queue_key`)."""
        return lane_key(self.run_id, self.stream)

    @property
    def queue_key(self) -> str:
        """``run:stream:seq``: one queue item per segment, and each stream's items share a prefix."""
        return f"{self.lane}{self.seq}"


def lane_key(run_id: int, stream: int) -> str:
    """The queue-key prefix of one stream's segments."""
    return f"{run_id}:{stream}:"
