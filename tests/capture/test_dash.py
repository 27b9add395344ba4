"""Live DASH manifests as pure functions (livewatch.capture.dash): the segments listed, their wall clock, the
segment a connection starts at, a packager's restart, and the ffmpeg argv that reads livewatch's own feed."""

from __future__ import annotations

import http.server
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from livewatch.capture.base import ResolvedStream
from livewatch.capture.commands import record_args
from livewatch.capture.dash import (
    MAX_SEGMENTS,
    DashSegment,
    fetch_manifest,
    fill_template,
    first_to_record,
    iso_duration,
    next_read_s,
    parse_mpd,
)
from livewatch.capture.dash_feed import DashClock
from livewatch.capture.direct import DirectSource, media_kind
from livewatch.errors import CaptureError
from tests.capture.test_commands import GLOBAL, OUTPUTS, PLAN

URL = "http://cdn.example/live/show.mpd"
AST = datetime(2026, 12, 2, 10, 8, 17, 905000, tzinfo=UTC)
READ_AT = datetime(2026, 12, 2, 10, 8, 32, 390000, tzinfo=UTC)

#: As ffmpeg's DASH muxer writes it (seg_duration 2, window_size 5), timescales made round.
FFMPEG_MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic"
  minimumUpdatePeriod="PT2S" availabilityStartTime="2026-12-02T10:08:17.905Z" publishTime="2026-12-02T10:08:31.895Z"
  timeShiftBufferDepth="PT10.0S" maxSegmentDuration="PT2.0S" minBufferTime="PT4.0S">
  <Period id="0" start="PT0.0S">
    <AdaptationSet id="0" contentType="video" startWithSAP="1">
      <Representation id="0" mimeType="video/mp4" codecs="avc1.42c00a" bandwidth="84636" width="160" height="120">
        <SegmentTemplate timescale="10240" initialization="init-stream$RepresentationID$.m4s"
          media="chunk-stream$RepresentationID$-$Number%05d$.m4s" startNumber="3">
          <SegmentTimeline><S t="40960" d="20480" r="4" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" startWithSAP="1">
      <Representation id="1" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="64000" audioSamplingRate="44100">
        <SegmentTemplate timescale="1000" initialization="init-stream$RepresentationID$.m4s"
          media="chunk-stream$RepresentationID$-$Number%05d$.m4s" startNumber="3">
          <SegmentTimeline><S t="4000" d="2000" r="3" /><S d="1500" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""


def test_ffmpegs_manifest_lists_the_audio_segments_on_the_manifests_clock() -> None:
    manifest = parse_mpd(FFMPEG_MPD, URL, READ_AT)
    assert manifest.dynamic
    assert manifest.availability_start == AST
    assert manifest.media_zero_s == 0.0
    assert manifest.segments == (
        DashSegment(3, 4.0, 2.0, 4000), DashSegment(4, 6.0, 2.0, 6000), DashSegment(5, 8.0, 2.0, 8000),
        DashSegment(6, 10.0, 2.0, 10000), DashSegment(7, 12.0, 1.5, 12000),
    )
    assert manifest.wall(4.0) == AST + timedelta(seconds=4)
    assert manifest.newest_end == AST + timedelta(seconds=13.5)
    assert manifest.span_s == 9.5
    assert manifest.init_url == "http://cdn.example/live/init-stream1.m4s"
    assert manifest.segment_url(manifest.segments[0]) == "http://cdn.example/live/chunk-stream1-00003.m4s"


def test_period_start_presentation_offset_base_urls_and_time_templates() -> None:
    text = """<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" availabilityStartTime="2026-01-01T00:00:00">
      <BaseURL>https://edge.example/a/</BaseURL>
      <Period start="PT1M"><AdaptationSet mimeType="audio/mp4">
        <SegmentTemplate timescale="48000" presentationTimeOffset="96000" media="$RepresentationID$/$Time$.m4s"/>
        <Representation id="aac" bandwidth="128000"><BaseURL>r/</BaseURL>
          <SegmentTemplate><SegmentTimeline><S t="96000" d="96000" r="-1"/><S t="384000" d="48000"/>
          </SegmentTimeline></SegmentTemplate>
        </Representation>
      </AdaptationSet></Period></MPD>"""
    manifest = parse_mpd(text, URL, READ_AT)
    # r="-1": repeated up to the next S's time.
    assert [(s.number, s.media_s, s.duration_s) for s in manifest.segments] == [
        (1, 2.0, 2.0), (2, 4.0, 2.0), (3, 6.0, 2.0), (4, 8.0, 1.0)]
    # Media time 2 s is presentation time 0, 60 s into the period.
    assert manifest.wall(2.0) == datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    assert manifest.segment_url(manifest.segments[1]) == "https://edge.example/a/r/aac/192000.m4s"


def test_a_fixed_duration_template_lists_the_segments_complete_when_read() -> None:
    text = """<MPD type="dynamic" availabilityStartTime="2026-12-02T10:00:00Z" timeShiftBufferDepth="PT6S">
      <Period><AdaptationSet contentType="audio"><Representation id="a">
        <SegmentTemplate timescale="90000" duration="180000" startNumber="10" media="$Number$.m4s"/>
      </Representation></AdaptationSet></Period></MPD>"""
    manifest = parse_mpd(text, URL, datetime(2026, 12, 2, 10, 0, 11, 500000, tzinfo=UTC))
    # 11.5 s in: segments 0-4 are complete; the last 6 s of them are listed.
    assert manifest.segments == (DashSegment(12, 4.0, 2.0, 360000), DashSegment(13, 6.0, 2.0, 540000),
                                 DashSegment(14, 8.0, 2.0, 720000))


def test_a_timeline_repeated_a_billion_times_keeps_only_the_newest_segments() -> None:
    text = f"""<MPD type="dynamic" availabilityStartTime="2026-12-02T10:00:00Z"><Period><AdaptationSet>
      <SegmentTemplate timescale="1" media="$Number$.m4s"><SegmentTimeline><S t="0" d="2" r="{10**9}"/>
      </SegmentTimeline></SegmentTemplate><Representation id="a"/></AdaptationSet></Period></MPD>"""
    segments = parse_mpd(text, URL, READ_AT).segments
    assert len(segments) == MAX_SEGMENTS
    assert segments[-1] == DashSegment(10**9 + 1, 2.0 * 10**9, 2.0, 2 * 10**9)


def test_a_static_manifest_and_segment_lists_have_no_clock_to_follow() -> None:
    static = parse_mpd('<MPD type="static" mediaPresentationDuration="PT1M"><Period><AdaptationSet>'
                       '<Representation id="a"><SegmentList/></Representation></AdaptationSet></Period></MPD>',
                       URL, READ_AT)
    assert (static.dynamic, static.availability_start, static.timed, static.segments) == (False, None, False, ())
    assert static.wall(1.0) is None


@pytest.mark.parametrize("text", [
    '<!DOCTYPE MPD [<!ENTITY a "aaaa">]><MPD>&a;</MPD>',
    "<html><body>live</body></html>",
    "<MPD",
    '<MPD type="dynamic"/>',
    '<MPD><Period><AdaptationSet><SegmentTemplate timescale="0"/></AdaptationSet></Period></MPD>',
    '<MPD><Period><AdaptationSet><SegmentTemplate><SegmentTimeline><S d="0"/></SegmentTimeline>'
    "</SegmentTemplate></AdaptationSet></Period></MPD>",
])
def test_what_is_not_a_usable_manifest_is_a_capture_error(text: str) -> None:
    with pytest.raises(CaptureError):
        parse_mpd(text, URL, READ_AT)


def test_iso_durations() -> None:
    assert iso_duration("PT10.0S") == 10.0
    assert iso_duration("PT1H2M3.5S") == 3723.5
    assert iso_duration("P1DT1S") == 86401.0
    for bad in ("P", "PT", "10S", "P1DT"):
        with pytest.raises(CaptureError):
            iso_duration(bad)


def test_templates() -> None:
    segment = DashSegment(42, 8.0, 2.0, 352800)
    assert fill_template("$RepresentationID$-$Bandwidth$-$Number%06d$-$Time$-$$.m4s", ("v1", "800"), segment) == (
        "v1-800-000042-352800-$.m4s")


def test_a_packager_restart_is_a_new_availability_start_or_numbers_going_back() -> None:
    before = parse_mpd(FFMPEG_MPD, URL, READ_AT)
    assert before.restarted_from(before) is None
    later = parse_mpd(FFMPEG_MPD.replace('t="4000" d="2000" r="3"', 't="6000" d="2000" r="3"')
                      .replace('startNumber="3"', 'startNumber="4"'), URL, READ_AT)
    assert later.restarted_from(before) is None
    restarted = parse_mpd(FFMPEG_MPD.replace("10:08:17.905Z", "10:09:03.100Z"), URL, READ_AT)
    assert restarted.restarted_from(before) == (
        "the DASH packager restarted (a new manifest: availabilityStartTime changed)")
    renumbered = parse_mpd(FFMPEG_MPD.replace('startNumber="3"', 'startNumber="1"'), URL, READ_AT)
    assert renumbered.restarted_from(before) == (
        "the DASH packager restarted (a new manifest: segment numbers went back)")
    over = parse_mpd(FFMPEG_MPD.replace('type="dynamic"', 'type="static"'), URL, READ_AT)
    assert over.restarted_from(before) is None  # the broadcast is over: not another stream


def test_the_manifest_is_read_again_when_the_next_segment_is_due() -> None:
    manifest = parse_mpd(FFMPEG_MPD, URL, READ_AT)
    # The newest segment (#7) ended at 13.5 s; #8 (1.5 s long, as #7 was) is due at 15.0 s, listed 0.15 s later.
    assert next_read_s(manifest, AST + timedelta(seconds=14.0), 1.0) == pytest.approx(1.0)
    assert next_read_s(manifest, AST + timedelta(seconds=14.5), 1.0) == pytest.approx(0.65)
    # Due already (the packager late, or its clock behind ours): a quarter of the interval, never a busy loop.
    assert next_read_s(manifest, AST + timedelta(seconds=15.1), 1.0) == pytest.approx(0.25)
    assert next_read_s(manifest, AST + timedelta(seconds=60.0), 1.0) == pytest.approx(0.25)
    over = parse_mpd(FFMPEG_MPD.replace('type="dynamic"', 'type="static"'), URL, READ_AT)
    assert next_read_s(over, AST + timedelta(seconds=14.5), 1.0) == 1.0


def test_recording_starts_within_the_look_back_and_never_records_a_segment_again() -> None:
    manifest = parse_mpd(FFMPEG_MPD, URL, READ_AT)
    assert first_to_record(manifest, None, 30.0) == manifest.segments[0]
    # Within 6 s of the newest end (13.5 s): from the first segment ending after 7.5 s (#4, 6-8 s).
    assert first_to_record(manifest, None, 6.0) == manifest.segments[1]
    assert first_to_record(manifest, None, 0.0) == manifest.segments[-1]
    # Recorded up to 9.3 s: segment 5 (8-10 s) is recorded; up to 9.8 s it counts as recorded (0.5 s of jitter).
    assert first_to_record(manifest, AST + timedelta(seconds=9.3), 30.0) == manifest.segments[2]
    assert first_to_record(manifest, AST + timedelta(seconds=9.8), 30.0) == manifest.segments[3]
    assert first_to_record(manifest, AST + timedelta(seconds=13.2), 30.0) is None


def test_mpd_urls_are_direct_dash_and_read_from_livewatchs_pipe() -> None:
    assert media_kind(URL) == "dash"
    assert DirectSource().resolve(URL + "?t=1") == ResolvedStream(URL + "?t=1", URL + "?t=1", "dash")
    stream = ResolvedStream(URL, URL, "dash", {"Referer": "https://page/"})
    assert record_args(stream, PLAN, rw_timeout_s=15, input_url="pipe:9") == [
        *GLOBAL, "-f", "mp4", "-fflags", "+discardcorrupt", "-protocol_whitelist", "pipe", "-i", "pipe:9", *OUTPUTS,
    ]


class _Origin(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        pass


def _mpd(start: str, first: int, count: int, kind: str = "dynamic") -> bytes:
    return (f'<MPD type="{kind}" availabilityStartTime="{start}"><Period><AdaptationSet contentType="audio">'
            f'<Representation id="a"><SegmentTemplate timescale="1" startNumber="{first}" initialization="i.mp4" '
            f'media="s$Number$.m4s"><SegmentTimeline><S t="{2 * (first - 1)}" d="2" r="{count - 1}"/>'
            "</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>").encode()


def test_the_feed_writes_each_segment_once_in_order_and_ends_when_the_packager_restarts() -> None:
    _Origin.files = {"/live.mpd": _mpd("2026-12-02T10:00:00Z", 1, 3), "/i.mp4": b"<init>",
                     **{f"/s{n}.m4s": f"<{n}>".encode() for n in range(1, 6)}}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/live.mpd"
    try:
        manifest = fetch_manifest(url, {}, 2)
        clock = DashClock(ResolvedStream(url, url, "dash"), manifest, manifest.segments[1], timeout=2)
        assert (clock.wall_base, clock.wall(3.5)) == (datetime(2026, 12, 2, 10, 0, 2, tzinfo=UTC),
                                                      datetime(2026, 12, 2, 10, 0, 5, 500000, tzinfo=UTC))
        reader = os.dup(clock.pass_fds[0])  # what ffmpeg would hold
        clock.started()
        got = b""

        def read_until(marker: bytes) -> None:
            nonlocal got
            while marker not in got:
                chunk = os.read(reader, 100)
                assert chunk, f"the feed ended before {marker!r}: {clock.restarted()}"
                got += chunk

        read_until(b"<3>")
        _Origin.files["/live.mpd"] = _mpd("2026-12-02T10:00:00Z", 2, 3)  # one more listed, the oldest gone
        read_until(b"<4>")
        _Origin.files["/live.mpd"] = _mpd("2026-12-02T10:01:30Z", 1, 2)  # a new packager, numbering from 1
        while chunk := os.read(reader, 100):
            got += chunk
        os.close(reader)
        clock._thread.join(5)
        # The pipe's descriptor numbers are free again, and the next files opened take them (the state database's
        # WAL, say): closing the clock after its feed ended must not close them a second time.
        taken = [os.open(os.devnull, os.O_RDONLY) for _ in range(4)]
        try:
            clock.close()
            for fd in taken:
                os.fstat(fd)  # EBADF if the clock had closed it
        finally:
            for fd in taken:
                os.close(fd)
        assert got == b"<init><2><3><4>"
        assert clock.restarted() == "the DASH packager restarted (a new manifest: availabilityStartTime changed)"
    finally:
        server.shutdown()


def test_the_feed_never_fetches_a_segment_the_url_policy_refuses() -> None:
    """The manifest is the watched party's: a BaseURL pointing at another service on this machine ends the
    feed before anything is fetched from it (ffmpeg itself only ever reads livewatch's pipe)."""
    _Origin.files = {"/live.mpd": _mpd("2026-12-02T10:00:00Z", 1, 3).replace(
        b"<Period>", b"<Period><BaseURL>http://127.0.0.1:1/</BaseURL>")}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/live.mpd"
    try:
        manifest = fetch_manifest(url, {}, 2)
        assert manifest.init_url == "http://127.0.0.1:1/i.mp4"
        clock = DashClock(ResolvedStream(url, url, "dash"), manifest, manifest.segments[0], timeout=2)
        reader = os.dup(clock.pass_fds[0])
        clock.started()
        assert os.read(reader, 100) == b""
        os.close(reader)
        clock.close()
        assert "on this machine" in (clock.restarted() or ""), clock.restarted()
    finally:
        server.shutdown()
