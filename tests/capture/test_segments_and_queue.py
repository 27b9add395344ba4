"""Segment lists, segment checks, WAV repair, the work queue and the source registry."""

from __future__ import annotations

import struct
import threading
import wave
from pathlib import Path

import pytest

from livewatch.capture.base import ResolvedStream, Source
from livewatch.capture.direct import DirectSource, media_kind
from livewatch.capture.recovery import repair_wav_header
from livewatch.capture.registry import SourceRegistry
from livewatch.capture.segments import SegmentListTail, check_ts, check_wav, parse_list_line, wav_seconds
from livewatch.capture.ytdlp import YtDlpSource
from livewatch.errors import CaptureError
from livewatch.state import Database, DataDir
from livewatch.state.work_queue import SqliteWorkQueue


def test_list_tail_returns_only_complete_new_lines(tmp_path: Path) -> None:
    listing = tmp_path / "a.csv"
    tail = SegmentListTail(listing)
    assert tail.read_new() == []  # not written yet
    listing.write_text("s0-000000.wav,0.000000,10.006813\ns0-000001.wav,10.0068", encoding="utf-8")
    [first] = tail.read_new()
    assert (first.filename, first.start, first.end) == ("s0-000000.wav", 0.0, 10.006813)
    with listing.open("a", encoding="utf-8") as handle:
        handle.write("13,20.01\n")
    [second] = tail.read_new()
    assert (second.filename, second.start, second.end) == ("s0-000001.wav", 10.006813, 20.01)
    assert tail.read_new() == []


def test_list_line_with_comma_in_name_and_garbage() -> None:
    assert parse_list_line("a,b.ts,1,2") is not None
    assert parse_list_line("a,b.ts,1,2").filename == "a,b.ts"  # type: ignore[union-attr]
    assert parse_list_line("nonsense") is None
    assert parse_list_line("x.ts,one,two") is None


def test_segment_checks(tmp_path: Path) -> None:
    good_ts = tmp_path / "a.ts"
    good_ts.write_bytes((b"\x47" + b"\x00" * 187) * 3)
    bad_ts = tmp_path / "b.ts"
    bad_ts.write_bytes(b"<html>" * 100)
    empty = tmp_path / "c.ts"
    empty.write_bytes(b"")
    assert check_ts(good_ts) is None
    assert check_ts(bad_ts) == "not MPEG-TS (no sync byte)"
    assert check_ts(empty) == "empty file"
    assert check_ts(tmp_path / "missing.ts", ).startswith("unreadable")  # type: ignore[union-attr]
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF" + b"\0" * 4 + b"WAVE" + b"\0" * 32 + b"\1\0" * 16000)
    assert check_wav(wav) is None
    assert wav_seconds(wav) == pytest.approx(1.0)
    header_only = tmp_path / "h.wav"
    header_only.write_bytes(b"RIFF" + b"\0" * 40)
    assert check_wav(header_only) == "no audio data"


def test_repair_wav_header_fills_sizes(tmp_path: Path) -> None:
    wav = tmp_path / "cut.wav"
    header = b"RIFF" + struct.pack("<I", 0) + b"WAVEfmt " + b"\0" * 20 + b"data" + struct.pack("<I", 0)
    wav.write_bytes(header + b"\1\0" * 800)
    repair_wav_header(wav)
    data = wav.read_bytes()
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert struct.unpack("<I", data[40:44])[0] == 1600


def test_work_queue_is_durable_and_claims_once(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with Database.open(data) as db:
        queue = SqliteWorkQueue(db.engine)
        assert queue.put("transcribe", "1:0:0", {"run_id": 1, "path": "a.wav"})
        assert not queue.put("transcribe", "1:0:0", {"run_id": 1, "path": "a.wav"})  # no duplicates
        assert queue.put("transcribe", "1:0:1", {"run_id": 1, "path": "b.wav"})
        assert queue.put("transcribe", "2:0:0", {"run_id": 2, "path": "c.wav"})
        first = queue.claim("transcribe")
        assert first is not None
        assert (first.key, first.payload["path"], first.attempts) == ("1:0:0", "a.wav", 1)
        assert queue.backlog("transcribe") == 3
        assert queue.backlog("transcribe", run_id=2) == 1
    # A new process: the claimed item goes back to the queue, and order is kept.
    with Database.open(data) as db:
        queue = SqliteWorkQueue(db.engine)
        assert queue.requeue_claimed("transcribe") == 1
        again = queue.claim("transcribe")
        assert again is not None
        assert (again.key, again.attempts) == ("1:0:0", 2)
        queue.complete(again)
        second = queue.claim("transcribe")
        assert second is not None
        queue.fail(second, "model crashed", retry=True)
        assert queue.backlog("transcribe") == 2
        retried = queue.claim("transcribe")
        assert retried is not None
        assert retried.key == "1:0:1"
        queue.fail(retried, "unreadable", retry=False)
        assert queue.backlog("transcribe") == 1


def test_concurrent_claims_never_share_an_item(tmp_path: Path) -> None:
    with Database.open(DataDir(tmp_path / "data")) as db:
        queue = SqliteWorkQueue(db.engine)
        for i in range(40):
            queue.put("q", str(i), {})
        claimed: list[str] = []
        lock = threading.Lock()

        def worker() -> None:
            while (item := queue.claim("q")) is not None:
                with lock:
                    claimed.append(item.key)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(claimed, key=int) == [str(i) for i in range(40)]


@pytest.mark.parametrize(
    ("url", "source", "kind"),
    [
        ("https://cdn.example/live/index.m3u8", "direct", "hls"),
        ("https://cdn.example/live/index.m3u8?token=a.b", "direct", "hls"),
        ("http://cdn.example/room.flv", "direct", "progressive"),
        ("rtmp://ingest.example/app/key", "direct", "rtmp"),
        ("rtmps://ingest.example:443/app/key", "direct", "rtmp"),
        ("https://live.douyin.com/735194826401", "yt-dlp", None),
        ("https://www.youtube.com/watch?v=abc", "yt-dlp", None),
    ],
)
def test_registry_picks_the_most_specific_source(url: str, source: str, kind: str | None) -> None:
    registry = SourceRegistry()
    assert set(registry.names) >= {"direct", "yt-dlp"}
    picked = registry.for_url(url)
    assert picked.name == source
    if kind is not None:
        assert media_kind(url) == kind
        assert picked.resolve(url) == ResolvedStream(url, url, kind)


def test_registry_refuses_unknown_schemes_and_non_sources() -> None:
    registry = SourceRegistry([DirectSource, YtDlpSource])
    with pytest.raises(CaptureError, match="no capture source handles 'srt://h'"):
        registry.for_url("srt://h")
    with pytest.raises(TypeError):
        registry.register(object)  # type: ignore[arg-type]


def test_a_platform_resolver_is_one_class() -> None:
    import re

    class ExampleTv(Source):
        name = "example-tv"
        priority = 50
        matchers = (re.compile(r"^https://example\.tv/(?P<room>\d+)$"),)

        def resolve(self, url: str) -> ResolvedStream:
            room = url.rsplit("/", 1)[1]
            return ResolvedStream(url, f"https://cdn.example.tv/{room}.m3u8", "hls", {"Referer": url})

    registry = SourceRegistry([DirectSource, YtDlpSource, ExampleTv])
    resolved = registry.for_url("https://example.tv/42").resolve("https://example.tv/42")
    assert resolved.media_url == "https://cdn.example.tv/42.m3u8"
    assert registry.for_url("https://example.tv/about").name == "yt-dlp"


def test_one_connections_segments_stay_contiguous_when_its_clock_learns_more(tmp_path: Path) -> None:
    """ffmpeg's output is one continuous timeline: a clock that places a later segment of the same connection a
    little earlier than the one before ended (it read a playlist meanwhile) does not make the two overlap."""
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace
    from typing import Any, cast

    from livewatch.capture.clock import BroadcastClock
    from livewatch.capture.context import CaptureContext
    from livewatch.capture.segments import ListedSegment
    from livewatch.capture.writer import SegmentWriter
    from livewatch.state.runs import Run

    data = DataDir(tmp_path / "data")
    data.ensure()
    data.ensure_event("ev")
    rows: list[Any] = []

    def add_segment(record: Any) -> int:
        rows.append(record)
        return len(rows)

    store = SimpleNamespace(last_segment_end=lambda run, index: None, add_segment=add_segment,
                            add_gap=lambda *a: None, note_on_air=lambda *a: None)
    ctx = cast(CaptureContext, SimpleNamespace(data=data, store=store, queue=SimpleNamespace(put=lambda *a: True)))
    writer = SegmentWriter(ctx, cast(Run, SimpleNamespace(id=1)), "ev", 0)
    t0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    clock = BroadcastClock(t0)
    for seq in (1, 2, 3):
        (data.audio_dir("ev") / f"s0-{seq:06d}.wav").write_bytes(b"")
    writer.add("audio", ListedSegment("s0-000001.wav", 0.0, 4.0), 7, clock)
    clock.wall_base = t0 - timedelta(seconds=0.5)  # the clock's estimate moved half a second earlier
    writer.add("audio", ListedSegment("s0-000002.wav", 4.0, 8.0), 7, clock)
    assert rows[1].start_at == rows[0].end_at == t0 + timedelta(seconds=4)
    # Another connection (after a reconnect) is placed by its own clock.
    writer.add("audio", ListedSegment("s0-000003.wav", 0.0, 4.0), 8, BroadcastClock(t0 + timedelta(seconds=7.6)))
    assert rows[2].start_at == t0 + timedelta(seconds=7.6)


def test_a_failed_ledger_write_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    """The database away mid-ingest (a PostgreSQL restart): what the segment lists announced is recorded on the
    next ingest, a segment whose row was written but whose queue item was not is queued then (once), and no
    row is written twice."""
    from datetime import UTC, datetime
    from types import SimpleNamespace
    from typing import Any, cast

    from sqlalchemy.exc import OperationalError

    from livewatch.capture.clock import BroadcastClock
    from livewatch.capture.context import CaptureContext
    from livewatch.capture.writer import SegmentWriter
    from livewatch.pipeline import lane_key
    from livewatch.state.runs import Run

    data = DataDir(tmp_path / "data")
    data.ensure()
    data.ensure_event("ev")
    rows: list[Any] = []
    queued: list[str] = []
    down = {"segments": False, "queue": False}

    def add_segment(record: Any) -> int:
        if down["segments"]:
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        rows.append(record)
        return len(rows)

    def put(queue: str, key: str, payload: Any) -> bool:
        if down["queue"]:
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        queued.append(key)
        return True

    store = SimpleNamespace(last_segment_end=lambda run, index: None, add_segment=add_segment,
                            add_gap=lambda *a: None, note_on_air=lambda *a: None)
    ctx = cast(CaptureContext, SimpleNamespace(data=data, store=store, queue=SimpleNamespace(put=put)))
    writer = SegmentWriter(ctx, cast(Run, SimpleNamespace(id=1)), "ev", 0)
    clock = BroadcastClock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    media, audio = tmp_path / "m.csv", tmp_path / "a.csv"
    media.write_text("", encoding="utf-8")
    tails = (SegmentListTail(media), SegmentListTail(audio))
    for seq in range(3):
        with wave.open(str(data.audio_dir("ev") / f"s0-{seq:06d}.wav"), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(16000)
            wav.writeframes(b"\0\0" * 1600)
    audio.write_text("s0-000000.wav,0,4\ns0-000001.wav,4,8\n", encoding="utf-8")
    down["queue"] = True  # the first segment's row is written, its queue item is not
    with pytest.raises(OperationalError):
        writer.ingest(tails, 7, clock)
    down["queue"], down["segments"] = False, True
    with pytest.raises(OperationalError):
        writer.ingest(tails, 7, clock)
    down["segments"] = False
    with audio.open("a", encoding="utf-8") as handle:
        handle.write("s0-000002.wav,8,12\n")
    assert writer.ingest(tails, 7, clock) == 2  # the second try finished segment 0, then failed on segment 1
    assert [row.seq for row in rows] == [0, 1, 2]
    assert queued == [f"{lane_key(1, 0)}{seq}" for seq in range(3)]  # each once, in order
    assert writer.recorded == 3
    assert writer.ingest(tails, 7, clock) == 0
