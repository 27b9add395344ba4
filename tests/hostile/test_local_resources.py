"""Issue 15, item 1: an origin must never make livewatch record local files (or local services) as the broadcast.

Driven for real against the hostile origin (tests/hostile/origin.py): real yt-dlp on its pages, the real live
check on its playlists, real ffmpeg with livewatch's argument lists, and the real monitor. A second local
service on 127.0.0.2 (the "victim") stands for anything else listening on this machine; ``secret`` is a
playable media file on the local disk, standing for another event's recording.
"""

from __future__ import annotations

import subprocess
import wave
from datetime import timedelta
from pathlib import Path

import pytest

from livewatch.capture.base import ResolvedStream
from livewatch.capture.commands import RecordPlan, probe_args, record_args
from livewatch.capture.probe import check_live
from livewatch.capture.urls import LOCAL_RESOURCE, UrlPolicy
from livewatch.capture.ytdlp import YtDlpSource
from livewatch.errors import CaptureError, UnsafeUrl
from livewatch.fields import CaptureSettings
from livewatch.state import DataDir
from tests.capture.conftest import capture_only, now, run_facts, run_monitor_until_idle, write_event
from tests.hostile.origin import HLS, HostileOrigin, Reply, data_url, master, media

SETTINGS = CaptureSettings(rw_timeout_s=2)
PUBLIC_PAGE = "https://203.0.113.7/room/1"  # TEST-NET-3: a page that is not on this machine, no DNS needed


# -- the policy on its own ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "FILE:///etc/passwd", "file://localhost/etc/passwd", "data:text/plain;base64,eA==",
    "concat:/a.ts|/b.ts", "subfile,,start,0,end,0,,:/a.ts", "crypto+file:///a.ts", "pipe:0",
    "http://127.0.0.1/live.m3u8", "http://127.1:8080/live.m3u8", "http://2130706433/live.m3u8",
    "http://0x7f000001/live.m3u8", "http://0/live.m3u8", "http://0.0.0.0/live.m3u8", "http://[::1]/live.m3u8",
    "http://[::ffff:127.0.0.1]/live.m3u8", "http://localhost/live.m3u8", "http://cdn.localhost/live.m3u8",
    "http://169.254.169.254/latest/meta-data/", "rtmp://127.0.0.1/app/key",
])  # fmt: skip
def test_local_resources_are_refused_from_a_public_page(url: str) -> None:
    with pytest.raises(UnsafeUrl, match=f"^{LOCAL_RESOURCE}: media URL .* refused$"):
        UrlPolicy(PUBLIC_PAGE).check(url, "media URL")


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://203.0.113.9/live.m3u8", "scheme 'ftp', which is not in allowed_url_schemes"),
    ("gopher://203.0.113.9/", "scheme 'gopher', which is not in allowed_url_schemes"),
    ("/srv/media/live.m3u8", "scheme '(none)'"),
    ("http:///live.m3u8", "names no host"),
    ("http://203.0.113.9/a\x1b[2Jb.m3u8", "control characters"),
])  # fmt: skip
def test_other_unusable_urls_are_refused_with_the_reason(url: str, why: str) -> None:
    with pytest.raises(UnsafeUrl, match=r"refused$") as refused:
        UrlPolicy(PUBLIC_PAGE).check(url, "media URL")
    assert why in str(refused.value)
    assert "\x1b" not in str(refused.value)


def test_network_urls_and_the_pages_own_local_host_pass() -> None:
    public = UrlPolicy(PUBLIC_PAGE)
    for url in ("https://203.0.113.9/live.m3u8", "rtmps://203.0.113.9/app/key", "http://[2001:db8::1]/a.flv"):
        assert public.check(url) == url
    # A relay the operator registered on this machine may serve its own playlist and segments ...
    relay = UrlPolicy("http://127.0.0.1:8080/room")
    assert relay.check("http://127.0.0.1:8080/live/a.m3u8")
    assert relay.check("http://localhost:8080/live/seg1.ts")  # same host, by another name
    # ... but not send livewatch to another port or address of this machine.
    for url in ("http://127.0.0.1:6379/", "http://127.0.0.2:8080/a.m3u8", "http://169.254.169.254:8080/"):
        with pytest.raises(UnsafeUrl, match=LOCAL_RESOURCE):
            relay.check(url)


def test_configured_schemes_decide() -> None:
    policy = UrlPolicy(PUBLIC_PAGE, allowed_schemes=("https",))
    assert policy.check("https://203.0.113.9/a.m3u8")
    with pytest.raises(UnsafeUrl, match=r"scheme 'rtmp', which is not in allowed_url_schemes \(https\)"):
        policy.check("rtmp://203.0.113.9/app/key")


def test_the_reason_does_not_tell_whether_a_local_file_exists(tmp_path: Path) -> None:
    there = tmp_path / "recording.ts"
    there.write_bytes(b"\x47" * 188)
    missing = tmp_path / "nothing.ts"
    reasons = []
    for path in (there, missing):
        with pytest.raises(UnsafeUrl) as refused:
            UrlPolicy(PUBLIC_PAGE).check(path.as_uri(), "media URL")
        reasons.append(str(refused.value).replace(path.name, "NAME"))
    assert reasons[0] == reasons[1]


# -- the live check: what reaches ffprobe and ffmpeg --------------------------------------------------------

REFUSED_PLAYLISTS = [
    "/master/data.m3u8", "/master/file.m3u8", "/master/victim.m3u8", "/master/redirect.m3u8",
    "/redirect/file.m3u8", "/redirect/victim.m3u8", "/media/file-segments.m3u8", "/media/data-segments.m3u8",
    "/media/concat-segments.m3u8", "/media/mixed-segments.m3u8", "/media/file-key.m3u8",
    "/media/victim-segments.m3u8",
]


@pytest.mark.parametrize("path", REFUSED_PLAYLISTS)
def test_hostile_playlists_are_refused_before_ffmpeg(hostile_origin: HostileOrigin, victim: HostileOrigin,
                                                     path: str) -> None:
    url = hostile_origin.url(path)
    check = check_live(ResolvedStream(url, url, "hls"), SETTINGS, resume_after=None)
    assert (check.live, check.error, check.refused, check.stream) == (False, True, True, None)
    assert check.reason.startswith(f"{LOCAL_RESOURCE}: ")
    assert victim.requests == []  # refused before it was asked, redirects included


def test_ftp_variants_and_redirects_are_refused(hostile_origin: HostileOrigin) -> None:
    for path in ("/master/ftp.m3u8", "/redirect/ftp.m3u8"):
        url = hostile_origin.url(path)
        check = check_live(ResolvedStream(url, url, "hls"), SETTINGS, resume_after=None)
        assert (check.live, check.error) == (False, True)
        assert "ftp" in check.reason


def test_an_honest_playlist_on_the_same_origin_is_live(hostile_origin: HostileOrigin) -> None:
    for path in ("/media/ok.m3u8", "/master/ok.m3u8"):
        url = hostile_origin.url(path)
        check = check_live(ResolvedStream(url, url, "hls"), SETTINGS, resume_after=None)
        assert check.live, check.reason
        assert check.stream is not None
        assert check.stream.media_url == hostile_origin.url("/media/ok.m3u8")


def test_a_local_media_url_never_reaches_ffprobe(hostile_media: tuple[Path, Path]) -> None:
    _, secret = hostile_media
    for url in (secret.as_uri(), "file:///etc/passwd", "file:///no/such/file.ts"):
        check = check_live(ResolvedStream(PUBLIC_PAGE, url, "progressive"), SETTINGS, resume_after=None)
        assert (check.live, check.refused) == (False, True)
        # Before: "Invalid data found" for a file that exists, "No such file" for one that does not.
        assert check.reason == f"{LOCAL_RESOURCE}: media URL {url} is a file: URL; refused"


# -- yt-dlp on hostile pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/page/file-video", "/page/file-etc", "/page/data-video", "/page/victim"])
def test_pages_pointing_at_local_resources_are_refused(hostile_origin: HostileOrigin, victim: HostileOrigin,
                                                       path: str) -> None:
    with pytest.raises(UnsafeUrl, match=f"^{LOCAL_RESOURCE}: "):
        YtDlpSource(socket_timeout=2).resolve(hostile_origin.url(path))
    assert victim.requests == []


def test_a_page_redirecting_to_a_local_file_is_an_error_not_a_recording(hostile_origin: HostileOrigin) -> None:
    for path in ("/redirect/file", "/page/redirect-file"):
        with pytest.raises(CaptureError, match=f"^{LOCAL_RESOURCE}: page request \\(redirected\\) file:"):
            YtDlpSource(socket_timeout=2).resolve(hostile_origin.url(path))


def test_an_honest_page_on_the_origin_resolves(hostile_origin: HostileOrigin) -> None:
    stream = YtDlpSource(socket_timeout=2).resolve(hostile_origin.url("/page/ok"))
    assert stream.media_url == hostile_origin.url("/media/ok.m3u8")


# -- ffmpeg's own wall: the protocol whitelist ---------------------------------------------------------------


def _record(url: str, folder: Path) -> tuple[float, str]:
    """Run livewatch's ffmpeg command on ``url``; return (seconds of audio written, stderr)."""
    plan = RecordPlan(folder / "m-%06d.ts", folder / "a-%06d.wav", folder / "m.csv", folder / "a.csv", 0, 2)
    args = record_args(ResolvedStream(url, url, "hls"), plan, rw_timeout_s=1, live_start_index=0)
    done = subprocess.run(args, capture_output=True, timeout=30, check=False)
    seconds = 0.0
    for path in folder.glob("a-*.wav"):
        with wave.open(str(path)) as audio:
            seconds += audio.getnframes() / audio.getframerate()
    return seconds, done.stderr.decode(errors="replace")


@pytest.mark.slow
def test_ffmpeg_never_reads_local_segments_even_if_the_playlist_changes(
        hostile_origin: HostileOrigin, hostile_media: tuple[Path, Path], tmp_path: Path) -> None:
    """What the origin serves ffmpeg after our check passed (segments, variants, keys that point at this
    machine): the whitelist leaves it nothing local to open."""
    _, secret = hostile_media
    cases = {
        "file": [secret.as_uri()] * 2,
        "data": ["data:video/mp2t;base64,R0dH"] * 2,
        "concat": [f"concat:{secret}|{secret}"] * 2,
        "mixed": ["/seg/ok.ts", secret.as_uri()],
    }
    local_playlist = tmp_path / "local.m3u8"  # a playlist on this machine listing the secret
    local_playlist.write_text(media(secret.as_uri(), secret.as_uri()) + "#EXT-X-ENDLIST\n", encoding="utf-8")
    masters = {
        "master-file": master(local_playlist.as_uri()),
        "master-data": master(data_url(local_playlist.read_text(encoding="utf-8"))),
    }
    for name, segments in cases.items():
        # Ended playlists, so ffmpeg gives up at once instead of polling a live one.
        hostile_origin.add(f"/vod/{name}.m3u8", Reply(200, media(*segments) + "#EXT-X-ENDLIST\n", HLS))
    for name, answer in masters.items():
        hostile_origin.add(f"/vod/{name}.m3u8", answer)
    for name in [*cases, *masters]:
        folder = tmp_path / name
        folder.mkdir()
        seconds, stderr = _record(hostile_origin.url(f"/vod/{name}.m3u8"), folder)
        # Only the one honest 2-second segment of "mixed" is recorded (so ffmpeg did run); the secret is 2 s more.
        assert (1.5 <= seconds <= 2.2) if name == "mixed" else seconds == 0.0, (name, seconds, stderr[-500:])
    keyed = media("/seg/ok.ts", key=secret.as_uri()) + "#EXT-X-ENDLIST\n"
    hostile_origin.add("/vod/key.m3u8", Reply(200, keyed, HLS))
    key = tmp_path / "key"
    key.mkdir()
    seconds, stderr = _record(hostile_origin.url("/vod/key.m3u8"), key)
    assert "Protocol 'file' not on whitelist 'https,tls,tcp,crypto,http'" in stderr
    assert seconds == 0.0


def test_ffprobe_and_ffmpeg_are_never_given_a_local_input() -> None:
    plan = RecordPlan(Path("m%d.ts"), Path("a%d.wav"), Path("m.csv"), Path("a.csv"), 0, 2)
    for url in ("file:///etc/passwd", "data:application/vnd.apple.mpegurl;base64,I0VYVE0zVQ==", "pipe:0"):
        with pytest.raises(UnsafeUrl):
            record_args(ResolvedStream(url, url, "hls"), plan, rw_timeout_s=1)
        with pytest.raises(UnsafeUrl):
            probe_args(ResolvedStream(url, url, "progressive"), rw_timeout_s=1)


# -- the real monitor ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_monitor_records_nothing_local_and_says_why(hostile_origin: HostileOrigin, victim: HostileOrigin,
                                                       tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    t0 = now()
    # Generous: a loaded machine can take seconds to start the monitor, and a window it misses is never armed.
    window = (t0 + timedelta(seconds=1), t0 + timedelta(seconds=12))
    write_event(schedules, "file-page", hostile_origin.url("/page/file-video"), *window)
    write_event(schedules, "data-master", hostile_origin.url("/master/data.m3u8"), *window)
    write_event(schedules, "victim-master", hostile_origin.url("/master/victim.m3u8"), *window)
    data = DataDir(tmp_path / "data")
    run_monitor_until_idle(capture_only(data.root), schedules, timeout=60)
    for event_id in ("file-page", "data-master", "victim-master"):
        facts = run_facts(data, event_id)
        assert facts.run.status == "no-show", facts.run.stop_reason
        assert (facts.audio, facts.media, facts.connections) == ([], [], [])
        assert "URL(s) refused, the last: origin pointed at a local resource" in facts.run.stop_reason
        assert list(data.audio_dir(event_id).glob("*")) == []
    assert victim.requests == []
