"""The worker reads the queue through the closed-segment contract: a payload it cannot read fails alone, by name."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livewatch.pipeline import ClosedSegment, encode
from livewatch.queue import TRANSCRIBE
from livewatch.state import Database, DataDir
from livewatch.state.runs import RunStore
from livewatch.state.transcripts import TranscriptStore
from livewatch.state.work_queue import SqliteWorkQueue
from livewatch.transcription.worker import EngineChoice, TranscriptionWorker

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)


def never_chosen(event_id: str) -> EngineChoice:
    raise AssertionError(f"no audio should reach a model (event {event_id!r})")


def test_a_payload_from_a_newer_livewatch_fails_for_good_and_names_its_version(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    segment = ClosedSegment("forum", 3, 0, 0, None, tmp_path / "s0-000000.wav", T0, T0 + timedelta(seconds=6))
    with Database.open(DataDir(tmp_path / "data")) as db:
        queue = SqliteWorkQueue(db.engine)
        queue.put(TRANSCRIBE, segment.queue_key, {**encode(segment), "v": 99})
        worker = TranscriptionWorker(RunStore(db.engine), TranscriptStore(db.engine), queue, never_chosen)
        with caplog.at_level(logging.ERROR, logger="livewatch.transcription.worker"):
            assert worker.process_one() is True
        assert "cannot read queued item 3:0:0: closed-segment message has format version 99" in caplog.text
        assert queue.backlog(TRANSCRIBE) == 0  # failed for good: never retried by a livewatch that cannot read it
        assert worker.process_one() is False


def test_a_payload_without_its_stream_fails_alone_and_the_next_segment_is_taken(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The lane is read through the contract too: an item whose payload lacks the stream is a lane of its own
    (before, reading its lane raised KeyError inside the claim and stopped the worker)."""
    segment = ClosedSegment("forum", 3, 0, 0, None, tmp_path / "s0-000000.wav", T0, T0 + timedelta(seconds=6))
    broken = {key: value for key, value in encode(segment).items() if key != "stream"}
    with Database.open(DataDir(tmp_path / "data")) as db:
        queue = SqliteWorkQueue(db.engine)
        queue.put(TRANSCRIBE, segment.queue_key, broken)
        worker = TranscriptionWorker(RunStore(db.engine), TranscriptStore(db.engine), queue, never_chosen)
        with caplog.at_level(logging.ERROR, logger="livewatch.transcription.worker"):
            assert worker.process_one() is True
        assert "cannot read queued item 3:0:0: closed-segment" in caplog.text
        assert "stream" in caplog.text
        assert queue.backlog(TRANSCRIBE) == 0
        assert worker.process_one() is False
