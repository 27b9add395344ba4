"""A real live HLS origin on 127.0.0.1: what the demo broadcasts, and the core of the tests' origin.

``HlsOrigin`` runs one ffmpeg encoder (``testsrc2`` video plus an audio track, both paced with ``-re``) that
writes an HLS playlist into a work folder, and a small threaded HTTP server on a random port that serves that
folder. Every segment carries ``#EXT-X-PROGRAM-DATE-TIME``, so the monitor places what it records on the
broadcast's own clock, exactly as with a platform's CDN.

What ffmpeg 5.1 writes (checked by tests/test_origin_fixture.py):

* ``append_list`` makes a restarted encoder continue the same playlist (media sequence and segment numbers go
  on) and marks the first new segment with ``#EXT-X-DISCONTINUITY``; ``discont_start`` would add a second,
  duplicate tag, so it is not used.
* With ``append_list`` ffmpeg also puts a discontinuity before the very first segment of a fresh playlist, so
  the flag is only passed when a playlist from an earlier run of the encoder exists.
* The first program date time is the wall clock when the muxer starts; later segments follow on by their
  durations, so media time t of a run is broadcast at ``first PDT + t``.
* ``temp_file`` makes ffmpeg write segments and the playlist to ``*.tmp`` and rename them: never half a file.

Server states (tests/support/origin.py adds ``dropped`` and ``stalled``)::

    before start()      404 for everything (page included)
    live                200
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
import sys
import threading
import time
import weakref
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, Final, Self

from livewatch.capture.hls import parse_media
from livewatch.demo.picture import Picture
from livewatch.errors import CaptureError, LivewatchError

PLAYLIST_NAME: Final = "stream.m3u8"
PAGE_PATH: Final = "/watch/room1"
FPS: Final = 10
SIZE: Final = "320x180"
SAMPLE_RATE: Final = 44100

_LIVE_FILE = re.compile(r"^/live/([A-Za-z0-9_-]+\.(?:m3u8|ts))$")
_CONTENT_TYPES: Final = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}
_NO_CACHE: Final = (("Cache-Control", "no-cache, no-store, must-revalidate, max-age=0"), ("Pragma", "no-cache"),
                    ("Expires", "0"))

# Every origin still open at interpreter exit is closed, so an aborted run leaves no encoder behind.
_OPEN_ORIGINS: weakref.WeakSet[HlsOrigin] = weakref.WeakSet()


@atexit.register
def _close_open_origins() -> None:
    for origin in list(_OPEN_ORIGINS):
        origin.close()


def _now() -> datetime:
    return datetime.now(UTC)


class OriginError(LivewatchError):
    """The origin cannot be set up (a program is missing) or did not go live."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, origin: HlsOrigin) -> None:
        self.origin = origin
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (ffmpeg stopped by the monitor) is normal; socketserver would print a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "LiveOrigin/1"

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the monitor polls several times a second; its requests are not news

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
        status = HTTPStatus.OK if found is not None else HTTPStatus.NOT_FOUND
        body, content_type = found or (b"not found\n", "text/plain; charset=utf-8")
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


class HlsOrigin:
    """A live HLS origin on 127.0.0.1 that can be started, stopped (with or without ``#EXT-X-ENDLIST``) and
    closed. ``audio`` is played once from the start and followed by silence for as long as the broadcast
    lasts; without it the audio is a quiet sine. ``list_size=0`` keeps every segment in the playlist. The video
    is a small ``testsrc2`` unless a ``picture`` (the demo's stage and its screen plants, 960x540) is given.

    All controls are thread-safe and return once the encoder has been started or has exited.
    """

    #: States from which ``stop()`` is allowed (a subclass with more states widens it).
    STOPPABLE: ClassVar[frozenset[str]] = frozenset({"idle", "live"})

    def __init__(self, workdir: Path, *, audio: Path | None = None, segment_seconds: float = 2.0,
                 list_size: int = 6, programs: tuple[str, ...] = ("ffmpeg",), picture: Picture | None = None,
                 ) -> None:
        if segment_seconds <= 0:
            raise ValueError("segment_seconds must be positive")
        if list_size < 0:
            raise ValueError("list_size must not be negative")
        for program in programs:
            if shutil.which(program) is None:
                raise OriginError(f"{program} is not installed")
        # Absolute: the encoder runs in workdir (see _start_encoder), so a relative path would not be found.
        self.workdir = Path(workdir).absolute()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.audio = None if audio is None else Path(audio).absolute()
        self.segment_seconds, self.list_size = segment_seconds, list_size
        self.picture = picture
        if picture is not None:
            picture.prepare(self.workdir)  # the encoder runs in workdir and reads these files by name
        self.playlist_path = self.workdir / PLAYLIST_NAME
        self.log_path = self.workdir / "encoder.log"
        self.events: list[tuple[str, datetime]] = []
        self.encoder_starts = 0
        self._lock = threading.Lock()  # state below, and events
        self._changed = threading.Condition(self._lock)
        self._encoder_lock = threading.RLock()  # the encoder process; taken before _lock, never inside it
        self._state = "idle"
        self._serving = False
        self._generation = 0  # bumped by every control, so pending work knows it was overtaken
        self._encoder: subprocess.Popen[bytes] | None = None

        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self._server_thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                               name=f"origin-http-{self.port}", daemon=True)
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
        """One of idle, live, ended, gone, closed (and the states a subclass adds)."""
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

    def stop(self, endlist: bool = True) -> None:
        """The broadcast is over. With ``endlist`` the playlist is closed with #EXT-X-ENDLIST, else 404."""
        with self._lock:
            self._require(set(self.STOPPABLE), "stop")
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
            self._changed.notify_all()
        with self._encoder_lock:
            self._stop_encoder(grace=2.0)
        self._server.shutdown()
        self._server.server_close()
        self._server_thread.join(timeout=5)
        _OPEN_ORIGINS.discard(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def wait_for_state(self, state: str, timeout: float) -> None:
        """Block until the origin is in ``state`` (e.g. ``live`` again after a drop)."""
        with self._lock:
            if not self._changed.wait_for(lambda: self._state == state, timeout=timeout):
                raise TimeoutError(f"origin still {self._state!r} after {timeout} s, wanted {state!r}")

    def first_program_date_time(self, timeout: float = 20.0) -> datetime:
        """When media time 0 of the broadcast went out, on the broadcast's own clock: the
        ``#EXT-X-PROGRAM-DATE-TIME`` of segment 0. Waits for it; the playlist must still list segment 0."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, CaptureError):
                playlist = parse_media(self.playlist_path.read_text(encoding="utf-8"), self.url)
                if playlist.segments:
                    first = playlist.segments[0]
                    if first.sequence != 0 or first.program_date_time is None:
                        raise OriginError("the playlist no longer lists segment 0 with its program date time")
                    return first.program_date_time
            if time.monotonic() >= deadline or not self.encoder_running:
                raise OriginError(f"the origin's encoder wrote no segment within {timeout:g} s; see {self.log_path}")
            time.sleep(0.2)

    # ------------------------------------------------------------------------------------------------ internals

    def _require(self, states: set[str], action: str) -> None:
        if self._state not in states:
            raise RuntimeError(f"cannot {action} an origin that is {self._state}")

    def _record(self, name: str) -> datetime:
        when = _now()
        self.events.append((name, when))
        return when

    def audio_input(self) -> list[str]:
        """ffmpeg's arguments for input 1, the audio."""
        if self.audio is not None:
            return ["-re", "-i", str(self.audio)]
        return ["-re", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={SAMPLE_RATE},volume=0.05"]

    def audio_filter(self) -> list[str]:
        # A track played once goes on as silence, so the broadcast lasts as long as the video does.
        return ["-af", "apad"] if self.audio is not None else []

    def encoder_argv(self, *, append: bool) -> list[str]:
        fps = FPS if self.picture is None else self.picture.fps
        gop = max(1, round(fps * self.segment_seconds))
        argv = ["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning", "-y"]
        if self.picture is None:
            argv += ["-re", "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={FPS}", *self.audio_input()]
            video = "0:v:0"
        else:
            argv += self.picture.encoder_video(self.audio_input())
            video = "[picture]"
        flags = "delete_segments+program_date_time+omit_endlist+temp_file"
        if append:
            flags += "+append_list"
        argv += [
            "-map", video, "-map", "1:a:0",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            *self.audio_filter(),
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
            # In workdir: a picture's files are named relative to it, so no path needs filtergraph escaping.
            self._encoder = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                                             cwd=self.workdir)
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
