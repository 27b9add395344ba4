"""A stream's lane across threads, processes and machines (PostgreSQL advisory locks): every segment is
transcribed once and in order whoever takes it, a holder killed mid-segment loses its lane and its claims
to the next taker, a segment queued while the holder lets go is not forgotten, and checks take turns."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from sqlalchemy import select

from livewatch.distributed import lanes
from livewatch.distributed.lanes import MediaUnavailable, check_event_now, transcribe_lane
from livewatch.monitor.check_service import check_and_publish
from livewatch.pipeline.run_status import FINISHED
from livewatch.queue import TRANSCRIBE, WorkItem
from livewatch.registration.models import Event
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.state import tables
from livewatch.state.lanes import lane_backlog
from livewatch.state.runs import SegmentRecord
from livewatch.state.transcripts import ProgressMoved
from livewatch.state.work_queue_postgresql import PostgresWorkQueue
from livewatch.transcription import backends
from livewatch.transcription.worker import EngineChoice, TranscriptionWorker, read_wav
from tests.support.postgres import PostgresCluster
from tests.support.roles import wait_until
from tests.transcription.conftest import speak
from tests.transcription.test_worker import write_wav
from transcribers.base import Audio, ModelInfo, Segment, TranscribeOptions, Transcriber

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
SPEECH = ("Good evening everyone and welcome to the forum. Please remember that sponsored content must be "
          "disclosed clearly. Thank you all for joining us tonight.")
#: Where each stream's audio is cut into segments (seconds): two streams, so that two lanes compete.
CUTS = {0: [3.1, 6.3], 1: [2.0, 5.5, 8.0]}
#: How long a process-level test may wait for its children.
CHILD_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return read_wav(speak(SPEECH, tmp_path_factory.mktemp("speech") / "speech.wav"))


def load_choice(model: ModelInfo) -> EngineChoice:
    engine: Transcriber = backends.create("faster-whisper", model, device="cpu", compute_type="int8")
    return EngineChoice(engine, TranscribeOptions(language="en"))


@pytest.fixture(scope="module")
def engine_choice(tiny_ct2: ModelInfo) -> EngineChoice:
    return load_choice(tiny_ct2)


def open_session(data_root: Path, url: str) -> Session:
    return Session.open(Settings.model_validate({"data_dir": str(data_root), "database_url": url}),
                        migrate=False)


def captured(session: Session, speech: np.ndarray, *, queue: bool = True) -> tuple[int, list[dict[str, Any]]]:
    """A finished run of the event ``forum`` whose two streams' audio was cut at :data:`CUTS`, with one
    queue item per segment (queued unless ``queue`` is False); the run's id and the items' payloads."""
    event = Event.model_validate({
        "id": "forum", "title": "Forum", "kind": "forum", "category": "knowledge", "organizer": {"name": "Org"},
        "start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat(), "language": "en",
        "streams": [{"url": "https://live.example.com/1"}, {"url": "https://live.example.com/2"}],
    })
    with session.engine.begin() as conn:
        conn.execute(tables.events.insert().values(
            id="forum", title="Forum", kind="forum", timezone="UTC", registered_start=T0,
            registered_end=T0 + timedelta(hours=1), source_file="x.yaml", source_sha256="0",
            registration_json=event.model_dump_json(), updated_at=T0))
    store = session.runs
    run = store.open_run("forum", T0, T0 + timedelta(hours=1))
    assert run is not None
    folder = session.data.ensure_event("forum") / "audio"
    payloads = []
    for stream, cuts in CUTS.items():
        edges = [0.0, *cuts, len(speech) / 16000]
        for seq, (a, b) in enumerate(itertools.pairwise(edges)):
            path = folder / f"s{stream}-{seq:06d}.wav"
            if not path.exists():
                write_wav(path, speech[int(a * 16000):int(b * 16000)])
            start, end = T0 + timedelta(seconds=a), T0 + timedelta(seconds=b)
            segment_id = store.add_segment(SegmentRecord(run.id, stream, None, "audio", seq, path, start, end,
                                                         path.stat().st_size, "ok"))
            store.note_on_air(run.id, start, end)
            payloads.append({"event_id": "forum", "run_id": run.id, "stream": stream, "seq": seq,
                             "segment_id": segment_id, "path": str(path), "start_at": start.isoformat(),
                             "end_at": end.isoformat()})
    store.finish_run(run.id, FINISHED, "test")
    if queue:
        for payload in payloads:
            put(session, payload)
    return run.id, payloads


def put(session: Session, payload: dict[str, Any]) -> None:
    session.queue.put(TRANSCRIBE, f"{payload['run_id']}:{payload['stream']}:{payload['seq']}", payload)


def transcript(session: Session) -> list[tuple[int, datetime, datetime, str]]:
    t = tables.transcripts
    with session.engine.connect() as conn:
        return [(row.stream, row.start_at, row.end_at, row.text) for row in
                conn.execute(select(t).order_by(t.c.stream, t.c.start_at))]


def queue_items(session: Session) -> list[tuple[str, str, int]]:
    q = tables.work_queue
    with session.engine.connect() as conn:
        return [(row.item_key, row.status, row.attempts) for row in
                conn.execute(select(q).where(q.c.queue == TRANSCRIBE).order_by(q.c.id))]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, postgres_cluster: PostgresCluster, postgres_template: str,
              speech: np.ndarray, engine_choice: EngineChoice) -> list[tuple[int, datetime, datetime, str]]:
    """The transcript the one-process worker makes of the same queue (what every lane test must match)."""
    url = postgres_cluster.create_database("reference", template=postgres_template)
    with open_session(tmp_path_factory.mktemp("reference"), url) as session:
        run_id, _ = captured(session, speech)
        worker = TranscriptionWorker(session.runs, session.transcripts, session.queue, lambda event: engine_choice)
        while worker.process_one():
            pass
        for stream in CUTS:
            worker.flush("forum", run_id, stream)
        return transcript(session)


def segment_count() -> int:
    return sum(len(cuts) + 1 for cuts in CUTS.values())


# -- processes ---------------------------------------------------------------------------------------------

class Stalling(Transcriber):
    """Tiny.en that first leaves a mark and stalls, so a test can kill its process mid-transcription.
    Its rows name the engine that decoded them."""

    name: ClassVar[str] = "faster-whisper"

    def __init__(self, inner: Transcriber, marker: Path) -> None:
        super().__init__(inner.model, device=inner.device, compute_type=inner.compute_type)
        self.inner, self.marker = inner, marker

    def transcribe(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
        self.marker.touch()
        time.sleep(CHILD_TIMEOUT_S)
        return self.inner.transcribe(audio, options)


def lane_tasks(data_root: str, url: str, model: ModelInfo, tasks: list[tuple[int, int]], ready: Any, go: Any,
               results: Any, stall_marker: str | None) -> None:
    """A worker process: the transcribe tasks ``tasks`` (run, stream), one after another, once ``go`` is set."""
    choice = load_choice(model)
    if stall_marker is not None:
        choice = EngineChoice(Stalling(choice.transcriber, Path(stall_marker)), choice.options)
    with open_session(Path(data_root), url) as session:
        ready.put(os.getpid())
        go.wait(CHILD_TIMEOUT_S)
        done = sum(transcribe_lane(session, run_id, stream, choose=lambda event: choice) for run_id, stream in tasks)
        results.put(done)


def start_children(count: int, data_root: Path, url: str, model: ModelInfo, tasks: list[tuple[int, int]], *,
                   stall_marker: Path | None = None) -> tuple[list[Any], Any, Any]:
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    children = [context.Process(target=lane_tasks, args=(str(data_root), url, model, tasks, ready, go, results,
                                                         None if stall_marker is None else str(stall_marker)))
                for _ in range(count)]
    for child in children:
        child.start()
    for _ in children:
        ready.get(timeout=CHILD_TIMEOUT_S)
    return children, go, results


def tasks_for(run_id: int) -> list[tuple[int, int]]:
    """One transcribe task per closed segment, in the order the segments closed."""
    return [(run_id, stream) for seq in range(max(len(c) for c in CUTS.values()) + 1)
            for stream, cuts in CUTS.items() if seq <= len(cuts)]


# -- tests -------------------------------------------------------------------------------------------------

def test_two_threads_and_two_processes_transcribe_each_segment_once_in_order(
    tmp_path: Path, postgres_url: str, speech: np.ndarray, engine_choice: EngineChoice, tiny_ct2: ModelInfo,
    reference: list[tuple[int, datetime, datetime, str]]
) -> None:
    with open_session(tmp_path / "data", postgres_url) as session:
        run_id, _ = captured(session, speech)
        tasks = tasks_for(run_id)
        children, go, results = start_children(2, tmp_path / "data", postgres_url, tiny_ct2, tasks)
        counts: list[int] = []

        def in_thread() -> None:
            go.wait(CHILD_TIMEOUT_S)
            counts.append(sum(transcribe_lane(session, r, s, choose=lambda event: engine_choice) for r, s in tasks))

        threads = [threading.Thread(target=in_thread) for _ in range(2)]
        for thread in threads:
            thread.start()
        go.set()
        for thread in threads:
            thread.join(CHILD_TIMEOUT_S)
        counts += [results.get(timeout=CHILD_TIMEOUT_S) for _ in children]
        for child in children:
            child.join(CHILD_TIMEOUT_S)
            assert child.exitcode == 0
        assert sum(counts) == segment_count()  # each segment by exactly one of the four
        assert {status for _, status, _ in queue_items(session)} == {"done"}
        assert {attempts for _, _, attempts in queue_items(session)} == {1}
        assert transcript(session) == reference
        assert [getattr(session.transcripts.progress(run_id, stream), "flushed", None) for stream in CUTS] == \
            [True] * len(CUTS)
        assert (session.data.transcripts_dir("forum") / "transcript.jsonl").read_text().count("\n") == len(reference)


def test_a_holder_killed_mid_segment_loses_its_lane_and_claims_to_the_next(
    tmp_path: Path, postgres_url: str, speech: np.ndarray, engine_choice: EngineChoice, tiny_ct2: ModelInfo,
    reference: list[tuple[int, datetime, datetime, str]]
) -> None:
    marker = tmp_path / "stalled"
    with open_session(tmp_path / "data", postgres_url) as session:
        run_id, _ = captured(session, speech)
        children, go, _ = start_children(1, tmp_path / "data", postgres_url, tiny_ct2, [(run_id, 0)],
                                         stall_marker=marker)
        go.set()
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while not marker.exists():
            assert time.monotonic() < deadline
            assert children[0].is_alive()
            time.sleep(0.02)
        # Mid-transcription: stream 0's lane is the child's, and so are its claimed items.
        assert transcribe_lane(session, run_id, 0, choose=lambda event: engine_choice) == 0
        claimed = [key for key, status, _ in queue_items(session) if status == "claimed"]
        assert claimed
        assert all(key.startswith(f"{run_id}:0:") for key in claimed)
        os.kill(children[0].pid or 0, signal.SIGKILL)
        children[0].join(CHILD_TIMEOUT_S)
        # Its connection is gone and with it the lane: the next task takes the lane and the items over.
        started = time.monotonic()
        while not (done := transcribe_lane(session, run_id, 0, choose=lambda event: engine_choice)):
            assert time.monotonic() - started < 10, "no task took over the killed holder's lane and segments"
            time.sleep(0.05)
        assert done == len(CUTS[0]) + 1
        assert transcribe_lane(session, run_id, 1, choose=lambda event: engine_choice) == len(CUTS[1]) + 1
        items = queue_items(session)
        assert {status for _, status, _ in items} == {"done"}
        assert {key: attempts for key, _, attempts in items if attempts > 1} == dict.fromkeys(claimed, 2)
        assert transcript(session) == reference


class WakeUpRace(PostgresWorkQueue):
    """The real queue, with a hook run once when a lane's holder finds nothing left in the lane (none pending,
    none claimed): the moment before it lets the lane go, when a segment closing is the wake-up a holder
    that looks only once would lose."""

    def __init__(self, *args: Any, hook: Callable[[], None]) -> None:
        super().__init__(*args)
        self.hook: Callable[[], None] | None = hook

    def claim(self, queue: str, key_prefix: str | None = None,
              exclude_prefixes: Collection[str] = ()) -> WorkItem | None:
        item = super().claim(queue, key_prefix, exclude_prefixes)
        if (item is None and key_prefix is not None and self.hook is not None
                and not lane_backlog(self.engine, TRANSCRIBE, key_prefix)):
            hook, self.hook = self.hook, None
            hook()
        return item


def test_a_segment_queued_while_the_holder_lets_go_is_transcribed(
    tmp_path: Path, postgres_url: str, speech: np.ndarray, engine_choice: EngineChoice
) -> None:
    with open_session(tmp_path / "data", postgres_url) as session:
        run_id, payloads = captured(session, speech, queue=False)
        stream_0 = [p for p in payloads if p["stream"] == 0]
        for payload in stream_0[:-1]:
            put(session, payload)
        other_task: list[int] = []

        def last_segment_closes() -> None:  # its task finds the lane held and leaves it to the holder
            put(session, stream_0[-1])
            other_task.append(transcribe_lane(session, run_id, 0, choose=lambda event: engine_choice))

        session.queue = WakeUpRace(session.engine, hook=last_segment_closes)
        done = transcribe_lane(session, run_id, 0, choose=lambda event: engine_choice)
        assert other_task == [0]
        assert done == len(stream_0)
        assert [status for key, status, _ in queue_items(session)] == ["done"] * len(stream_0)
        progress = session.transcripts.progress(run_id, 0)
        assert progress is not None
        assert progress.last_seq == len(stream_0) - 1
        assert progress.flushed
        words = " ".join(text for stream, _, _, text in transcript(session) if stream == 0).lower().split()
        assert words[0] == "good"
        assert words[-1].strip(".") == "tonight"


class Gated(Transcriber):
    """Tiny.en that, on its first window, says so and waits to be let go."""

    name: ClassVar[str] = "faster-whisper"

    def __init__(self, inner: Transcriber) -> None:
        super().__init__(inner.model, device=inner.device, compute_type=inner.compute_type)
        self.inner, self.entered, self.go_on = inner, threading.Event(), threading.Event()

    def transcribe(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
        self.entered.set()
        self.go_on.wait(CHILD_TIMEOUT_S)
        return self.inner.transcribe(audio, options)


def test_a_holder_that_lost_its_lane_commits_nothing(
    tmp_path: Path, postgres_cluster: PostgresCluster, postgres_url: str, speech: np.ndarray,
    engine_choice: EngineChoice, reference: list[tuple[int, datetime, datetime, str]]
) -> None:
    gated = Gated(engine_choice.transcriber)
    with open_session(tmp_path / "data", postgres_url) as session:
        run_id, _ = captured(session, speech)
        outcome: list[BaseException | int] = []

        def first_holder() -> None:
            try:
                outcome.append(transcribe_lane(session, run_id, 0,
                                               choose=lambda event: EngineChoice(gated, engine_choice.options)))
            except ProgressMoved as err:
                outcome.append(err)

        holder = threading.Thread(target=first_holder)
        holder.start()
        assert gated.entered.wait(CHILD_TIMEOUT_S)
        # Its lock connection dies (the server restarted it, a network cut) while it decodes: the lane is free.
        with postgres_cluster.connect(PostgresCluster.name_of(postgres_url)) as admin:
            pids = [row[0] for row in admin.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory'")]
            assert len(pids) == 1
            admin.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
            # pg_terminate_backend only signals the backend: the lane is free once it has exited.
            wait_until(lambda: admin.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
                       .fetchone() == (0,), CHILD_TIMEOUT_S, "the killed connection's advisory lock to go")
        assert transcribe_lane(session, run_id, 0, choose=lambda event: engine_choice) == len(CUTS[0]) + 1
        gated.go_on.set()
        holder.join(CHILD_TIMEOUT_S)
        assert len(outcome) == 1
        assert isinstance(outcome[0], ProgressMoved)
        assert transcribe_lane(session, run_id, 1, choose=lambda event: engine_choice) == len(CUTS[1]) + 1
        assert {status for _, status, _ in queue_items(session)} == {"done"}
        assert transcript(session) == reference


def test_a_worker_that_cannot_see_the_media_leaves_the_stream_to_others(
    tmp_path: Path, postgres_url: str, speech: np.ndarray, engine_choice: EngineChoice
) -> None:
    with open_session(tmp_path / "data", postgres_url) as session:
        run_id, payloads = captured(session, speech, queue=False)
        put(session, {**payloads[0], "path": str(tmp_path / "unmounted" / "forum" / "audio" / "s0-000000.wav")})
        with pytest.raises(MediaUnavailable, match="unmounted/forum/audio: not visible on this worker"):
            transcribe_lane(session, run_id, 0, choose=lambda event: engine_choice)
        assert queue_items(session) == [(f"{run_id}:0:0", "pending", 0)]
        assert transcript(session) == []


def test_on_sqlite_a_lane_is_held_within_the_process(
    tmp_path: Path, speech: np.ndarray, engine_choice: EngineChoice,
    reference: list[tuple[int, datetime, datetime, str]]
) -> None:
    with Session.open(Settings.model_validate({"data_dir": str(tmp_path / "data")})) as session:
        run_id, _ = captured(session, speech)
        counts: list[int] = []
        checks: list[tuple[str, bool]] = []
        threads = [threading.Thread(target=lambda: counts.append(sum(
            transcribe_lane(session, r, s, choose=lambda event: engine_choice,
                            on_transcribed=lambda event, final: checks.append((event, final)))
            for r, s in tasks_for(run_id))))
            for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(CHILD_TIMEOUT_S)
        assert sum(counts) == segment_count()
        assert transcript(session) == reference
        # A check after each window, and a final one when a stream is flushed (the run had ended).
        assert sorted(set(checks)) == [("forum", False), ("forum", True)]
        assert checks.count(("forum", True)) == len(CUTS)


def test_a_segment_that_lost_its_worker_three_times_fails_for_good(
    tmp_path: Path, postgres_url: str, speech: np.ndarray, engine_choice: EngineChoice
) -> None:
    with open_session(tmp_path / "data", postgres_url) as session:
        run_id, payloads = captured(session, speech, queue=False)
        put(session, payloads[0])
        put(session, payloads[1])
        with session.engine.begin() as conn:  # claimed by a third holder, lost like the two before it
            q = tables.work_queue
            conn.execute(q.update().where(q.c.item_key == f"{run_id}:0:0").values(status="claimed", attempts=3))
        assert transcribe_lane(session, run_id, 0, choose=lambda event: engine_choice) == 1
        assert queue_items(session) == [(f"{run_id}:0:0", "failed", 3), (f"{run_id}:0:1", "done", 1)]


def test_checks_of_one_event_take_turns(tmp_path: Path, postgres_url: str, speech: np.ndarray,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    spans: list[tuple[float, float]] = []

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.monotonic()
        time.sleep(0.2)  # a slow check: a second one must wait for it
        result = check_and_publish(*args, **kwargs)
        spans.append((began, time.monotonic()))
        return result

    monkeypatch.setattr(lanes, "check_and_publish", timed)
    with open_session(tmp_path / "data", postgres_url) as session:
        run_id, _ = captured(session, speech, queue=False)
        with session.engine.begin() as conn:
            conn.execute(tables.transcripts.insert().values(
                run_id=run_id, stream=0, start_at=T0, end_at=T0 + timedelta(seconds=4), text="加我微信 abc123",
                text_check="加我微信 abc123", language="zh", avg_logprob=-0.2, no_speech_prob=0.01,
                compression_ratio=1.2, flags="", words_json="[]", backend="faster-whisper", model="base"))
        # Two sessions: two processes' worth of connections and per-process caches.
        with open_session(tmp_path / "data", postgres_url) as other:
            threads = [threading.Thread(target=check_event_now, args=(s, "forum", False)) for s in (session, other)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(CHILD_TIMEOUT_S)
        assert len(spans) == 2
        first, second = sorted(spans)
        assert first[1] <= second[0]
        assert (session.data.report_dir("forum") / "report.html").is_file()
