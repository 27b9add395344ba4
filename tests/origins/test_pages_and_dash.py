"""Issue 16, items 4 and 5: a page whose player is configured in a script, a page with no stream in it, and a
live DASH stream with separate audio and video.

One real monitor records three events at once from origins on 127.0.0.1:

* ``hlsjs``: the project's live HLS origin serving, as its room page, an hls.js player whose source is set
  in a script (``hls.loadSource(src)``, the playlist given relative to the page). yt-dlp's generic extractor
  says "Unsupported URL" for it; the page-player fallback finds the playlist and it is recorded.
* ``blank``: a page that answers all window long but names no stream. The run ends ``unresolved`` (ours),
  with a ``technical`` finding and a capture alert, and no ``schedule.no-show`` against the organizer.
* ``dash``: ffmpeg's DASH muxer, video and audio in separate adaptation sets, served over HTTP, recorded with
  its audio by livewatch's own DASH reader (livewatch/capture/dash_feed.py). yt-dlp's ``best`` finds no format
  with both; what it chooses for such a manifest is that manifest, recorded the same way.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from livewatch.alerts.outbox import Outbox
from livewatch.alerts.watch import RunFacts as WatchFacts
from livewatch.alerts.watch import schedule_alerts
from livewatch.capture.pages import PagePlayerSource, stream_urls
from livewatch.capture.ytdlp import YtDlpSource, operator_words
from livewatch.checking import check_event
from livewatch.errors import StreamNotFound
from livewatch.registration.models import Event
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.state import Database, DataDir
from tests.capture.conftest import RunFacts, now, run_facts, run_monitor_until_idle, write_event
from tests.support.origin import LiveOrigin, wait_for_playlist

pytestmark = pytest.mark.slow

WINDOW_S = 10.0


class HlsJsOrigin(LiveOrigin):
    """The live origin whose room page configures hls.js in a script, as streaming sites do."""

    def page_html(self) -> str:
        playlist = urllib.parse.urlsplit(self.url).path.lstrip("/")  # relative to the page: "../live/..."
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>room1</title>'
            '<script src="https://cdn.jsdelivr.net/npm/hls.js@1"></script></head><body><video id="v"></video>'
            "<script>\n"
            f'  var streamSrc = "..\\/{playlist}";\n'
            "  if (Hls.isSupported()) { var hls = new Hls({lowLatencyMode: true});"
            " hls.loadSource(streamSrc); hls.attachMedia(document.getElementById('v')); }\n"
            "</script></body></html>\n"
        )


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _Blank(http.server.BaseHTTPRequestHandler):
    """A room page that answers, but whose player loads its stream from an API we cannot see."""

    def do_GET(self) -> None:
        body = b'<!DOCTYPE html><html><body><div id="app"></div><script src="/static/app.js"></script></body></html>'
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Recorded:
    data: DataDir
    settings: Settings
    hlsjs_url: str
    playlist_url: str
    dash_url: str

    def facts(self, event_id: str) -> RunFacts:
        return run_facts(self.data, event_id)


def _serve(handler: type[http.server.BaseHTTPRequestHandler] | functools.partial[_Files]
           ) -> tuple[http.server.ThreadingHTTPServer, threading.Thread]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def _dash_encoder(folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac",
         "-f", "dash", "-streaming", "1", "-window_size", "6", "-seg_duration", "1",
         "-adaptation_sets", "id=0,streams=v id=1,streams=a", str(folder / "live.mpd")],
        stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    root = tmp_path_factory.mktemp("pages-dash")
    schedules = root / "schedules"
    schedules.mkdir()
    dash_dir = root / "dash"
    dash_dir.mkdir()
    encoder = _dash_encoder(dash_dir)
    dash, _ = _serve(functools.partial(_Files, directory=str(dash_dir)))
    blank, _ = _serve(_Blank)
    settings = Settings(data_dir=root / "data", transcriber={"enabled": False}, screen={"enabled": False},
                        alerts=[{"name": "log", "type": "log", "min_severity": "info"}])
    try:
        with HlsJsOrigin(root / "origin", segment_seconds=1.0) as origin:
            origin.start()
            wait_for_playlist(origin.url, min_segments=2)
            deadline = time.monotonic() + 15
            while not (dash_dir / "live.mpd").exists():
                assert time.monotonic() < deadline, "ffmpeg wrote no DASH manifest"
                time.sleep(0.2)
            time.sleep(2)  # a few segments listed
            dash_url = f"http://127.0.0.1:{dash.server_address[1]}/live.mpd"
            start = now()
            end = start + timedelta(seconds=WINDOW_S)
            write_event(schedules, "hlsjs", origin.page_url, start, end, rw_timeout_s=2)
            write_event(schedules, "blank", f"http://127.0.0.1:{blank.server_address[1]}/room/9", start, end,
                        rw_timeout_s=2)
            write_event(schedules, "dash", dash_url, start, end, rw_timeout_s=2)
            run_monitor_until_idle(settings, schedules, timeout=60)
            yield Recorded(DataDir(settings.data_dir), settings, origin.page_url, origin.url, dash_url)
    finally:
        encoder.terminate()
        encoder.wait(10)
        dash.shutdown()
        blank.shutdown()


def test_yt_dlp_alone_finds_nothing_in_the_hls_js_page(recorded: Recorded) -> None:
    """Before the fallback, this page was the organizer's no-show."""
    with pytest.raises(StreamNotFound, match="Unsupported URL"):
        YtDlpSource(socket_timeout=2).resolve(recorded.hlsjs_url)


def test_a_page_with_an_hls_js_player_is_resolved_and_recorded(recorded: Recorded) -> None:
    facts = recorded.facts("hlsjs")
    assert facts.run.status == "finished", facts.run.stop_reason
    assert [c.media_url for c in facts.connections][:1] == [recorded.playlist_url]
    assert len(facts.audio) >= WINDOW_S / 2 - 2, f"only {len(facts.audio)} audio segments"


def test_a_page_with_no_stream_is_our_capture_failure_not_a_no_show(recorded: Recorded) -> None:
    facts = recorded.facts("blank")
    assert facts.run.status == "unresolved"
    assert "no stream found in the page" in facts.run.stop_reason
    with Database(recorded.data.database) as db:
        check = check_event(Session(recorded.settings, recorded.data, db), "blank", save=False)
        alerts = [row.key for row in Outbox(db.engine).rows(event_id="blank")]
    rules = {f.rule: f.category for f in check.findings}
    assert rules.get("technical.no-stream-found") == "technical"
    assert "schedule.no-show" not in rules
    assert any("|run-unresolved|" in key for key in alerts), alerts
    assert not any(key.endswith("|no-show") for key in alerts), alerts


def test_while_no_stream_is_found_the_schedule_watch_blames_no_one() -> None:
    """Inside the window the run is ``searching``: past the late tolerance the alert is ours (capture), not
    the organizer's no-show; once the run ended ``unresolved`` only the capture failure is raised."""
    start = datetime.fromisoformat("2026-03-01T10:00:00+00:00")
    event = Event.model_validate({
        "id": "room", "title": "Room", "kind": "forum", "category": "knowledge", "organizer": {"name": "QA"},
        "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat(),
        "streams": [{"url": "https://live.example.com/room/9"}], "tolerances": {"late_start": 0},
    })
    late = start + timedelta(minutes=5)
    searching = schedule_alerts(event, WatchFacts(1, "searching", None, None, None), [], late, 60)
    assert [a.rule for a in searching] == ["capture.no-stream-found"]
    ended = schedule_alerts(event, WatchFacts(1, "unresolved", None, None, "no stream found"), [],
                            event.end + timedelta(minutes=1), 60)
    assert [a.rule for a in ended] == ["capture.run-unresolved"]
    waiting = schedule_alerts(event, WatchFacts(1, "waiting", None, None, None), [], late, 60)
    assert [a.rule for a in waiting] == ["schedule.no-show"]


def test_live_dash_with_separate_audio_is_recorded(recorded: Recorded) -> None:
    facts = recorded.facts("dash")
    assert facts.run.status == "finished", facts.run.stop_reason
    assert {c.media_url for c in facts.connections} == {recorded.dash_url}
    assert len(facts.audio) >= WINDOW_S / 2 - 2, f"only {len(facts.audio)} audio segments"
    assert all(Path(segment.path).stat().st_size > 1000 for segment in facts.audio)


def test_yt_dlp_chooses_the_manifest_of_separate_video_and_audio(recorded: Recorded) -> None:
    resolved = YtDlpSource(socket_timeout=5).resolve(recorded.dash_url)
    assert (resolved.media_url, resolved.kind) == (recorded.dash_url, "dash")


def test_page_player_configurations_are_read_where_players_take_them() -> None:
    page = """
      <video id="a"><source src="/live/a.m3u8?t=1&amp;u=2" type="application/x-mpegURL"></video>
      <script>
        const dp = new DPlayer({container: el, video: {url: 'https:\\/\\/cdn.example\\/room.flv', type: 'flv'}});
        window.__PLAYER__ = {"streams": {"hls": "//cdn.example/hls/room", "poster": "/p.jpg"}};
        player.loadSource("https://cdn.example/first.m3u8");
      </script>"""
    assert list(stream_urls(page)) == [
        ("https://cdn.example/first.m3u8", "hls"),
        ("//cdn.example/hls/room", "hls"),
        ("/live/a.m3u8?t=1&u=2", "hls"),
        ("https://cdn.example/room.flv", None),
    ]


def test_a_page_cannot_point_the_monitor_at_this_machine() -> None:
    """Every URL found passes the URL policy: another local port is refused, as yt-dlp's answers are."""
    page = b'<script>hls.loadSource("http://127.0.0.1:1/secret.m3u8")</script>'

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server, _ = _serve(Page)
    try:
        with pytest.raises(Exception, match="on this machine"):
            PagePlayerSource(timeout_s=2).resolve(f"http://127.0.0.1:{server.server_address[1]}/room")
    finally:
        server.shutdown()


def test_yt_dlp_command_line_advice_never_reaches_an_operator() -> None:
    said = operator_words("ERROR: [generic] live: Requested format is not available. Use --list-formats for a "
                          "list of available formats")
    assert said == "[generic] live: no format with audio that livewatch can record."
    said = operator_words("ERROR: [x] y: Sign in to confirm you are not a bot. Use --cookies-from-browser or "
                          "--cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ  for how")
    assert "--" not in said
    assert "yt-dlp" not in said
