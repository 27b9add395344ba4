"""Liveness checks against a local HTTP server: off air is not an error, a failing platform is."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from livewatch.capture.base import ResolvedStream
from livewatch.capture.probe import check_live
from livewatch.fields import CaptureSettings

LIVE = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T09:00:00Z\n#EXTINF:2,\na.ts\n"
ENDED = LIVE + "#EXT-X-ENDLIST\n"
ANSWERS = {"/live.m3u8": (200, LIVE), "/ended.m3u8": (200, ENDED), "/empty.m3u8": (200, "#EXTM3U\n"),
           "/gone.m3u8": (404, "no"), "/forbidden.m3u8": (403, "no"), "/broken.m3u8": (500, "oops")}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = ANSWERS.get(self.path, (404, ""))
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.parametrize(
    ("path", "live", "error", "reason"),
    [
        ("/live.m3u8", True, False, "playlist is live"),
        ("/ended.m3u8", False, False, "playlist has ended (EXT-X-ENDLIST)"),
        ("/empty.m3u8", False, False, "playlist has no segments yet"),
        ("/gone.m3u8", False, False, "HTTP 404 from"),
        ("/forbidden.m3u8", False, True, "HTTP 403 from"),
        ("/broken.m3u8", False, True, "HTTP 500 from"),
    ],
)
def test_hls_liveness(server: str, path: str, live: bool, error: bool, reason: str) -> None:
    url = server + path
    check = check_live(ResolvedStream(url, url, "hls"), CaptureSettings(), resume_after=None)
    assert (check.live, check.error) == (live, error)
    assert check.reason.startswith(reason)
    if live:
        assert check.start_index == 0
        assert check.wall_base is not None
        assert check.wall_base.isoformat() == "2026-12-01T09:00:00+00:00"


def test_unreachable_host_is_an_error() -> None:
    url = "http://127.0.0.1:9/none.m3u8"  # the discard port: nothing listens
    check = check_live(ResolvedStream(url, url, "hls"), CaptureSettings(rw_timeout_s=2), resume_after=None)
    assert (check.live, check.error) == (False, True)


def test_non_hls_stream_is_probed_with_ffprobe_when_asked(server: str) -> None:
    url = server + "/gone.flv"
    settings = CaptureSettings(rw_timeout_s=3, probe_live=True)
    check = check_live(ResolvedStream(url, url, "progressive"), settings, resume_after=None)
    assert not check.live
    assert "404" in check.reason


def test_non_hls_stream_is_checked_by_the_recorder_by_default(server: str) -> None:
    url = server + "/gone.flv"
    check = check_live(ResolvedStream(url, url, "progressive"), CaptureSettings(rw_timeout_s=3), resume_after=None)
    # No probe: the recorder's connection is the check (it would find the 404 itself).
    assert check.live
    assert check.unprobed
    assert check.stream is not None
    assert check.stream.media_url == url
