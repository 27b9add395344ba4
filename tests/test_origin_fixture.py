"""The live HLS origin fixture (tests/support/origin.py) behaves like a real origin: late start, drop, stall, stop.

Also pins down what yt-dlp's Python API returns for the origin's page and for its playlist.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.origin import LiveOrigin, MediaPlaylist, fetch, parse_media_playlist, wait_for_playlist

pytestmark = pytest.mark.slow

# Short segments keep the file fast; the default (2 s, 6 segments) is what recorder tests will mostly use.
SEGMENT = 1.0
LIST_SIZE = 3


@pytest.fixture
def make_origin(tmp_path: Path) -> Iterator[Callable[..., LiveOrigin]]:
    made: list[LiveOrigin] = []

    def make(**kwargs: Any) -> LiveOrigin:
        kwargs.setdefault("segment_seconds", SEGMENT)
        kwargs.setdefault("list_size", LIST_SIZE)
        origin = LiveOrigin(tmp_path / f"origin{len(made)}", **kwargs)
        made.append(origin)
        return origin

    yield make
    for origin in made:
        origin.close()


@pytest.fixture(scope="module")
def live_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveOrigin]:
    """One origin, started and left alone, for the read-only tests."""
    with LiveOrigin(
        tmp_path_factory.mktemp("live"),
        speech="This is a live compliance test broadcast.",
        segment_seconds=SEGMENT,
        list_size=LIST_SIZE,
    ) as origin:
        origin.start()
        wait_for_playlist(origin.url, 2, timeout=15)
        yield origin


def playlist(origin: LiveOrigin) -> tuple[str, MediaPlaylist]:
    status, body, _ = fetch(origin.url)
    assert status == 200
    text = body.decode()
    return text, parse_media_playlist(text)


def wait_until(origin: LiveOrigin, predicate: Callable[[MediaPlaylist], bool], timeout: float) -> MediaPlaylist:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        status, body, _ = fetch(origin.url)
        if status == 200:
            last = body.decode()
            parsed = parse_media_playlist(last)
            if predicate(parsed):
                return parsed
        time.sleep(0.2)
    raise AssertionError(f"playlist never got there in {timeout} s; last:\n{last}")


def after_discontinuity(parsed: MediaPlaylist) -> bool:
    return any(segment.discontinuity for segment in parsed.segments[1:])


def test_404_before_start_then_live(make_origin: Callable[..., LiveOrigin]) -> None:
    origin = make_origin()
    for url in (origin.url, origin.page_url, f"{origin.base_url}/live/seg_00000.ts", origin.base_url + "/"):
        assert fetch(url)[0] == 404, url
    assert origin.state == "idle"

    started = time.monotonic()
    origin.start()
    text = wait_for_playlist(origin.url, 1, timeout=SEGMENT + 6)
    assert time.monotonic() - started < SEGMENT + 5

    status, _, headers = fetch(origin.url)
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert "no-cache" in headers["Cache-Control"]
    parsed = parse_media_playlist(text)
    assert parsed.target_duration == round(SEGMENT)
    assert parsed.discontinuities == 0, "a fresh playlist opens without a discontinuity"
    assert not parsed.endlist

    # The window slides: the media sequence advances and every segment carries a wall-clock PDT.
    later = wait_until(origin, lambda p: p.media_sequence > parsed.media_sequence, timeout=LIST_SIZE * SEGMENT + 6)
    assert len(later.segments) == LIST_SIZE
    assert all(segment.program_date_time is not None for segment in later.segments)
    newest = later.segments[-1]
    assert newest.program_date_time is not None
    end = newest.program_date_time + timedelta(seconds=newest.duration)
    assert abs((datetime.now(UTC) - end).total_seconds()) < 2.5, "PDT follows the wall clock (-re)"
    for before, after in zip(later.segments, later.segments[1:], strict=False):
        assert before.program_date_time is not None
        assert after.program_date_time is not None
        gap = (after.program_date_time - before.program_date_time).total_seconds()
        assert gap == pytest.approx(before.duration, abs=0.01)

    status, body, headers = fetch(f"{origin.base_url}/live/{newest.uri}")
    assert status == 200
    assert headers["Content-Type"] == "video/mp2t"
    assert body[:1] == b"\x47", "an MPEG-TS packet starts with the sync byte"

    names = [name for name, _ in origin.events]
    assert names[:2] == ["start", "encoder_start"]
    assert all(when.tzinfo is UTC for _, when in origin.events)


def test_drop_answers_404_then_the_playlist_continues(make_origin: Callable[..., LiveOrigin]) -> None:
    origin = make_origin()
    origin.start()
    before = parse_media_playlist(wait_for_playlist(origin.url, 2, timeout=SEGMENT * 2 + 6))

    dropped = time.monotonic()
    origin.drop(3)
    assert time.monotonic() - dropped < 0.5, "drop() does not block"
    assert origin.state == "dropped"
    assert origin.dropped_at is not None
    not_yet = origin.returned_at
    assert not_yet is None
    while time.monotonic() - dropped < 2.5:
        for url in (origin.url, origin.page_url, f"{origin.base_url}/live/{before.segments[-1].uri}"):
            assert fetch(url)[0] == 404, url
        time.sleep(0.25)

    origin.wait_for_state("live", timeout=5)
    assert origin.returned_at is not None
    assert (origin.returned_at - origin.dropped_at).total_seconds() == pytest.approx(3, abs=0.5)

    # ffmpeg's append_list continues the playlist: numbering goes on, one #EXT-X-DISCONTINUITY marks the
    # restart, and the new segments' PDT is wall-clock time again, so the outage shows as a gap in PDT.
    after = wait_until(origin, after_discontinuity, timeout=SEGMENT + 6)
    assert after.discontinuities == 1
    index = next(i for i, segment in enumerate(after.segments) if segment.discontinuity)
    old, new = after.segments[index - 1], after.segments[index]
    assert old.sequence >= before.last_sequence
    assert int(new.uri[4:9]) == int(old.uri[4:9]) + 1
    assert old.program_date_time is not None
    assert new.program_date_time is not None
    gap = (new.program_date_time - (old.program_date_time + timedelta(seconds=old.duration))).total_seconds()
    assert 2.0 < gap < 5.0
    assert abs((new.program_date_time - origin.returned_at).total_seconds()) < 1.5
    assert origin.encoder_starts == 2
    assert [name for name, _ in origin.events if name in {"drop", "return"}] == ["drop", "return"]


def test_stall_serves_the_same_stale_playlist(make_origin: Callable[..., LiveOrigin]) -> None:
    origin = make_origin()
    origin.start()
    wait_for_playlist(origin.url, 2, timeout=SEGMENT * 2 + 6)

    origin.stall()
    assert not origin.encoder_running
    frozen, parsed = playlist(origin)
    time.sleep(SEGMENT * 2.5)
    assert playlist(origin)[0] == frozen
    assert not parsed.endlist
    assert fetch(f"{origin.base_url}/live/{parsed.segments[-1].uri}")[0] == 200
    assert fetch(origin.page_url)[0] == 200

    origin.resume()
    resumed = wait_until(origin, after_discontinuity, timeout=SEGMENT + 6)
    assert resumed.last_sequence > parsed.last_sequence
    assert origin.state == "live"


@pytest.mark.parametrize("endlist", [True, False])
def test_stop(make_origin: Callable[..., LiveOrigin], endlist: bool) -> None:
    origin = make_origin()
    origin.start()
    wait_for_playlist(origin.url, 1, timeout=SEGMENT + 6)
    origin.stop(endlist=endlist)
    assert not origin.encoder_running
    if endlist:
        text, parsed = playlist(origin)
        assert text.rstrip().endswith("#EXT-X-ENDLIST")
        assert parsed.endlist
        assert text.count("#EXT-X-ENDLIST") == 1
        assert origin.state == "ended"
    else:
        assert fetch(origin.url)[0] == 404
        assert fetch(origin.page_url)[0] == 404
        assert origin.state == "gone"
    with pytest.raises(RuntimeError):
        origin.start()


def test_close_reaps_the_encoder_and_the_server(make_origin: Callable[..., LiveOrigin]) -> None:
    origin = make_origin()
    origin.start()
    pid = origin.encoder_pid
    assert pid is not None
    assert Path(f"/proc/{pid}").exists()
    origin.drop(30)  # a pending drop timer must not restart anything after close()
    origin.close()
    origin.close()
    assert not Path(f"/proc/{pid}").exists(), "the encoder is gone and reaped, not a zombie"
    assert origin.encoder_pid is None
    with pytest.raises(urllib.error.URLError):
        fetch(origin.url, timeout=2)
    assert origin.events[-1][0] in {"close", "encoder_exit"}


def test_page_embeds_the_playlist(live_origin: LiveOrigin) -> None:
    status, body, headers = fetch(live_origin.page_url)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert "<video" in page
    assert f'src="{live_origin.url}"' in page


def test_ffprobe_sees_h264_and_aac(live_origin: LiveOrigin) -> None:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,sample_rate,width,height",
         "-of", "json", live_origin.url],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    streams = json.loads(result.stdout)["streams"]
    assert sorted((s["codec_type"], s["codec_name"]) for s in streams) == [("audio", "aac"), ("video", "h264")]
    video = next(s for s in streams if s["codec_type"] == "video")
    audio = next(s for s in streams if s["codec_type"] == "audio")
    assert (video["width"], video["height"]) == (320, 180)
    assert audio["sample_rate"] == "44100"


def extract(url: str) -> dict[str, Any]:
    import yt_dlp

    with yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True, "skip_download": True}) as ydl:
        info: dict[str, Any] = ydl.extract_info(url, download=False)
    return info


def test_yt_dlp_on_the_page(live_origin: LiveOrigin) -> None:
    info = extract(live_origin.page_url)
    # The generic extractor hands the <video> to its html5 embed extractor, which fetches the playlist and
    # returns it as the single format. It never runs the generic live check, so no live status at all.
    assert info["extractor"] == "html5"
    assert info["url"] == live_origin.url
    assert info["protocol"] == "m3u8_native"
    assert [(f["format_id"], f["url"], f["protocol"]) for f in info["formats"]] == [
        ("hls", live_origin.url, "m3u8_native")
    ]
    assert info["http_headers"]["Referer"] == live_origin.page_url
    assert "User-Agent" in info["http_headers"]
    news = "yt-dlp now reports a live status for a page with a <video>; livewatch's live detection can use it"
    assert info.get("is_live") is None, news
    assert info.get("live_status") is None, news


def test_yt_dlp_on_the_playlist(live_origin: LiveOrigin) -> None:
    info = extract(live_origin.url)
    # A direct .m3u8 goes through the generic extractor's manifest check: no #EXT-X-ENDLIST means live.
    assert info["extractor"] == "generic"
    assert info["is_live"] is True
    assert info["live_status"] == "is_live"
    assert info["url"] == live_origin.url
    assert info["protocol"] == "m3u8_native"
    assert [f["url"] for f in info["formats"]] == [live_origin.url]
    assert "Referer" not in info["http_headers"]
