"""The distributed transcribe lane and the monitor's transcription worker hand Whisper the same windows (the same
samples, the same prompt) for the same segments queued the same way: the lane runs the monitor's own worker,
carry-over, tail and prompt read back from the store. What a window holds depends on the queue when a segment
is taken (segments already queued behind it go along: ``BATCH_SECONDS``), so a transcriber that has fallen
behind cuts other windows than one that keeps up, on either side, and may hear a line differently in them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from livewatch.distributed.lanes import transcribe_lane
from livewatch.pipeline.run_status import FINISHED, RECORDING
from livewatch.session import Session
from livewatch.transcription.worker import EngineChoice, TranscriptionWorker, read_wav
from tests.support.postgres import PostgresCluster
from tests.transcription.conftest import speak
from tests.transcription.test_lanes import CUTS, SPEECH, captured, load_choice, open_session, put, transcript
from transcribers.base import Audio, ModelInfo, Segment, TranscribeOptions, Transcriber

#: The stream heard (one is enough: the lanes of several streams are tested in test_lanes.py) and its segments.
STREAM = 0
SEGMENTS = len(CUTS[STREAM]) + 1
_OPTIONS = TranscribeOptions(language="en")


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return read_wav(speak(SPEECH, tmp_path_factory.mktemp("speech") / "speech.wav"))


@pytest.fixture(scope="module")
def engine_choice(tiny_ct2: ModelInfo) -> EngineChoice:
    return load_choice(tiny_ct2)


#: A window as Whisper got it: its seconds, a digest of its samples, and the prompt.
Window = tuple[float, str, str | None]


class Recording(Transcriber):
    """Tiny.en, noting every window it is handed."""

    name: ClassVar[str] = "faster-whisper"

    def __init__(self, inner: Transcriber) -> None:
        super().__init__(inner.model, device=inner.device, compute_type=inner.compute_type)
        self.inner = inner
        self.windows: list[Window] = []

    def transcribe(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
        assert isinstance(audio, np.ndarray)
        digest = hashlib.sha256(audio.astype(np.float32).tobytes()).hexdigest()[:16]
        self.windows.append((round(len(audio) / 16000, 3), digest, options.initial_prompt))
        return self.inner.transcribe(audio, options)


Side = Callable[[Session, int, EngineChoice], None]


def monitor_takes_what_is_queued(session: Session, run_id: int, choice: EngineChoice) -> None:
    """The monitor's transcription thread: the oldest queued segment of a free stream, until none is left."""
    worker = TranscriptionWorker(session.runs, session.transcripts, session.queue, lambda event: choice)
    while worker.process_one():
        pass


def lane_takes_what_is_queued(session: Session, run_id: int, choice: EngineChoice) -> None:
    """A worker's transcribe task, draining the stream's lane."""
    transcribe_lane(session, run_id, STREAM, choose=lambda event: choice)


def monitor_flushes(session: Session, run_id: int, choice: EngineChoice) -> None:
    worker = TranscriptionWorker(session.runs, session.transcripts, session.queue, lambda event: choice)
    worker.flush("forum", run_id, STREAM)


def transcribed(session: Session, speech: np.ndarray, inner: Transcriber, *, live: bool, take: Side,
                flush: Side) -> tuple[list[Window], list[Any]]:
    """The windows and the transcript of one run, its segments queued one at a time and each taken before
    the next closes (``live``), or all queued before anything is taken (a backlog)."""
    choice = EngineChoice(Recording(inner), _OPTIONS)
    run_id, payloads = captured(session, speech, queue=False)
    by_task = [p for p in payloads if p["stream"] == STREAM]
    session.runs.set_status(run_id, RECORDING)  # still on air while its segments close
    for payload in by_task:
        put(session, payload)
        if live:
            take(session, run_id, choice)
    session.runs.set_status(run_id, FINISHED)
    take(session, run_id, choice)
    flush(session, run_id, choice)
    assert isinstance(choice.transcriber, Recording)
    return choice.transcriber.windows, transcript(session)




@pytest.mark.parametrize("live", [True, False], ids=["live", "backlog"])
def test_the_lane_hands_whisper_the_monitors_windows(
    tmp_path: Path, postgres_cluster: PostgresCluster, postgres_template: str, speech: np.ndarray,
    engine_choice: EngineChoice, live: bool
) -> None:
    inner = engine_choice.transcriber
    with open_session(tmp_path / "monitor", postgres_cluster.create_database(
            f"windows_monitor_{live}".lower(), template=postgres_template)) as session:
        monitor = transcribed(session, speech, inner, live=live, take=monitor_takes_what_is_queued,
                              flush=monitor_flushes)
    with open_session(tmp_path / "lane", postgres_cluster.create_database(
            f"windows_lane_{live}".lower(), template=postgres_template)) as session:
        lane = transcribed(session, speech, inner, live=live, take=lane_takes_what_is_queued,
                           flush=lane_takes_what_is_queued)  # the lane flushes an ended stream itself
    assert lane == monitor  # the same windows, in the same order, and the same transcript
    windows, _ = monitor
    # A live stream is heard a segment at a time, a backlog a stream at a time: other windows, which Whisper
    # may hear differently.
    if live:  # one window per segment, and one tail or none at the end
        assert SEGMENTS <= len(windows) <= SEGMENTS + 1
        assert any(prompt for _, _, prompt in windows), "the previous text is offered as context"
    else:  # the queued segments go to Whisper together, then the tail or nothing
        assert len(windows) <= 2

