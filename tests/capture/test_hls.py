from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from livewatch.capture.hls import parse_master, parse_media, start_index
from livewatch.errors import CaptureError

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)


def playlist(n: int, *, first_seq: int = 40, duration: float = 2.0, pdt: bool = True, ended: bool = False) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first_seq}"]
    for i in range(n):
        lines.append(f"#EXTINF:{duration:.6f},")
        if pdt:
            stamp = (T0 + timedelta(seconds=i * duration)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{stamp}")
        lines.append(f"stream{first_seq + i}.ts")
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def test_parse_media_reads_sequence_pdt_and_end() -> None:
    parsed = parse_media(playlist(3, ended=True), "http://h/live.m3u8")
    assert parsed.media_sequence == 40
    assert [s.sequence for s in parsed.segments] == [40, 41, 42]
    assert parsed.segments[1].program_date_time == T0 + timedelta(seconds=2)
    assert parsed.segments[2].end_time == T0 + timedelta(seconds=6)
    assert parsed.ended
    assert parsed.has_program_date_time


def test_pdt_carries_forward_and_discontinuity_is_kept() -> None:
    text = ("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T09:00:00Z\n#EXTINF:4,\na.ts\n"
            "#EXTINF:4,\nb.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:4,\n"
            "#EXT-X-PROGRAM-DATE-TIME:2026-12-01T09:01:00.000+00:00\nc.ts\n")
    a, b, c = parse_media(text, "u").segments
    assert (a.program_date_time, b.program_date_time) == (T0, T0 + timedelta(seconds=4))
    assert c.discontinuity
    assert c.program_date_time == T0 + timedelta(minutes=1)
    assert not b.discontinuity


def test_not_a_playlist() -> None:
    with pytest.raises(CaptureError, match="not an HLS playlist"):
        parse_media("<html></html>", "http://h/x")


def test_master_variants_prefer_audio() -> None:
    text = ('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="avc1.4d401f"\nvideo.m3u8\n'
            '#EXT-X-STREAM-INF:BANDWIDTH=500000,CODECS="avc1.4d401f,mp4a.40.2",RESOLUTION=640x360\nlow/av.m3u8\n')
    video, av = parse_master(text, "http://h/live/master.m3u8")
    assert (video.has_audio, av.has_audio) == (False, True)
    assert av.uri == "http://h/live/low/av.m3u8"
    assert av.bandwidth == 500000


def test_fresh_start_looks_back_at_most_max_lookback() -> None:
    parsed = parse_media(playlist(30), "u")  # 60 s of media
    assert start_index(parsed, None, max_lookback_s=10) == 25  # the last 5 segments = 10 s
    assert start_index(parsed, None, max_lookback_s=1000) == 0
    assert start_index(parsed, None, max_lookback_s=0) == 29


def test_resume_starts_after_what_is_recorded() -> None:
    parsed = parse_media(playlist(10), "u")  # segments start at T0 + 0, 2, ..., 18
    assert start_index(parsed, T0 + timedelta(seconds=8), max_lookback_s=60) == 4
    assert start_index(parsed, T0 + timedelta(seconds=8.4), max_lookback_s=60) == 4  # jitter tolerated
    assert start_index(parsed, T0 - timedelta(seconds=30), max_lookback_s=60) == 0  # outage: take all that is left


def test_a_malformed_value_names_its_line() -> None:
    text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\na.ts\n#EXTINF:two,\nb.ts\n"
    with pytest.raises(CaptureError, match=r"line 5: #EXTINF 'two' is not a duration"):
        parse_media(text, "http://origin/x.m3u8")


def test_an_implausible_date_time_is_ignored() -> None:
    text = "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:9999-12-31T23:59:59Z\n#EXTINF:2.0,\na.ts\n"
    playlist = parse_media(text, "http://origin/x.m3u8")
    assert playlist.segments[0].program_date_time is None
    assert playlist.notes
    assert "line 2" in playlist.notes[0]
