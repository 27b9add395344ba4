"""The event-record store's contract (what checks and reports read), on every state back-end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from livewatch.pipeline import SpanWord, TranscriptSpan
from livewatch.pipeline.run_status import RECORDING
from livewatch.state import Database, tables
from livewatch.state.event_records import AudioRecord, EventRecordStore, GapRecord, RunHealth
from livewatch.state.runs import RunStore, SegmentRecord
from livewatch.state.transcripts import TranscriptStore

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def _register(db: Database, event_id: str, start: datetime, *, removed: bool = False) -> None:
    with db.engine.begin() as conn:
        conn.execute(tables.events.insert().values(
            id=event_id, title=f"Title {event_id}", kind="livestream", timezone="Asia/Shanghai",
            registered_start=start, registered_end=start + timedelta(hours=1), source_file=f"{event_id}.toml",
            source_sha256="a" * 64, registration_json='{"id": "x"}', updated_at=start,
            removed_at=start if removed else None))


def _span(run_id: int, stream: int, begin: float, text: str) -> TranscriptSpan:
    return TranscriptSpan(run_id, stream, None, at(begin), at(begin + 2), text, text, "zh", -0.5, 0.1, 1.2,
                          (), (SpanWord(at(begin), at(begin + 1), text, 0.9),), "faster-whisper", "small")


def test_a_check_and_a_report_read_the_latest_run_as_one_moment(state_backend: Database) -> None:
    records = EventRecordStore(state_backend.engine)
    _register(state_backend, "forum", START)
    _register(state_backend, "later", at(7200))
    _register(state_backend, "gone", at(9000), removed=True)
    assert records.event_ids() == {"forum", "later"}
    assert [event.id for event in records.registered()] == ["forum", "later"]
    assert records.registration("forum") == {"id": "x"}
    assert records.registration("unknown") == {}
    assert [event.id for event, _ in records.events()] == ["later", "forum"]
    empty = records.for_check("forum")
    assert (empty.event.title, empty.run, empty.gaps, empty.transcript) == ("Title forum", None, (), ())
    assert empty.heard == {}
    assert records.latest_health("forum") is None
    assert records.latest_transcript("forum") == []
    assert records.for_window("forum", START) is None

    runs = RunStore(state_backend.engine)
    run = runs.open_run("forum", START, at(3600))
    assert run is not None
    runs.set_status(run.id, RECORDING)
    runs.note_on_air(run.id, at(5), at(30))
    connection = runs.open_connection(run.id, 0, 1, "https://example.test/live.m3u8", 0, START)
    # A recorder that waited for a publisher and got nothing: not counted among the run's connections.
    runs.open_connection(run.id, 0, 1, "rtmp://example.test/live/x", 0, START)
    for stream, seq, kind, status in ((0, 0, "audio", "ok"), (0, 1, "audio", "corrupt"), (0, 2, "audio", "ok"),
                                      (1, 0, "audio", "ok"), (0, 0, "media", "ok")):
        runs.add_segment(SegmentRecord(run.id, stream, connection, kind, seq, Path(f"{kind}-{stream}-{seq}"),
                                       at(seq * 10), at(seq * 10 + 10), 1000, status))
    runs.add_gap(run.id, 0, at(40), at(50), "media stopped")
    transcripts = TranscriptStore(state_backend.engine)
    transcripts.commit(run.id, 0, [_span(run.id, 0, 4, "先"), _span(run.id, 0, 1, "开始")], committed_until=at(30),
                       last_seq=2)
    transcripts.commit(run.id, 1, [_span(run.id, 1, 4, "后")], committed_until=at(10), last_seq=0)

    check = records.for_check("forum")
    assert check.run is not None
    assert (check.run.id, check.run.status, check.run.on_air_at, check.run.off_air_at) == (run.id, RECORDING, at(5),
                                                                                          at(30))
    assert check.gaps == (GapRecord(check.gaps[0].id, 0, at(40), at(50), "media stopped"),)
    assert [(t.stream, t.text) for t in check.transcript] == [(0, "开始"), (0, "先"), (1, "后")]
    assert check.transcript[0].quality_flags == ()
    assert check.transcript[0].words == (SpanWord(at(1), at(2), "开始", 0.9),)  # decoded in state/, not by the rules
    assert check.last_media == at(30)
    assert check.heard == {0: at(30), 1: at(10)}
    assert [(t.stream, t.text) for t in records.latest_transcript("forum")] == [(0, "开始"), (0, "先"), (1, "后")]
    assert records.latest_health("forum") == RunHealth(media_segments=1, media_bytes=1000, connections=1,
                                                       corrupt_segments=1, gaps=1)
    assert records.audio(run.id) == [AudioRecord(0, 0, Path("audio-0-0"), at(0), at(10)),
                                     AudioRecord(0, 2, Path("audio-0-2"), at(20), at(30)),
                                     AudioRecord(1, 0, Path("audio-1-0"), at(0), at(10))]
    assert [a.seq for a in records.audio_between(run.id, 0, at(5), at(25))] == [0, 2]
    assert records.audio_between(run.id, 0, at(10), at(20)) == []  # only the corrupt one overlaps

    window = records.for_window("forum", START)
    assert window is not None
    assert (window.run.id, window.last_audio, len(window.gaps)) == (run.id, {0: at(30), 1: at(10)}, 1)
    document = records.for_document("forum", run.id)
    assert (document.event.source_sha256, document.transcribers) == ("a" * 64, (("faster-whisper", "small"),))
    assert records.for_document("later", None).run is None
    assert [(event.id, status) for event, status in records.events()] == [("later", None), ("forum", RECORDING)]
    assert records.latest_status("forum") == RECORDING
