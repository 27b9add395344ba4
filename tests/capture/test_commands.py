"""ffmpeg and ffprobe command lines, asserted as exact argument lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from livewatch.capture.base import ResolvedStream
from livewatch.capture.commands import (
    FramePlan,
    RecordPlan,
    frame_args,
    frame_rate,
    header_lines,
    probe_args,
    protocol_whitelist,
    record_args,
)
from livewatch.errors import UnsafeUrl

PLAN = RecordPlan(
    media_pattern=Path("/d/media/s0-%06d.ts"),
    audio_pattern=Path("/d/audio/s0-%06d.wav"),
    media_list=Path("/d/media/s0-000007.media.csv"),
    audio_list=Path("/d/audio/s0-000007.audio.csv"),
    start_number=7,
    segment_seconds=10,
)
GLOBAL = ["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning", "-n", "-progress", "pipe:1",
          "-stats_period", "1"]
OUTPUTS = [
    "-map", "0:v?", "-map", "0:a?", "-f", "segment", "-c", "copy", "-reset_timestamps", "1",
    "-segment_format", "mpegts", "-segment_format_options", "flush_packets=1",
    "-segment_list", "/d/media/s0-000007.media.csv", "-segment_list_type", "csv",
    "-segment_start_number", "7", "-segment_time", "10", "/d/media/s0-%06d.ts",
    "-map", "0:a:0", "-f", "segment", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le",
    "-segment_format_options", "flush_packets=1",
    "-segment_list", "/d/audio/s0-000007.audio.csv", "-segment_list_type", "csv", "-segment_start_number", "7",
    "-segment_time", "10", "/d/audio/s0-%06d.wav",
]


def test_hls_with_headers_and_start_index() -> None:
    stream = ResolvedStream("https://page", "https://cdn.example/live/index.m3u8?token=a", "hls",
                            {"User-Agent": "Mozilla/5.0", "Referer": "https://page/", "Cookie": "a=b"})
    assert record_args(stream, PLAN, rw_timeout_s=15, live_start_index=3) == [
        *GLOBAL,
        "-fflags", "+discardcorrupt", "-headers", "Referer: https://page/\r\nCookie: a=b\r\n",
        "-live_start_index", "3", "-protocol_whitelist", "https,tls,tcp,crypto,http",
        "-reconnect", "1", "-reconnect_delay_max", "5", "-reconnect_on_network_error", "1", "-reconnect_streamed", "1",
        "-rw_timeout", "15000000", "-user_agent", "Mozilla/5.0",
        "-i", "https://cdn.example/live/index.m3u8?token=a",
        *OUTPUTS,
    ]


def test_rtmp_has_no_http_options_and_no_re() -> None:
    stream = ResolvedStream("rtmp://h/app/key", "rtmp://h/app/key", "rtmp")
    args = record_args(stream, PLAN, rw_timeout_s=20, live_start_index=3, ffmpeg_bin="/opt/ffmpeg")
    assert args == [
        "/opt/ffmpeg", *GLOBAL[1:],
        "-analyzeduration", "1000000", "-fflags", "+discardcorrupt", "-protocol_whitelist", "rtmp,tcp",
        "-rw_timeout", "20000000",
        "-i", "rtmp://h/app/key",
        *OUTPUTS,
    ]
    assert "-re" not in args


def test_input_options_come_before_input() -> None:
    stream = ResolvedStream("u", "http://h/a.flv", "progressive")
    args = record_args(stream, PLAN, rw_timeout_s=15)
    input_at = args.index("-i")
    for option in ("-rw_timeout", "-analyzeduration"):
        assert args.index(option) < input_at
    assert "-live_start_index" not in args  # only for HLS


def test_http_flv_reads_one_second_before_writing_and_never_reconnects_inside_ffmpeg() -> None:
    stream = ResolvedStream("u", "http://h/live.flv", "progressive", {"Referer": "r"})
    assert record_args(stream, PLAN, rw_timeout_s=15) == [
        *GLOBAL,
        "-analyzeduration", "1000000", "-fflags", "+discardcorrupt", "-headers", "Referer: r\r\n",
        "-protocol_whitelist", "http,tcp,https,tls", "-rw_timeout", "15000000",
        "-i", "http://h/live.flv",
        *OUTPUTS,
    ]


def test_segment_length_is_written_compactly() -> None:
    plan = RecordPlan(PLAN.media_pattern, PLAN.audio_pattern, PLAN.media_list, PLAN.audio_list, 0, 2.5)
    args = record_args(ResolvedStream("u", "rtmp://h/a", "rtmp"), plan, rw_timeout_s=1)
    assert args.count("2.5") == 2


def test_probe_fails_fast() -> None:
    stream = ResolvedStream("u", "http://h/a.flv", "progressive", {"Referer": "r"})
    assert probe_args(stream, rw_timeout_s=5) == [
        "ffprobe", "-hide_banner", "-loglevel", "error", "-analyzeduration", "1000000",
        "-rw_timeout", "5000000", "-fflags", "+discardcorrupt",
        "-protocol_whitelist", "http,tcp,https,tls", "-headers", "Referer: r\r\n",
        "-show_entries", "stream=codec_type", "-of", "json", "http://h/a.flv",
    ]


def test_header_lines_leave_out_user_agent() -> None:
    assert header_lines({"user-agent": "x", "Origin": "https://o"}) == "Origin: https://o\r\n"


def test_plain_http_hls_gets_the_same_network_only_whitelist() -> None:
    # http playlists list https segments and CDNs redirect http to https; neither reaches anything local.
    stream = ResolvedStream("u", "http://h/live.m3u8", "hls")
    args = record_args(stream, PLAN, rw_timeout_s=2)
    assert args[:args.index("-i")] == [
        *GLOBAL, "-fflags", "+discardcorrupt", "-protocol_whitelist", "https,tls,tcp,crypto,http",
        "-reconnect", "1", "-reconnect_delay_max", "5", "-reconnect_on_network_error", "1", "-reconnect_streamed",
        "1", "-rw_timeout", "2000000",
    ]


@pytest.mark.parametrize(("url", "kind", "expected"), [
    ("https://h/live.m3u8", "hls", "https,tls,tcp,crypto,http"),
    ("http://h/live.m3u8", "hls", "https,tls,tcp,crypto,http"),
    ("https://h/live.flv", "progressive", "https,tls,tcp,http"),
    ("http://h/live.flv", "progressive", "http,tcp,https,tls"),
    ("rtmp://h/app/key", "rtmp", "rtmp,tcp"),
    ("RTMPS://h/app/key", "rtmp", "rtmps,tls,tcp"),
    ("srt://h:9000", "progressive", "srt"),  # a scheme an operator allowed: its own protocol only
])  # fmt: skip
def test_protocol_whitelist_fits_the_source(url: str, kind: str, expected: str) -> None:
    assert protocol_whitelist(ResolvedStream("u", url, kind)) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "data:text/plain,x", "concat:/a.ts|/b.ts", "subfile,,start,0,end,0,,:/a.ts", "pipe:0",
    "crypto+file:///a.ts", "/srv/media/a.ts", "fd:3",
])  # fmt: skip
def test_local_protocols_are_never_handed_to_ffmpeg(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        probe_args(ResolvedStream("u", url, "progressive"), rw_timeout_s=1)


FRAMES = FramePlan(Path("/d/frames/s0-c12-%08d.jpg"), Path("/d/frames/s0-c12.picture.txt"), 1.0, 960)
FRAME_OUTPUT = [
    "-map", "0:v:0?", "-map", "0:a:0",
    "-vf", "fps=1,scale='min(960,iw)':-2,format=yuv420p,blackdetect=d=2:pix_th=0.1:pic_th=0.98,"
           "freezedetect=n=-60dB:d=2,metadata=mode=print:file=/d/frames/s0-c12.picture.txt",
    "-c:v", "mjpeg", "-q:v", "4", "-strict:v", "unofficial", "-c:a", "copy", "-f", "tee",
    "[select=v:f=image2:frame_pts=1:atomic_writing=1:onfail=ignore]/d/frames/s0-c12-%08d.jpg|[select=a:f=null]-",
]


def test_frames_are_a_third_output_of_the_same_process() -> None:
    stream = ResolvedStream("rtmp://h/app/key", "rtmp://h/app/key", "rtmp")
    assert record_args(stream, PLAN, rw_timeout_s=20, frames=FRAMES) == [
        *GLOBAL,
        "-analyzeduration", "1000000", "-fflags", "+discardcorrupt", "-protocol_whitelist", "rtmp,tcp",
        "-rw_timeout", "20000000", "-skip_frame:v", "noref",
        "-i", "rtmp://h/app/key",
        *OUTPUTS, *FRAME_OUTPUT,
    ]


def test_dash_feed_gets_frames_the_same_way() -> None:
    stream = ResolvedStream("https://h/live.mpd", "https://h/live.mpd", "dash")
    args = record_args(stream, PLAN, rw_timeout_s=5, input_url="pipe:5", frames=FRAMES)
    assert args == [*GLOBAL, "-f", "mp4", "-fflags", "+discardcorrupt", "-protocol_whitelist", "pipe",
                    "-skip_frame:v", "noref", "-i", "pipe:5", *OUTPUTS, *FRAME_OUTPUT]


def test_frame_rate_width_and_spells_are_written_compactly() -> None:
    plan = FramePlan(FRAMES.pattern, FRAMES.metadata, 0.33333, 640, black_min_s=1.5, frozen_min_s=4)
    assert frame_args(plan)[5] == (
        "fps=0.333,scale='min(640,iw)':-2,format=yuv420p,blackdetect=d=1.5:pix_th=0.1:pic_th=0.98,"
        "freezedetect=n=-60dB:d=4,metadata=mode=print:file=/d/frames/s0-c12.picture.txt")
    assert frame_rate(5.0) == "5"
    assert frame_rate(0.1) == "0.1"


def test_frame_paths_are_escaped_for_the_filter_graph_and_the_tee_list() -> None:
    folder = Path("/data 1/we:ird,na'me [x]%d|p;q")
    plan = FramePlan(folder / "s1-c2-%08d.jpg", folder / "s1-c2.picture.txt", 2.0, 960)
    args = frame_args(plan)
    assert args[5].endswith(r"metadata=mode=print:file=/data 1/we\\:ird\,na\\\'me \[x\]%d|p\;q/s1-c2.picture.txt")
    assert args[-1] == ("[select=v:f=image2:frame_pts=1:atomic_writing=1:onfail=ignore]"
                        r"/data 1/we:ird,na\'me [x]%%d\|p;q/s1-c2-%08d.jpg|[select=a:f=null]-")
