"""Distributed transcription: throughput of the transcribe lanes over PostgreSQL, and what the lane costs.

    .venv/bin/python bench/scale.py [--streams 4] [--segments 4] [--overhead-segments 120]

1. Throughput: a queued backlog (``--streams`` streams of one run, ``--segments`` 10 s segments each, espeak-ng
   speech, tiny.en on the CPU) drained by 1 and by 2 worker processes that take transcribe tasks — one per
   segment, in the order the segments closed, as Celery hands them out — and call ``transcribe_lane``; and,
   for reference, by the monitor's in-process worker. Segments transcribed per minute (model loading not
   counted).
2. Overhead: the same per-segment work through ``transcribe_lane`` and through the in-process worker, with an
   engine that decodes nothing (so only the queue, the lane and the state database are measured), both as a
   live event (each segment queued, then its task run) and from a backlog (every task after the first of a
   stream finds its stream done). Milliseconds per segment; the goal is under 50 ms.

A throw-away PostgreSQL cluster is started (``tests/support/postgres.py``), one database per measurement.
Absolute figures depend on the machine and on what else runs on it; the cores available are printed, and
the CPU seconds per segment (all threads), which say whether more processes cost more work per segment
where wall-clock throughput is blurred by other load.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livewatch.distributed.lanes import transcribe_lane  # noqa: E402
from livewatch.pipeline import ClosedSegment, encode  # noqa: E402
from livewatch.pipeline.run_status import FINISHED  # noqa: E402
from livewatch.queue import TRANSCRIBE  # noqa: E402
from livewatch.session import Session  # noqa: E402
from livewatch.settings import Settings  # noqa: E402
from livewatch.state import tables  # noqa: E402
from livewatch.state.runs import SegmentRecord  # noqa: E402
from livewatch.transcription import backends  # noqa: E402
from livewatch.transcription.worker import EngineChoice, TranscriptionWorker, read_wav  # noqa: E402
from tests.support.postgres import PostgresCluster, start_cluster  # noqa: E402
from transcribers.base import Audio, ModelInfo, Segment, TranscribeOptions, Transcriber  # noqa: E402
from transcribers.store import ModelStore  # noqa: E402

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SEGMENT_S = 10
SENTENCES = [
    "Good evening everyone and welcome to the annual creator forum.",
    "Tonight we will talk about how influencers work with brands and what the rules say about it.",
    "Every sponsored post must carry a clear disclosure, in the video and in the description.",
    "Our first guest has run a cooking channel for six years and will share how she chooses partners.",
    "Please hold your questions until the end of the session, when we will open the microphones.",
    "Financial advice may only be given by people who hold the right qualifications.",
]


@dataclass(frozen=True)
class Backlog:
    run_id: int
    payloads: list[dict[str, Any]]

    def tasks(self) -> list[tuple[int, int]]:
        """One (run, stream) task per segment, in the order the segments closed."""
        return [(int(p["run_id"]), int(p["stream"])) for p in sorted(self.payloads, key=lambda p: (p["seq"],
                                                                                                p["stream"]))]


class Deaf(Transcriber):
    """Hears one utterance ending 1.5 s before every window's end, at no cost: what is left is the lane's
    and the worker's own work."""

    name: ClassVar[str] = "deaf"

    def transcribe(self, audio: Audio, options: TranscribeOptions) -> Iterator[Segment]:
        seconds = 30.0 if isinstance(audio, Path) else len(audio) / 16000  # the worker passes samples
        yield Segment(0.0, max(0.1, seconds - 1.5), "…", language="en")


def make_speech(folder: Path) -> np.ndarray:
    pieces = []
    for index, sentence in enumerate(SENTENCES):
        raw = folder / f"s{index}.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), sentence], check=True)
        pieces.append(raw)
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in pieces), encoding="utf-8")
    out = folder / "speech.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-af", "apad=pad_dur=0.5", "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(out)], check=True)
    return read_wav(out)


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def open_session(folder: Path, url: str) -> Session:
    return Session.open(Settings.model_validate({"data_dir": str(folder), "database_url": url}))


def captured(session: Session, speech: np.ndarray, streams: int, segments: int, *, finished: bool = True) -> Backlog:
    """A run (finished, or still recording) with ``streams`` streams of ``segments`` 10 s segments (the speech,
    looped), not queued."""
    with session.engine.begin() as conn:
        conn.execute(tables.events.insert().values(
            id="bench", title="bench", kind="forum", timezone="UTC", registered_start=T0,
            registered_end=T0 + timedelta(hours=1), source_file="-", source_sha256="-",
            registration_json='{"language": "en"}', updated_at=T0))
    run = session.runs.open_run("bench", T0, T0 + timedelta(hours=1))
    assert run is not None
    folder = session.data.ensure_event("bench") / "audio"
    step = SEGMENT_S * 16000
    looped = np.tile(speech, segments * step // len(speech) + 1)
    payloads = []
    for stream, seq in itertools.product(range(streams), range(segments)):
        path = folder / f"s{seq % 8:06d}.wav"  # a handful of files serve every stream
        if not path.exists():
            write_wav(path, looped[(seq % 8) * step:(seq % 8 + 1) * step])
        start = T0 + timedelta(seconds=seq * SEGMENT_S)
        end = start + timedelta(seconds=SEGMENT_S)
        segment_id = session.runs.add_segment(SegmentRecord(run.id, stream, None, "audio", seq, path, start, end,
                                                            path.stat().st_size, "ok"))
        payloads.append(encode(ClosedSegment("bench", run.id, stream, seq, segment_id, path, start, end)))
    if finished:
        session.runs.finish_run(run.id, FINISHED, "bench")
    return Backlog(run.id, payloads)


def queue(session: Session, payload: dict[str, Any]) -> None:
    session.queue.put(TRANSCRIBE, f"{payload['run_id']}:{payload['stream']}:{payload['seq']}", payload)


def in_process(session: Session, backlog: Backlog, choice: EngineChoice, *, live: bool) -> float:
    """The monitor's path (a worker taking items, then each ended stream's flush); seconds."""
    worker = TranscriptionWorker(session.runs, session.transcripts, session.queue, lambda event: choice)
    began = time.perf_counter()
    for payload in backlog.payloads if live else []:
        queue(session, payload)
        worker.process_one()
    while worker.process_one():
        pass
    for stream in sorted({int(p["stream"]) for p in backlog.payloads}):
        worker.flush("bench", backlog.run_id, stream)
    return time.perf_counter() - began


def through_lanes(session: Session, backlog: Backlog, choice: EngineChoice, *, live: bool) -> float:
    """The distributed path, one task after another in this process (live: each segment queued, then its
    task; when the capture ends, one more task per stream flushes it); seconds."""
    began = time.perf_counter()
    for payload, (run_id, stream) in zip(sorted(backlog.payloads, key=lambda p: (p["seq"], p["stream"])),
                                         backlog.tasks(), strict=True):
        if live:
            queue(session, payload)
        transcribe_lane(session, run_id, stream, choose=lambda event: choice)
    if live:
        session.runs.finish_run(backlog.run_id, FINISHED, "bench")
        for stream in sorted({int(p["stream"]) for p in backlog.payloads}):
            transcribe_lane(session, backlog.run_id, stream, choose=lambda event: choice)
    return time.perf_counter() - began


def worker_process(folder: str, url: str, model: ModelInfo, threads: int, tasks: Any, ready: Any, go: Any,
                   done: Any) -> None:
    """A worker process: loads tiny.en (decoding on ``threads`` threads), then takes tasks until none is left."""
    os.environ["OMP_NUM_THREADS"] = str(threads)  # CTranslate2's threads: the processes share the cores
    engine = backends.create("faster-whisper", model, device="cpu", compute_type="int8")
    choice = EngineChoice(engine, TranscribeOptions(language="en"))
    with Session.open(Settings.model_validate({"data_dir": folder, "database_url": url}), migrate=False) as session:
        ready.put(os.getpid())
        go.wait()
        count, cpu = 0, time.process_time()
        while (task := tasks.get()) is not None:
            count += transcribe_lane(session, task[0], task[1], choose=lambda event: choice)
        done.put((count, time.process_time() - cpu))


def throughput(processes: int, folder: Path, url: str, model: ModelInfo,
               backlog: Backlog) -> tuple[float, int, float]:
    """Seconds for ``processes`` worker processes to drain the backlog, the segments they transcribed and
    the CPU seconds they spent (all their threads)."""
    context = multiprocessing.get_context("spawn")
    tasks, ready, done, go = context.Queue(), context.Queue(), context.Queue(), context.Event()
    for task in backlog.tasks():
        tasks.put(task)
    for _ in range(processes):
        tasks.put(None)
    threads = max(1, len(os.sched_getaffinity(0)) // processes)
    children = [context.Process(target=worker_process, args=(str(folder), url, model, threads, tasks, ready, go,
                                                             done))
                for _ in range(processes)]
    for child in children:
        child.start()
    for _ in children:
        ready.get()
    began = time.perf_counter()
    go.set()
    reports = [done.get() for _ in children]
    transcribed, cpu = sum(r[0] for r in reports), sum(r[1] for r in reports)
    seconds = time.perf_counter() - began
    for child in children:
        child.join()
    return seconds, transcribed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=4, help="streams in the backlog")
    parser.add_argument("--segments", type=int, default=4, help="10 s segments per stream in the backlog")
    parser.add_argument("--overhead-segments", type=int, default=120, help="segments for the overhead figures")
    parser.add_argument("--repeat", type=int, default=5, help="overhead runs per path (the median is reported)")
    args = parser.parse_args()
    cluster = start_cluster()
    try:
        measure(args, cluster)
    finally:
        cluster.stop()


def measure(args: argparse.Namespace, cluster: PostgresCluster) -> None:
    template = cluster.create_database("bench_template")
    with tempfile.TemporaryDirectory() as tmp:
        open_session(Path(tmp), template).close()  # migrated once, cloned per measurement

    def fresh(name: str) -> tuple[Path, str]:
        """A data directory and an empty database of the latest schema."""
        return root / name, cluster.create_database("bench", template=cluster.name_of(template))

    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        speech = make_speech(root)
        model = ModelStore(root / "models").resolve("tiny.en", "faster-whisper")
        engine = backends.create("faster-whisper", model, device="cpu", compute_type="int8")
        tiny = EngineChoice(engine, TranscribeOptions(language="en"))
        count = args.streams * args.segments
        print(f"{cores} core(s) available; backlog: {args.streams} stream(s) x {args.segments} x {SEGMENT_S} s "
              f"= {count} segments; tiny.en int8 on the CPU; PostgreSQL")
        folder, url = fresh("inproc")
        with open_session(folder, url) as session:
            backlog = captured(session, speech, args.streams, args.segments)
            for payload in backlog.payloads:
                queue(session, payload)
            cpu = time.process_time()
            seconds = in_process(session, backlog, tiny, live=False)
            cpu = time.process_time() - cpu
        print(f"  in-process worker (1 process):   {count / seconds * 60:7.1f} segments/min ({seconds:.1f} s; "
              f"{cpu / count:.2f} CPU s per segment)")
        for processes in (1, 2):
            folder, url = fresh(f"lanes{processes}")
            with open_session(folder, url) as session:
                backlog = captured(session, speech, args.streams, args.segments)
                for payload in backlog.payloads:
                    queue(session, payload)
            seconds, transcribed, cpu = throughput(processes, folder, url, model, backlog)
            assert transcribed == count, f"{transcribed} of {count} segments transcribed"
            print(f"  transcribe_lane, {processes} process(es):   {count / seconds * 60:7.1f} segments/min "
                  f"({seconds:.1f} s; {cpu / count:.2f} CPU s per segment)")
        deaf = EngineChoice(Deaf(model), TranscribeOptions(language="en"))
        streams = 4
        per_stream = max(1, args.overhead_segments // streams)
        total = streams * per_stream
        print(f"overhead, an engine that decodes nothing, {total} segments over {streams} streams "
              f"(median of {args.repeat}):")
        for live in (True, False):
            samples: dict[str, list[float]] = {"in-process": [], "lanes": []}
            for attempt in range(args.repeat):  # alternated, so that a busy spell on the machine hits both
                for path, runner in (("in-process", in_process), ("lanes", through_lanes)):
                    folder, url = fresh(f"overhead-{path}-{live}-{attempt}")
                    with open_session(folder, url) as session:
                        backlog = captured(session, speech, streams, per_stream, finished=not live)
                        if not live:
                            for payload in backlog.payloads:
                                queue(session, payload)
                        samples[path].append(runner(session, backlog, deaf, live=live) / total * 1000)
            figures = [statistics.median(samples["in-process"]), statistics.median(samples["lanes"])]
            mode = "live (queued, then its task)" if live else "backlog (one task per segment)"
            print(f"  {mode:32s} in-process {figures[0]:6.1f} ms/segment, lanes {figures[1]:6.1f} ms/segment: "
                  f"overhead {figures[1] - figures[0]:+6.1f} ms/segment")


if __name__ == "__main__":
    main()
