"""The one wire format of the messages between stages: round trips, old payloads, clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livewatch.pipeline import MESSAGE_VERSION, ClosedSegment, MessageError, SpanWord, TranscriptSpan, decode, encode

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SEGMENT = ClosedSegment("forum", 7, 1, 42, 99, Path("/data/events/forum/audio/s1-000042.wav"), START,
                        START + timedelta(seconds=6))


def test_a_closed_segment_travels_as_json_and_comes_back_equal() -> None:
    payload = encode(SEGMENT)
    assert payload == {"v": MESSAGE_VERSION, "kind": "closed-segment", "event_id": "forum", "run_id": 7, "stream": 1,
                       "seq": 42, "segment_id": 99, "path": "/data/events/forum/audio/s1-000042.wav",
                       "start_at": "2026-03-01T12:00:00+00:00", "end_at": "2026-03-01T12:00:06+00:00"}
    assert decode(ClosedSegment, payload) == SEGMENT
    assert (SEGMENT.queue_key, SEGMENT.lane) == ("7:1:42", "7:1:")


def test_a_payload_queued_before_versions_were_written_reads_as_version_1() -> None:
    legacy = {k: v for k, v in encode(SEGMENT).items() if k not in ("v", "kind")}
    assert decode(ClosedSegment, legacy) == SEGMENT


def test_a_transcript_span_with_words_round_trips() -> None:
    word = SpanWord(START, START + timedelta(seconds=1), "保本", 0.9)
    span = TranscriptSpan(7, 1, None, START, START + timedelta(seconds=2), "保本保息", "保本保息", "zh", -0.2, 0.01,
                          1.1, ("low-confidence",), (word,), "faster-whisper", "small")
    assert decode(TranscriptSpan, encode(span)) == span


@pytest.mark.parametrize(("change", "message"), [
    ({"v": 2}, "closed-segment message has format version 2; this livewatch reads version 1"),
    ({"v": True}, "format version True"),
    ({"kind": "transcript-span"}, "expected a closed-segment message, got 'transcript-span'"),
    ({"seq": "42"}, "closed-segment.seq: expected int, got '42'"),
    ({"seq": True}, "closed-segment.seq: expected int, got True"),
    ({"start_at": "2026-03-01T12:00:00"}, "closed-segment.start_at: '2026-03-01T12:00:00' has no UTC offset"),
    ({"start_at": "noon"}, "closed-segment.start_at: 'noon' is not an ISO 8601 time"),
    ({"path": ""}, "closed-segment.path: expected a path"),
    ({"priority": 1}, "closed-segment: unknown field(s) priority"),
])
def test_a_payload_that_is_not_a_message_is_refused_by_name(change: dict[str, object], message: str) -> None:
    with pytest.raises(MessageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode(ClosedSegment, {**encode(SEGMENT), **change})


def test_a_missing_field_is_named() -> None:
    payload = encode(SEGMENT)
    del payload["event_id"]
    with pytest.raises(MessageError, match="field 'event_id' is missing"):
        decode(ClosedSegment, payload)
    with pytest.raises(MessageError, match="must be a JSON object"):
        decode(ClosedSegment, [1, 2])
