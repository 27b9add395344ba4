"""Incremental transcription from the durable queue: absolute times, boundaries, restarts, exports."""

from __future__ import annotations

import itertools
import json
import re
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from livewatch.pipeline.run_status import FINISHED
from livewatch.queue import TRANSCRIBE
from livewatch.state import Database, DataDir, tables
from livewatch.state.runs import RunStore, SegmentRecord
from livewatch.state.transcripts import TranscriptStore
from livewatch.state.work_queue import SqliteWorkQueue
from livewatch.transcription import backends
from livewatch.transcription.transcript_files import write_transcript_files
from livewatch.transcription.worker import EngineChoice, TranscriptionWorker, read_wav
from tests.transcription.conftest import speak
from transcribers.base import ModelInfo, TranscribeOptions, Transcriber

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
SPEECH = ("Good evening everyone and welcome to the forum. Please remember that sponsored content must be "
          "disclosed clearly. Thank you all for joining us tonight.")


@pytest.fixture(scope="module")
def engine_choice(tiny_ct2: ModelInfo) -> EngineChoice:
    engine: Transcriber = backends.create("faster-whisper", tiny_ct2, device="cpu", compute_type="int8")
    return EngineChoice(engine, TranscribeOptions(language="en"))


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


Payload = dict[str, object]


def captured_run(tmp_path: Path, audio: np.ndarray, cut_at: list[float]) -> tuple[DataDir, int, list[Payload]]:
    """A finished run whose audio was cut into segments at ``cut_at`` seconds, with the queue items the capture
    makes for them (not queued yet: the tests queue them as a live capture would, or all at once)."""
    data = DataDir(tmp_path / "data")
    with Database.open(data) as db:
        with db.engine.begin() as conn:
            conn.execute(tables.events.insert().values(
                id="forum", title="Forum", kind="forum", timezone="UTC", registered_start=T0,
                registered_end=T0 + timedelta(hours=1), source_file="x.yaml", source_sha256="0",
                registration_json=json.dumps({"language": "en"}), updated_at=T0))
        store = RunStore(db.engine)
        run = store.open_run("forum", T0, T0 + timedelta(hours=1))
        assert run is not None
        folder = data.ensure_event("forum") / "audio"
        payloads: list[Payload] = []
        edges = [0.0, *cut_at, len(audio) / 16000]
        for seq, (a, b) in enumerate(itertools.pairwise(edges)):
            path = folder / f"s0-{seq:06d}.wav"
            write_wav(path, audio[int(a * 16000):int(b * 16000)])
            start, end = T0 + timedelta(seconds=a), T0 + timedelta(seconds=b)
            segment_id = store.add_segment(SegmentRecord(run.id, 0, None, "audio", seq, path, start, end,
                                                         path.stat().st_size, "ok"))
            store.note_on_air(run.id, start, end)
            payloads.append({"event_id": "forum", "run_id": run.id, "stream": 0, "seq": seq,
                             "segment_id": segment_id, "path": str(path), "start_at": start.isoformat(),
                             "end_at": end.isoformat()})
        store.finish_run(run.id, FINISHED, "test")
    return data, run.id, payloads


def queue_all(data: DataDir, payloads: list[Payload]) -> None:
    with Database(data.database) as db:
        queue = SqliteWorkQueue(db.engine)
        for payload in payloads:
            queue.put(TRANSCRIBE, f"{payload['run_id']}:0:{payload['seq']}", payload)


def transcribe_live(data: DataDir, run_id: int, choice: EngineChoice, payloads: list[Payload], *,
                    carry_unheard: bool = True) -> None:
    """Each segment is queued as it closes and transcribed before the next one closes (a live event)."""
    for payload in payloads:
        queue_all(data, [payload])
        transcribe_all(data, run_id, choice, flush=False, carry_unheard=carry_unheard)
    transcribe_all(data, run_id, choice, carry_unheard=carry_unheard)


def transcribe_all(data: DataDir, run_id: int, choice: EngineChoice, *, flush: bool = True,
                   carry_unheard: bool = True) -> None:
    with Database(data.database) as db:
        worker = TranscriptionWorker(RunStore(db.engine), TranscriptStore(db.engine), SqliteWorkQueue(db.engine),
                                     lambda event: choice, carry_unheard=carry_unheard)
        while worker.process_one():
            pass
        if flush:
            worker.flush("forum", run_id, 0)


def transcript(data: DataDir, run_id: int) -> list[Any]:
    with Database(data.database) as db, db.engine.connect() as conn:
        t = tables.transcripts
        return list(conn.execute(select(t).where(t.c.run_id == run_id).order_by(t.c.start_at)))


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return read_wav(speak(SPEECH, tmp_path_factory.mktemp("speech") / "speech.wav"))


@pytest.fixture(scope="module")
def whole(speech: np.ndarray, engine_choice: EngineChoice) -> list[str]:
    """The speech transcribed in one go: what the incremental transcript must match."""
    segments = engine_choice.transcriber.transcribe(speech, engine_choice.options)
    return words_of(" ".join(s.text for s in segments))


KEYS = ["evening", "welcome", "forum", "please", "remember", "content", "disclosed", "thank", "tonight"]


def test_words_across_segment_boundaries_are_kept_once(
    tmp_path: Path, speech: np.ndarray, engine_choice: EngineChoice, whole: list[str]
) -> None:
    # Cuts at 3.1 s and 6.3 s fall inside the speech; each segment is transcribed as it "closes".
    data, run_id, payloads = captured_run(tmp_path, speech, [3.1, 6.3])
    transcribe_live(data, run_id, engine_choice, payloads)
    rows = transcript(data, run_id)
    words = words_of(" ".join(r.text for r in rows))
    # Every part of the speech once, in order; the cut words are neither lost nor doubled.
    assert [w for w in words if w in KEYS] == KEYS
    assert abs(len(words) - len(whole)) <= 2
    assert all(r.start_at >= T0 and r.end_at <= T0 + timedelta(seconds=len(speech) / 16000 + 0.5) for r in rows)
    assert [r.start_at for r in rows] == sorted(r.start_at for r in rows)
    first_word = json.loads(rows[0].words_json)[0]
    assert datetime.fromisoformat(first_word["start"]) - T0 < timedelta(seconds=1)
    assert all(r.backend == "faster-whisper" and r.model == "tiny.en" for r in rows)


def test_a_backlog_is_transcribed_in_larger_windows(
    tmp_path: Path, speech: np.ndarray, engine_choice: EngineChoice
) -> None:
    data, run_id, payloads = captured_run(tmp_path, speech, [3.1, 6.3])
    queue_all(data, payloads)  # all three segments waiting at once: one window
    transcribe_all(data, run_id, engine_choice)
    rows = transcript(data, run_id)
    assert [w for w in words_of(" ".join(r.text for r in rows)) if w in KEYS] == KEYS
    assert {r.segment_id for r in rows} <= {1, 2, 3}
    assert rows[0].segment_id == 1
    with Database(data.database) as db:
        assert SqliteWorkQueue(db.engine).backlog(TRANSCRIBE) == 0


def test_restart_mid_queue_gives_the_same_transcript(
    tmp_path: Path, speech: np.ndarray, engine_choice: EngineChoice
) -> None:
    data_a, run_a, payloads_a = captured_run(tmp_path / "a", speech, [3.1, 6.3])
    transcribe_live(data_a, run_a, engine_choice, payloads_a)
    data_b, run_b, payloads_b = captured_run(tmp_path / "b", speech, [3.1, 6.3])
    queue_all(data_b, payloads_b[:1])
    transcribe_all(data_b, run_b, engine_choice, flush=False)  # then the worker "dies"
    transcribe_live(data_b, run_b, engine_choice, payloads_b[1:])  # a new worker resumes from durable progress
    uninterrupted = [(r.start_at, r.text) for r in transcript(data_a, run_a)]
    assert [(r.start_at, r.text) for r in transcript(data_b, run_b)] == uninterrupted


def test_a_segment_seen_twice_is_not_transcribed_twice(
    tmp_path: Path, speech: np.ndarray, engine_choice: EngineChoice
) -> None:
    data, run_id, payloads = captured_run(tmp_path, speech, [3.1, 6.3])
    transcribe_live(data, run_id, engine_choice, payloads)
    before = transcript(data, run_id)
    with Database(data.database) as db:
        queue = SqliteWorkQueue(db.engine)
        assert queue.put(TRANSCRIBE, "redelivered", payloads[1]) is True  # the same segment delivered again
    transcribe_all(data, run_id, engine_choice)
    assert len(transcript(data, run_id)) == len(before)
    with Database(data.database) as db, db.engine.connect() as conn:
        status = conn.execute(select(tables.work_queue.c.status).where(
            tables.work_queue.c.item_key == "redelivered")).scalar_one()
    assert status == "done"


def test_silence_between_speech_gives_no_text_and_files_are_written(
    tmp_path: Path, speech: np.ndarray, engine_choice: EngineChoice
) -> None:
    quiet = np.zeros(16000 * 12, dtype=np.float32)
    data, run_id, payloads = captured_run(tmp_path, np.concatenate([quiet, speech[: 16000 * 3]]), [5.0, 10.0])
    transcribe_live(data, run_id, engine_choice, payloads)
    rows = transcript(data, run_id)
    assert rows
    assert all(r.start_at >= T0 + timedelta(seconds=11) for r in rows)  # nothing invented in the silence
    with Database(data.database) as db:
        files = write_transcript_files(RunStore(db.engine), TranscriptStore(db.engine), run_id,
                                       data.transcripts_dir("forum"))
    names = {f.name for f in files}
    assert names == {"transcript.jsonl", "transcript.srt", "transcript.vtt"}
    lines = (data.transcripts_dir("forum") / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(rows)
    assert json.loads(lines[0])["start"] == rows[0].start_at.isoformat()
    vtt = (data.transcripts_dir("forum") / "transcript.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n")
    assert "00:00:1" in vtt  # speech starts about 12 s into the recording


def test_a_corrupt_segment_is_skipped_with_a_note_and_its_neighbours_kept(
        tmp_path: Path, speech: np.ndarray, engine_choice: EngineChoice) -> None:
    pause = np.zeros(3 * 16000, dtype=np.float32)
    length = len(speech) / 16000
    data, run_id, payloads = captured_run(tmp_path, np.concatenate([speech, pause, speech]), [length, length + 3])
    corrupt = Path(str(payloads[1]["path"]))
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00garbage, not a format chunk")
    queue_all(data, payloads)  # queued together: the worker would take them as one batch
    transcribe_all(data, run_id, engine_choice)
    rows = transcript(data, run_id)
    words = words_of(" ".join(r.text for r in rows))
    assert words.count("welcome") == 2  # both good segments, whole
    assert all(not (payloads_start(payloads[1]) < r.start_at < payloads_end(payloads[1])) for r in rows)
    with Database(data.database) as db, db.engine.connect() as conn:
        segment = conn.execute(select(tables.segments).where(tables.segments.c.id == payloads[1]["segment_id"])).one()
        items = {row.item_key: row for row in conn.execute(select(tables.work_queue))}
    assert segment.status == "corrupt"
    assert "transcription skipped it" in segment.note
    assert "not a readable WAV file" in segment.note
    assert items[f"{run_id}:0:1"].status == "failed"
    assert items[f"{run_id}:0:1"].attempts == 1  # not retried: the file will not get better
    assert {items[f"{run_id}:0:0"].status, items[f"{run_id}:0:2"].status} == {"done"}


def payloads_start(payload: Payload) -> datetime:
    return datetime.fromisoformat(str(payload["start_at"]))


def payloads_end(payload: Payload) -> datetime:
    return datetime.fromisoformat(str(payload["end_at"]))


def test_a_long_segment_is_cut_after_the_last_sentence_finished_in_time() -> None:
    from livewatch.transcription.worker import split_at_sentence
    from transcribers.base import Segment, Word

    words = (Word(0.0, 0.5, " This", 0.9), Word(0.5, 1.0, " fund.", 0.9), Word(1.2, 1.6, " Scan", 0.9),
             Word(1.6, 2.0, " it.", 0.9), Word(2.2, 2.9, " Good", 0.9), Word(2.9, 3.5, " night", 0.9))
    segment = Segment(0.0, 3.5, " This fund. Scan it. Good night", words, avg_logprob=-0.3)
    head, rest = split_at_sentence(segment, limit=2.5)
    assert head is not None
    assert rest is not None
    assert (head.text, head.start, head.end, head.avg_logprob) == ("This fund. Scan it.", 0.0, 2.0, -0.3)
    assert (rest.text, rest.start, rest.end, len(rest.words)) == ("Good night", 2.2, 3.5, 2)
    assert split_at_sentence(segment, limit=0.9) == (None, segment)  # no sentence over by then
    assert split_at_sentence(Segment(0.0, 3.0, "no word times"), limit=2.0)[0] is None
    chinese = (Word(0.0, 1.0, "大家好。", 0.9), Word(1.0, 2.0, "保本", 0.9))
    assert split_at_sentence(Segment(0.0, 2.0, "大家好。保本", chinese), 1.5)[0].text == "大家好。"  # type: ignore[union-attr]


def test_lanes_keep_each_stream_with_one_worker(tmp_path: Path) -> None:
    from livewatch.transcription.worker import StreamLanes

    with Database.open(DataDir(tmp_path / "data")) as db:
        queue = SqliteWorkQueue(db.engine)
        for seq in range(2):
            for stream in (0, 1):
                queue.put(TRANSCRIBE, f"7:{stream}:{seq}", {"run_id": 7, "stream": stream, "seq": seq})
        lanes = StreamLanes()
        first, second = lanes.claim(queue), lanes.claim(queue)
        assert first is not None
        assert second is not None
        assert (first.key, second.key) == ("7:0:0", "7:1:0")  # not stream 0's next segment
        assert lanes.claim(queue) is None  # both streams are taken
        queue.complete(first)
        lanes.leave(first)
        again = lanes.claim(queue)
        assert again is not None
        assert again.key == "7:0:1"


def test_two_workers_transcribe_two_streams_at_once_in_order(
        tmp_path: Path, speech: np.ndarray, engine_choice: EngineChoice) -> None:
    import shutil
    import threading

    from livewatch.transcription.worker import StreamLanes

    data, run_id, payloads = captured_run(tmp_path, speech, [3.1, 6.3])
    second: list[Payload] = []
    with Database(data.database) as db:
        store = RunStore(db.engine)
        for payload in payloads:  # the same audio on a second stream of the run
            source = Path(str(payload["path"]))
            copy = source.with_name(source.name.replace("s0-", "s1-"))
            shutil.copy(source, copy)
            start, end = payloads_start(payload), payloads_end(payload)
            segment_id = store.add_segment(SegmentRecord(run_id, 1, None, "audio", int(str(payload["seq"])), copy,
                                                         start, end, copy.stat().st_size, "ok"))
            second.append({**payload, "stream": 1, "path": str(copy), "segment_id": segment_id})
        queue = SqliteWorkQueue(db.engine)
        for payload in payloads + second:
            queue.put(TRANSCRIBE, f"{run_id}:{payload['stream']}:{payload['seq']}", payload)
        lanes = StreamLanes()
        workers = [TranscriptionWorker(store, TranscriptStore(db.engine), queue, lambda event: engine_choice,
                                       lanes=lanes) for _ in range(2)]

        def drain(worker: TranscriptionWorker) -> None:
            while worker.process_one():
                pass

        threads = [threading.Thread(target=drain, args=(worker,)) for worker in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for stream in (0, 1):
            workers[0].flush("forum", run_id, stream)
        assert queue.backlog(TRANSCRIBE) == 0
    rows = transcript(data, run_id)
    for stream in (0, 1):
        words = words_of(" ".join(r.text for r in rows if r.stream == stream))
        assert [w for w in words if w in KEYS] == KEYS  # each stream whole, once, in order
