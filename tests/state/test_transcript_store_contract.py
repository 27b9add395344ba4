"""The run and transcript stores' contract, on every state back-end (``state_backend``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livewatch.pipeline import SpanWord, TranscriptSpan
from livewatch.pipeline.run_status import FINISHED, RECORDING
from livewatch.state import Database
from livewatch.state.runs import RunStore, SegmentRecord, WindowTaken
from livewatch.state.transcripts import TranscriptStore

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def _event(db: Database) -> None:
    from livewatch.state import tables

    with db.engine.begin() as conn:
        conn.execute(tables.events.insert().values(
            id="forum", title="Forum", kind="livestream", timezone="Asia/Shanghai", registered_start=START,
            registered_end=at(3600), source_file="forum.toml", source_sha256="0" * 64,
            registration_json='{"language": "zh"}', updated_at=START))


def _span(run_id: int, stream: int, begin: float, text: str, segment_id: int | None = None) -> TranscriptSpan:
    word = SpanWord(at(begin), at(begin + 1), text, 0.875)
    return TranscriptSpan(run_id, stream, segment_id, at(begin), at(begin + 1), text, text, "zh", -0.25, 0.5, 1.25,
                          ("repetitive",) if text.endswith("!") else (), (word,), "faster-whisper", "small")


def test_segments_are_recorded_once_and_read_back_in_order(state_backend: Database) -> None:
    _event(state_backend)
    runs = RunStore(state_backend.engine)
    run = runs.open_run("forum", START, at(3600))
    assert run is not None
    ids = [runs.add_segment(SegmentRecord(run.id, 0, None, "audio", seq, Path(f"s0-{seq}.wav"), at(seq * 6),
                                          at(seq * 6 + 6), 100, "ok")) for seq in range(3)]
    assert None not in ids
    assert runs.add_segment(SegmentRecord(run.id, 0, None, "audio", 1, Path("again.wav"), at(6), at(12), 1, "ok")) \
        is None  # a restart records nothing twice
    assert runs.next_seq(run.id, 0) == 3
    second = runs.audio_segment(run.id, 0, 1)
    assert second is not None
    assert (second.id, second.path, second.start_at) == (ids[1], Path("s0-1.wav"), at(6))
    assert [s.seq for s in runs.audio_segments(run.id, 0, ending_after=at(6), upto_seq=2)] == [1, 2]
    runs.mark_corrupt(ids[2] or 0, "unreadable")
    assert [s.seq for s in runs.audio_segments(run.id, 0, ending_after=at(0), skip_corrupt=True)] == [0, 1]
    assert runs.audio_segments_of_run(run.id, skip=2)[0].note == "unreadable"
    assert runs.count_audio_segments(run.id) == 3
    runs.add_gap(run.id, 0, at(18), at(30), "media stopped")
    assert runs.count_gaps(run_id=run.id) == runs.count_gaps(event_id="forum") == 1
    runs.set_status(run.id, RECORDING)
    latest = runs.latest_run("forum")
    assert latest is not None
    assert (latest.id, latest.status) == (run.id, RECORDING)
    assert runs.run_ids({"forum", "other"}) == {run.id}


def test_a_window_is_claimed_once_and_a_discarded_run_leaves_nothing(state_backend: Database) -> None:
    _event(state_backend)
    runs, transcripts = RunStore(state_backend.engine), TranscriptStore(state_backend.engine)
    run_id = runs.claim_final_window("forum", START, at(3600), FINISHED, "analyzing a.mp4")
    with pytest.raises(WindowTaken, match=f"event forum already has run {run_id} \\(finished\\)"):
        runs.claim_final_window("forum", START, at(3600), FINISHED, "analyzing b.mp4")
    runs.add_segment(SegmentRecord(run_id, 0, None, "audio", 0, Path("s.wav"), at(0), at(6), 1, "ok"))
    transcripts.commit(run_id, 0, [_span(run_id, 0, 0, "大家好")], committed_until=at(6), last_seq=0)
    runs.discard(run_id, queue="transcribe")
    assert runs.latest_run("forum") is None
    assert transcripts.progress(run_id, 0) is None
    assert transcripts.spans(run_id) == []


def test_spans_and_progress_commit_together_and_read_back_as_written(state_backend: Database) -> None:
    _event(state_backend)
    runs, store = RunStore(state_backend.engine), TranscriptStore(state_backend.engine)
    run = runs.open_run("forum", START, at(3600))
    assert run is not None
    assert store.progress(run.id, 0) is None
    first = [_span(run.id, 0, 0, "大家好"), _span(run.id, 0, 2, "保本保息!")]
    store.commit(run.id, 0, first, committed_until=at(3), last_seq=0)
    progress = store.progress(run.id, 0)
    assert progress is not None
    assert (progress.last_seq, progress.committed_until, progress.flushed) == (0, at(3), False)
    store.commit(run.id, 0, [], committed_until=at(5), last_seq=None)  # a tail: the segment number stays
    store.commit(run.id, 1, [_span(run.id, 1, 1, "欢迎")], committed_until=at(2), last_seq=4)
    progress = store.progress(run.id, 0)
    assert progress is not None
    assert (progress.last_seq, progress.committed_until) == (0, at(5))
    assert store.spans(run.id) == [first[0], _span(run.id, 1, 1, "欢迎"), first[1]]
    assert store.last_span(run.id, 0) == first[1]
    assert store.first_utterances("forum", 2) == [("zh", "大家好"), ("zh", "欢迎")]
    assert store.first_utterances("elsewhere", 2) == []
    after = store.spans_after(run.id, 0)
    assert [span for _, span in after] == [*first, _span(run.id, 1, 1, "欢迎")]
    assert [span for _, span in store.spans_after(run.id, after[1][0])] == [_span(run.id, 1, 1, "欢迎")]
    assert store.unflushed_in([FINISHED]) == []
    runs.finish_run(run.id, FINISHED, "ended")
    assert {(u.event_id, u.stream) for u in store.unflushed_in([FINISHED])} == {("forum", 0), ("forum", 1)}
    assert store.any_unflushed({run.id})
    store.mark_flushed(run.id, 0)
    store.mark_flushed(run.id, 1)
    assert not store.any_unflushed({run.id})
    assert store.unflushed_in([FINISHED]) == []
