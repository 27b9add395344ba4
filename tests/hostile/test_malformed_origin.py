"""Issue 15, item 2: one malformed answer from the origin must not abandon the recording.

Every case is served for real by the hostile origin on 127.0.0.1 and read by the real live check: the answer
is a temporary "not live / bad answer" with a reason (never an exception, never a control character in the
reason), and the monitor keeps trying until the window ends. Property-based tests (hypothesis) throw
generated playlists at the parser and the live check.
"""

from __future__ import annotations

import itertools
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livewatch.capture.base import ResolvedStream
from livewatch.capture.hls import parse_master, parse_media
from livewatch.capture.probe import check_live
from livewatch.capture.resolve import DeadlineResolver
from livewatch.capture.ytdlp import YtDlpSource
from livewatch.errors import CaptureError, LivewatchError
from livewatch.fields import CaptureSettings
from livewatch.state import DataDir
from tests.capture.conftest import RunFacts, capture_only, now, run_facts, run_monitor_until_idle, write_event
from tests.hostile.origin import HLS, HostileOrigin, Raw, Reply
from tests.support.origin import LiveOrigin, fetch, wait_for_playlist

FAST = CaptureSettings(rw_timeout_s=2)
GOOD_PDT = "2026-12-01T09:00:00.000Z"


def media(*lines: str, pdt: str | None = GOOD_PDT, sequence: str = "7", target: str = "2") -> str:
    head = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}", f"#EXT-X-MEDIA-SEQUENCE:{sequence}"]
    if pdt is not None:
        head.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt}")
    body = list(lines) or ["#EXTINF:2.0,", "a.ts", "#EXTINF:2.0,", "b.ts"]
    return "\n".join([*head, *body]) + "\n"


def raw(data: bytes) -> Raw:
    def send(out: BinaryIO) -> None:
        out.write(data)
    return Raw(send)


#: path -> answer; every one is a bad answer (live=False, error=True).
BAD_ANSWERS: dict[str, Reply | Raw] = {
    "/extinf-word.m3u8": Reply(200, media("#EXTINF:abc,", "a.ts"), HLS),
    "/extinf-nan.m3u8": Reply(200, media("#EXTINF:nan,", "a.ts"), HLS),
    "/extinf-inf.m3u8": Reply(200, media("#EXTINF:inf,", "a.ts"), HLS),
    "/extinf-huge.m3u8": Reply(200, media("#EXTINF:1e400,", "a.ts"), HLS),
    "/extinf-negative.m3u8": Reply(200, media("#EXTINF:-2,", "a.ts"), HLS),
    "/extinf-empty.m3u8": Reply(200, media("#EXTINF:", "a.ts"), HLS),
    "/target-word.m3u8": Reply(200, media(target="two"), HLS),
    "/target-nan.m3u8": Reply(200, media(target="NaN"), HLS),
    "/sequence-negative.m3u8": Reply(200, media(sequence="-5"), HLS),
    "/sequence-word.m3u8": Reply(200, media(sequence="seven"), HLS),
    "/sequence-5000-digits.m3u8": Reply(200, media(sequence="9" * 5000), HLS),
    "/sequence-underscores.m3u8": Reply(200, media(sequence="1_000"), HLS),
    "/not-hls.m3u8": Reply(200, "<html>hello</html>", "text/html"),
    "/binary.m3u8": Reply(200, bytes(range(256)) * 4, HLS),
    "/too-big.m3u8": Reply(200, "#EXTM3U\n" + "#" * 2_100_000, HLS),
    "/server-error.m3u8": Reply(500, "oops"),
    "/forbidden.m3u8": Reply(403, "no"),
    "/redirect-loop.m3u8": Reply(302, "", headers=(("Location", "/redirect-loop.m3u8"),)),
    "/redirect-ftp.m3u8": Reply(302, "", headers=(("Location", "ftp://127.0.0.1/x.m3u8"),)),
    "/redirect-nul.m3u8": Reply(302, "", headers=(("Location", "/a\x00b.m3u8"),)),
    "/master-control-char.m3u8": Reply(200, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n/v\x1b[2J.m3u8\n", HLS),
    "/master-bad-ipv6.m3u8": Reply(200, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://[::1/v.m3u8\n", HLS),
    "/garbage-status.m3u8": raw(b"NOPE NOPE NOPE\r\n\r\n"),
    "/garbage-status-code.m3u8": raw(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n"),
    "/status-only-junk.m3u8": raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200)),
    "/long-header.m3u8": raw(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n#EXTM3U\n"),
    "/long-status.m3u8": raw(b"HTTP/1.1 200 " + b"O" * 70_000 + b"\r\n\r\n"),
    "/many-headers.m3u8": raw(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"),
    "/hang-up.m3u8": raw(b""),
    "/cut-body.m3u8": raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n#EXTM3U\n#EXT-X-TARGETDURATION:2\n"),
    "/bad-chunked.m3u8": raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n#EXTM3U\r\n"),
}


@pytest.fixture(scope="module")
def origin() -> Iterator[HostileOrigin]:
    with HostileOrigin() as server:
        for path, answer in BAD_ANSWERS.items():
            server.add(path, answer)
        server.add("/master-bad-bandwidth.m3u8", Reply(
            200, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=lots\n/good.m3u8\n", HLS))
        server.add("/good.m3u8", Reply(200, media(), HLS))
        server.add("/pdt-9999.m3u8", Reply(200, media(pdt="9999-12-31T23:59:59.000Z"), HLS))
        server.add("/pdt-0001.m3u8", Reply(200, media(pdt="0001-01-01T00:00:00.000Z"), HLS))
        yield server


def hls(url: str) -> ResolvedStream:
    return ResolvedStream(url, url, "hls")


@pytest.mark.parametrize("path", sorted(BAD_ANSWERS))
def test_a_malformed_answer_is_a_bad_answer_with_a_reason(origin: HostileOrigin, path: str) -> None:
    started = time.monotonic()
    check = check_live(hls(origin.url(path)), FAST, resume_after=None)
    assert (check.live, check.error) == (False, True), check.reason
    assert check.reason
    assert check.reason.isprintable()
    assert time.monotonic() - started < 5


def test_control_character_and_non_ascii_in_the_stream_url(origin: HostileOrigin) -> None:
    for url in (origin.url("/a\nb.m3u8"), origin.url("/a\x7fb.m3u8"), origin.url("/直播.m3u8\x00"),
                "http://[::1/x.m3u8", f"http://127.0.0.1:{origin.port}0000/x.m3u8", "http:///x.m3u8"):
        check = check_live(hls(url), FAST, resume_after=None)
        assert (check.live, check.error) == (False, True), (url, check.reason)
        assert check.reason.isprintable()


def test_a_bad_bandwidth_only_ranks_its_variant_last(origin: HostileOrigin) -> None:
    check = check_live(hls(origin.url("/master-bad-bandwidth.m3u8")), FAST, resume_after=None)
    assert check.live, check.reason
    assert check.stream is not None
    assert check.stream.media_url == origin.url("/good.m3u8")


@pytest.mark.parametrize("path", ["/pdt-9999.m3u8", "/pdt-0001.m3u8"])
def test_an_implausible_date_time_is_ignored_and_said(origin: HostileOrigin, path: str) -> None:
    check = check_live(hls(origin.url(path)), FAST, resume_after=datetime.now(UTC) - timedelta(hours=1))
    assert check.live
    assert check.wall_base is None  # recording goes on with our own clock
    assert "PROGRAM-DATE-TIME" in check.reason
    assert "ignored" in check.reason


def test_a_stalled_playlist_without_date_times_is_not_advancing(origin: HostileOrigin) -> None:
    origin.add("/no-pdt.m3u8", Reply(200, media(pdt=None), HLS))
    url = origin.url("/no-pdt.m3u8")
    first = check_live(hls(url), FAST, resume_after=None)
    assert first.live
    assert first.segments
    newest = (first.segments[-1].sequence, first.segments[-1].uri)
    again = check_live(hls(url), FAST, resume_after=datetime.now(UTC), last_newest=newest)
    assert (again.live, again.error) == (False, False)
    assert "not advancing" in again.reason
    origin.add("/no-pdt.m3u8", Reply(200, media("#EXTINF:2,", "b.ts", "#EXTINF:2,", "c.ts", pdt=None), HLS))
    assert check_live(hls(url), FAST, resume_after=datetime.now(UTC), last_newest=newest).live


#: Platform pages yt-dlp reads: a redirect to a scheme it has no adapter for raised its RequestError, a <video>
#: with an unclosed IPv6 bracket a ValueError, both past the live check.
BAD_PAGES: dict[str, Reply | Raw] = {
    **{path.replace(".m3u8", ".html"): BAD_ANSWERS[path] for path in (
        "/garbage-status.m3u8", "/long-header.m3u8", "/many-headers.m3u8", "/redirect-nul.m3u8", "/hang-up.m3u8",
        "/binary.m3u8", "/redirect-loop.m3u8")},
    "/redirect-ftp.html": Reply(302, "", headers=(("Location", "ftp://127.0.0.1/x"),)),
    "/redirect-gopher.html": Reply(302, "", headers=(("Location", "gopher://127.0.0.1/x"),)),
    "/video-bad-ipv6.html": Reply(200, '<html><video src="http://[::1/x.m3u8"></video></html>', "text/html"),
}


@pytest.mark.parametrize("path", sorted(BAD_PAGES))
def test_a_yt_dlp_request_error_is_a_capture_error(origin: HostileOrigin, path: str) -> None:
    page = origin.url(path)
    origin.add(path, BAD_PAGES[path])
    with pytest.raises(CaptureError) as caught:
        DeadlineResolver().resolve(YtDlpSource(socket_timeout=2), page, deadline_s=10)
    assert str(caught.value).isprintable()


# -- property-based: the parser and the live check never raise anything but our own errors -----------------

TAGS = ["#EXTINF:", "#EXT-X-TARGETDURATION:", "#EXT-X-MEDIA-SEQUENCE:", "#EXT-X-PROGRAM-DATE-TIME:",
        "#EXT-X-DISCONTINUITY", "#EXT-X-ENDLIST", "#EXT-X-STREAM-INF:BANDWIDTH=", "#EXT-X-KEY:URI=", ""]
VALUES = st.one_of(
    st.text(max_size=30),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+00:00", "2026-13-40T99:99:99Z", "1e400",
                     "-0", "nan,", "2,title", "http://[::1/x", "a\x00b", "\u202e.ts"]),
)
LINES = st.one_of(st.tuples(st.sampled_from(TAGS), VALUES).map("".join), st.text(max_size=40))
PLAYLISTS = st.lists(LINES, max_size=25).map(lambda lines: "\n".join(["#EXTM3U", *lines]))


@settings(max_examples=300, deadline=None)
@given(PLAYLISTS)
def test_the_parser_raises_only_our_errors(text: str) -> None:
    try:
        playlist = parse_media(text, "http://127.0.0.1/x.m3u8")
    except LivewatchError as err:
        message = str(err)
    else:
        message = ""
    assert message.isprintable()
    if message:
        return
    for segment in playlist.segments:
        assert 0 <= segment.duration <= 86_400
        assert segment.end_time is None or segment.end_time.year < 9999
    parse_master(text, "http://127.0.0.1/x.m3u8")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(PLAYLISTS, st.booleans())
def test_the_live_check_never_raises(origin: HostileOrigin, text: str, resuming: bool) -> None:
    origin.add("/fuzz.m3u8", Reply(200, text.encode("utf-8", "surrogatepass"), HLS))
    resume_after = datetime.now(UTC) if resuming else None
    check = check_live(hls(origin.url("/fuzz.m3u8")), FAST, resume_after=resume_after, last_newest=(1, "a.ts"))
    assert check.reason.isprintable() or check.live
    if check.live:
        assert check.start_index is not None
        assert 0 <= check.start_index < len(check.segments)


# -- the real monitor: bad answers are retried, a frozen playlist is not re-recorded, a short file backs off --


@dataclass
class Group:
    data: DataDir
    origin: HostileOrigin

    def facts(self, event_id: str) -> RunFacts:
        return run_facts(self.data, event_id)


def relay(source: str, *, keep: bool) -> Reply | Callable[[HostileOrigin, str], Reply]:
    """A segment of the live origin: fetched when asked, or (``keep``) now, since that origin deletes old ones."""
    if keep:
        return Reply(200, fetch(source)[1], "video/mp2t")
    return lambda _origin, _path: Reply(200, fetch(source)[1], "video/mp2t")


def relayed(live: LiveOrigin, hostile: HostileOrigin, *, keep_pdt: bool = True) -> str:
    """The live origin's playlist as the hostile origin serves it, segments relayed through it (one host)."""
    _, body, _ = fetch(live.url)
    lines = []
    for line in body.decode("utf-8").splitlines():
        if line and not line.startswith("#"):
            hostile.add(f"/relay/{line}", relay(urllib.parse.urljoin(live.url, line), keep=not keep_pdt))
            line = f"/relay/{line}"
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME") and not keep_pdt:
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory, hostile_media: tuple[Path, Path]) -> Iterator[Group]:
    root = tmp_path_factory.mktemp("malformed-group")
    schedules = root / "schedules"
    schedules.mkdir()
    sample, _ = hostile_media
    with LiveOrigin(root / "live") as live, HostileOrigin(sample=sample) as hostile:
        live.start()
        wait_for_playlist(live.url, min_segments=2)
        bad = [BAD_ANSWERS[path] for path in ("/garbage-status.m3u8", "/extinf-word.m3u8", "/many-headers.m3u8",
                                              "/sequence-5000-digits.m3u8")]
        asked = itertools.count()

        def flaky(origin: HostileOrigin, path: str) -> Reply | Raw:
            # The first answers are malformed, one kind after another; then the stream is served as it is.
            number = next(asked)
            return bad[number] if number < len(bad) else Reply(200, relayed(live, hostile), HLS)

        frozen = relayed(live, hostile, keep_pdt=False)
        hostile.add("/flaky.m3u8", flaky)
        hostile.add("/frozen.m3u8", Reply(200, frozen, HLS))  # never changes, no date-times, no ENDLIST
        hostile.add("/short.flv", Reply(200, sample.read_bytes(), "video/x-flv"))  # a 2 s file, served whole
        t0 = now()
        end = t0 + timedelta(seconds=16)
        # Checks back off on errors (0.25, 0.5, 1, 2 s): the stream is recorded from about 4 s on.
        write_event(schedules, "flaky", hostile.url("/flaky.m3u8"), t0, end, poll_interval_s=0.25)
        write_event(schedules, "frozen", hostile.url("/frozen.m3u8"), t0, end, stall_timeout_s=3)
        write_event(schedules, "short", hostile.url("/short.flv"), t0, end, backoff_base_s=2, backoff_max_s=4)
        data = DataDir(root / "data")
        run_monitor_until_idle(capture_only(data.root), schedules, timeout=90)
        yield Group(data, hostile)


def test_malformed_answers_are_retried_and_the_stream_recorded(group: Group) -> None:
    facts = group.facts("flaky")
    assert facts.run.status == "finished", facts.run.stop_reason
    assert facts.audio, "nothing was recorded after the origin mended its answers"
    assert "4 bad answer(s) from the origin" in facts.run.stop_reason
    assert facts.run.stop_reason.isprintable()


def test_a_frozen_playlist_without_date_times_is_recorded_once(group: Group) -> None:
    facts = group.facts("frozen")
    producing = {segment.connection_id for segment in facts.audio}
    assert len(producing) == 1, [c.end_reason for c in facts.connections]
    assert facts.run.status == "finished"


def test_a_short_file_reconnects_with_back_off(group: Group) -> None:
    facts = group.facts("short")
    # Each connection ends within a second or two; the next one waits for the back-off (2 s, then up to 4 s)
    # instead of starting as soon as the live check answers.
    pauses = [(after.started_at - before.ended_at).total_seconds()
              for before, after in itertools.pairwise(facts.connections)]
    assert pauses, "the file was recorded once only"
    assert min(pauses) >= 1.9, pauses
