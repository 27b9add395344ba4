"""A real live HLS origin on 127.0.0.1 for tests: it can start late, drop, stall and stop.

``LiveOrigin`` runs one ffmpeg encoder (``testsrc2`` video plus a looped espeak-ng sentence or a quiet sine,
paced with ``-re``) that writes an HLS playlist into a work directory, and a small HTTP server that serves
that directory. Every segment carries ``#EXT-X-PROGRAM-DATE-TIME`` with the wall-clock time it was produced.

What ffmpeg 5.1 writes (checked by tests/test_origin_fixture.py):

* ``append_list`` makes a restarted encoder continue the same playlist (media sequence and segment numbers go
  on) and marks the first new segment with ``#EXT-X-DISCONTINUITY``; ``discont_start`` would add a second,
  duplicate tag, so it is not used.
* With ``append_list`` ffmpeg also puts a discontinuity before the very first segment of a fresh playlist, so
  the flag is only passed when a playlist from an earlier run of the encoder exists.
* The program date time of the new segments is wall-clock time again, so the gap shows in the PDT values.
* ``temp_file`` makes ffmpeg write segments and the playlist to ``*.tmp`` and rename them, so the server never
  serves a half-written file.

Server states::

    before start()      404 for everything (page included)
    live / stalled      200 (a stall serves the frozen playlist; the encoder is stopped)
    dropped             404 for everything until the timer restarts the encoder
    stop(endlist=True)  200, playlist ends with #EXT-X-ENDLIST
    stop(endlist=False) 404 for everything
    closed              404 for everything (the server is shut down)
"""

from __future__ import annotations

import atexit
import contextlib
import html
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

__all__ = [
    "LiveOrigin",
    "MediaPlaylist",
    "Segment",
    "fetch",
    "parse_media_playlist",
    "wait_for_playlist",
]

PLAYLIST_NAME: Final = "stream.m3u8"
PAGE_PATH: Final = "/watch/room1"
FPS: Final = 10
SIZE: Final = "320x180"
SAMPLE_RATE: Final = 44100

_LIVE_FILE = re.compile(r"^/live/([A-Za-z0-9_-]+\.(?:m3u8|ts))$")
_CONTENT_TYPES: Final = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}
_NO_CACHE: Final = (
    ("Cache-Control", "no-cache, no-store, must-revalidate, max-age=0"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
)

# Every origin still open at interpreter exit is closed, so an aborted test run leaves no encoder behind.
_OPEN_ORIGINS: weakref.WeakSet[LiveOrigin] = weakref.WeakSet()


@atexit.register
def _close_open_origins() -> None:
    for origin in list(_OPEN_ORIGINS):
        origin.close()


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------------------------
# Playlist helpers
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    uri: str
    duration: float
    program_date_time: datetime | None
    discontinuity: bool
    sequence: int


@dataclass(frozen=True)
class MediaPlaylist:
    media_sequence: int
    target_duration: int
    segments: list[Segment] = field(default_factory=list)
    endlist: bool = False
    discontinuities: int = 0  # #EXT-X-DISCONTINUITY tags in the window, wherever they stand

    @property
    def last_sequence(self) -> int:
        return self.media_sequence + len(self.segments) - 1


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Parse the small subset of HLS that ffmpeg's muxer writes."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError(f"not an HLS playlist: {text[:80]!r}")
    media_sequence = 0
    target_duration = 0
    endlist = False
    discontinuities = 0
    segments: list[Segment] = []
    duration: float | None = None
    pdt: datetime | None = None
    discontinuity = False
    for line in lines[1:]:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            media_sequence = int(line.partition(":")[2])
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            target_duration = int(line.partition(":")[2])
        elif line == "#EXT-X-ENDLIST":
            endlist = True
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuities += 1
            discontinuity = True
        elif line.startswith("#EXTINF:"):
            duration = float(line.partition(":")[2].split(",")[0])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = datetime.fromisoformat(line.partition(":")[2])
        elif not line.startswith("#"):
            if duration is None:
                raise ValueError(f"segment {line!r} without #EXTINF")
            segments.append(Segment(line, duration, pdt, discontinuity, media_sequence + len(segments)))
            duration, pdt, discontinuity = None, None, False
    return MediaPlaylist(media_sequence, target_duration, segments, endlist, discontinuities)


def fetch(url: str, timeout: float = 5.0) -> tuple[int, bytes, dict[str, str]]:
    """GET ``url``; return (status, body, headers) and never raise for an HTTP error status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers.items())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), dict(error.headers.items())


def wait_for_playlist(url: str, min_segments: int = 1, timeout: float = 15.0) -> str:
    """Poll ``url`` until it answers 200 with a playlist of at least ``min_segments`` segments; return its text."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            status, body, _ = fetch(url, timeout=2.0)
        except OSError as error:
            last = f"{type(error).__name__}: {error}"
        else:
            if status == HTTPStatus.OK:
                text = body.decode("utf-8")
                count = len(parse_media_playlist(text).segments)
                if count >= min_segments:
                    return text
                last = f"200 with {count} segment(s)"
            else:
                last = f"HTTP {status}"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url}: no playlist with {min_segments} segment(s) within {timeout} s ({last})")
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, origin: LiveOrigin) -> None:
        self.origin = origin
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "LiveOrigin/1"

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, *, send_body: bool) -> None:
        origin = self.server.origin
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        found: tuple[bytes, str] | None = None
        if origin.serving:
            if path == PAGE_PATH:
                found = origin.page_html().encode("utf-8"), "text/html; charset=utf-8"
            elif match := _LIVE_FILE.match(path):
                name = match.group(1)
                try:
                    body = (origin.workdir / name).read_bytes()
                except OSError:  # not written yet, or deleted by the muxer a moment ago
                    pass
                else:
                    found = body, _CONTENT_TYPES[Path(name).suffix]
        if found is None:
            status, (body, content_type) = HTTPStatus.NOT_FOUND, (b"not found\n", "text/plain; charset=utf-8")
        else:
            status, (body, content_type) = HTTPStatus.OK, found
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in _NO_CACHE:
                self.send_header(name, value)
            self.end_headers()
            if send_body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


# --------------------------------------------------------------------------------------------------------------
# The origin
# --------------------------------------------------------------------------------------------------------------


class LiveOrigin:
    """A live HLS origin on 127.0.0.1 whose broadcaster a test can start late, drop, stall and stop.

    All controls are thread-safe. ``drop`` returns at once (a timer thread does the work); the others return
    once the encoder has been started or has exited (a graceful stop takes well under a second).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        speech: str | None = None,
        segment_seconds: float = 2.0,
        list_size: int = 6,
    ) -> None:
        if segment_seconds <= 0:
            raise ValueError("segment_seconds must be positive")
        if list_size < 1:
            raise ValueError("list_size must be at least 1")
        for program in ("ffmpeg", "espeak-ng") if speech is not None else ("ffmpeg",):
            if shutil.which(program) is None:
                raise RuntimeError(f"{program} is not installed")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.speech = speech
        self.segment_seconds = segment_seconds
        self.list_size = list_size
        self.playlist_path = self.workdir / PLAYLIST_NAME
        self.log_path = self.workdir / "encoder.log"

        self.events: list[tuple[str, datetime]] = []
        self.dropped_at: datetime | None = None
        self.returned_at: datetime | None = None
        self.encoder_starts = 0

        self._lock = threading.Lock()  # state below, and events
        self._changed = threading.Condition(self._lock)
        self._encoder_lock = threading.RLock()  # the encoder process; taken before _lock, never inside it
        self._state = "idle"
        self._serving = False
        self._generation = 0  # bumped by every control, so a pending drop timer knows it was overtaken
        self._encoder: subprocess.Popen[bytes] | None = None
        self._audio: Path | None = None
        self._timers: list[threading.Thread] = []

        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"origin-http-{self.port}"
        )
        self._server_thread.daemon = True
        self._server_thread.start()
        _OPEN_ORIGINS.add(self)

    # ---------------------------------------------------------------------------------------------- properties

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/live/{PLAYLIST_NAME}"

    @property
    def page_url(self) -> str:
        return f"{self.base_url}{PAGE_PATH}"

    @property
    def state(self) -> str:
        """One of idle, live, dropped, stalled, ended, gone, closed."""
        with self._lock:
            return self._state

    @property
    def serving(self) -> bool:
        return self._serving

    @property
    def encoder_running(self) -> bool:
        with self._encoder_lock:
            return self._encoder is not None and self._encoder.poll() is None

    @property
    def encoder_pid(self) -> int | None:
        with self._encoder_lock:
            return self._encoder.pid if self._encoder is not None else None

    def page_html(self) -> str:
        src = html.escape(self.url, quote=True)
        return (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>room1 - live</title></head>\n'
            "<body><h1>room1</h1>\n"
            f'<video id="player" controls autoplay muted><source src="{src}" type="application/x-mpegURL">'
            "</video>\n</body></html>\n"
        )

    # ------------------------------------------------------------------------------------------------ controls

    def start(self) -> None:
        """The broadcast begins: start the encoder and serve."""
        with self._encoder_lock:
            with self._lock:
                self._require({"idle"}, "start")
                self._generation += 1
                self._record("start")
            self._start_encoder()
            with self._lock:
                self._state = "live"
                self._serving = True
                self._changed.notify_all()

    def drop(self, seconds: float) -> None:
        """The broadcaster disconnects: 404 for everything now, the encoder back after ``seconds``.

        Returns at once; ``dropped_at`` is set now and ``returned_at`` when serving resumes.
        """
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._require({"live", "stalled"}, "drop")
            self._generation += 1
            generation = self._generation
            self._state = "dropped"
            self._serving = False
            self.dropped_at = self._record("drop")
            self.returned_at = None
            deadline = time.monotonic() + seconds
            timer = threading.Thread(
                target=self._drop_worker, args=(generation, deadline), name=f"origin-drop-{self.port}", daemon=True
            )
            self._timers.append(timer)
            self._changed.notify_all()
        timer.start()

    def stall(self) -> None:
        """The encoder stops but the server keeps serving the now-stale playlist."""
        with self._lock:
            self._require({"live"}, "stall")
            self._generation += 1
            self._state = "stalled"
            self._record("stall")
            self._changed.notify_all()
        with self._encoder_lock:
            self._stop_encoder()

    def resume(self) -> None:
        """Restart the encoder after ``stall()``; the playlist goes on after a discontinuity."""
        with self._encoder_lock:
            with self._lock:
                self._require({"stalled"}, "resume")
                self._generation += 1
                self._record("resume")
            self._start_encoder()
            with self._lock:
                self._state = "live"
                self._changed.notify_all()

    def stop(self, endlist: bool = True) -> None:
        """The broadcast is over. With ``endlist`` the playlist is closed with #EXT-X-ENDLIST, else 404."""
        with self._lock:
            self._require({"idle", "live", "dropped", "stalled"}, "stop")
            self._generation += 1
            self._record("stop")
            if not endlist:
                self._state = "gone"
                self._serving = False
            self._changed.notify_all()
        with self._encoder_lock:
            self._stop_encoder()
            if endlist:
                self._append_endlist()
                with self._lock:
                    self._state = "ended"
                    self._serving = True
                    self._changed.notify_all()

    def close(self) -> None:
        """Kill everything. Idempotent; used by ``__exit__``."""
        with self._lock:
            if self._state == "closed":
                return
            self._generation += 1
            self._state = "closed"
            self._serving = False
            self._record("close")
            timers = list(self._timers)
            self._changed.notify_all()
        with self._encoder_lock:
            self._stop_encoder(grace=2.0)
        self._server.shutdown()
        self._server.server_close()
        self._server_thread.join(timeout=5)
        for timer in timers:
            if timer is not threading.current_thread():
                timer.join(timeout=10)
        _OPEN_ORIGINS.discard(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def wait_for_state(self, state: str, timeout: float) -> None:
        """Block until the origin is in ``state`` (e.g. ``live`` again after a drop)."""
        with self._lock:
            if not self._changed.wait_for(lambda: self._state == state, timeout=timeout):
                raise TimeoutError(f"origin still {self._state!r} after {timeout} s, wanted {state!r}")

    # ------------------------------------------------------------------------------------------------ internals

    def _require(self, states: set[str], action: str) -> None:
        if self._state not in states:
            raise RuntimeError(f"cannot {action} an origin that is {self._state}")

    def _record(self, name: str) -> datetime:
        when = _now()
        self.events.append((name, when))
        return when

    def _drop_worker(self, generation: int, deadline: float) -> None:
        with self._encoder_lock:
            self._stop_encoder()
        with self._lock:
            overtaken = self._changed.wait_for(
                lambda: self._generation != generation, timeout=max(0.0, deadline - time.monotonic())
            )
            if overtaken:
                return
        with self._encoder_lock:
            with self._lock:
                if self._generation != generation:
                    return
            self._start_encoder()
            with self._lock:
                # Whoever changed the generation meanwhile waits for _encoder_lock and stops this encoder.
                if self._generation == generation:
                    self._state = "live"
                    self._serving = True
                    self.returned_at = self._record("return")
                    self._changed.notify_all()

    def _prepare_audio(self) -> Path | None:
        if self.speech is None:
            return None
        if self._audio is None:
            raw = self.workdir / "speech-raw.wav"
            padded = self.workdir / "speech.wav"
            subprocess.run(["espeak-ng", "-w", str(raw), "--", self.speech], check=True, capture_output=True)
            # One second of silence after every repeat, resampled once so the live encoder does less work.
            subprocess.run(
                ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(raw),
                 "-af", "apad=pad_dur=1", "-ar", str(SAMPLE_RATE), "-ac", "1", str(padded)],
                check=True,
                capture_output=True,
            )  # fmt: skip
            self._audio = padded
        return self._audio

    def encoder_argv(self, *, append: bool) -> list[str]:
        gop = max(1, round(FPS * self.segment_seconds))
        argv = ["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning", "-y"]
        argv += ["-re", "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={FPS}"]
        audio = self._prepare_audio()
        if audio is not None:
            argv += ["-re", "-stream_loop", "-1", "-i", str(audio)]
        else:
            argv += ["-re", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={SAMPLE_RATE},volume=0.05"]
        flags = "delete_segments+program_date_time+omit_endlist+temp_file"
        if append:
            flags += "+append_list"
        argv += [
            "-map", "0:v:0", "-map", "1:a:0",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "64k", "-ar", str(SAMPLE_RATE), "-ac", "1",
            "-f", "hls",
            "-hls_time", f"{self.segment_seconds:g}",
            "-hls_list_size", str(self.list_size),
            "-hls_flags", flags,
            "-hls_segment_filename", str(self.workdir / "seg_%05d.ts"),
            str(self.playlist_path),
        ]  # fmt: skip
        return argv

    def _start_encoder(self) -> None:
        # Caller holds _encoder_lock.
        self._stop_encoder()
        # append_list on a fresh playlist would open it with a discontinuity, so only a restart gets it.
        argv = self.encoder_argv(append=self.playlist_path.exists())
        with self.log_path.open("ab") as log:
            log.write(f"--- {_now().isoformat()} {' '.join(argv)}\n".encode())
            log.flush()
            self._encoder = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        self.encoder_starts += 1
        with self._lock:
            self._record("encoder_start")

    def _stop_encoder(self, grace: float = 5.0) -> None:
        # Caller holds _encoder_lock. Ask ffmpeg to finish (q), then terminate, then kill; always reap.
        process, self._encoder = self._encoder, None
        if process is None:
            return
        if process.poll() is None:
            stdin: IO[bytes] | None = process.stdin
            if stdin is not None:
                with contextlib.suppress(OSError, ValueError):
                    stdin.write(b"q")
                    stdin.flush()
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if process.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                process.stdin.close()
        with self._lock:
            self._record("encoder_exit")

    def _append_endlist(self) -> None:
        # Caller holds _encoder_lock and the encoder is stopped, so nobody else writes the playlist.
        try:
            text = self.playlist_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        if "#EXT-X-ENDLIST" in text:
            return
        if not text.endswith("\n"):
            text += "\n"
        temporary = self.playlist_path.with_name(self.playlist_path.name + ".endlist.tmp")
        temporary.write_text(text + "#EXT-X-ENDLIST\n", encoding="utf-8")
        temporary.replace(self.playlist_path)
