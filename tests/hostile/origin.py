"""A hostile HTTP origin on 127.0.0.1: what a watched party that wants to blind or fool livewatch would serve.

The server is a plain route table (path → answer), so a new hostile case is one entry. An answer is one of:

``Reply``
    A well-formed HTTP response (status, body, content type, extra headers), e.g. a page, a playlist, a 302.
``Raw``
    A function that writes bytes straight to the client's socket and then the connection is closed: garbage
    status lines, over-long headers, slow drip (write a byte, sleep, repeat), a hang-up mid-body.
a callable
    ``(origin, request_path) -> Reply | Raw``, for answers built when asked (a live playlist that grows).

Adding a case::

    origin.add("/drip.m3u8", Raw(lambda out: [out.write(b"H") or out.flush() or time.sleep(1) for _ in range(60)]))

or, for a case every test wants, one more entry in :func:`standard_routes` (keep it small and say which
hostile case of issue 15 it stands for). Paths are matched exactly, without the query string; anything not in
the table is a 404. Every request is remembered in ``origin.requests`` (path with query), so a test can show
that something was, or was never, fetched.

The standard routes need two real files: ``sample`` (a short, playable MPEG-TS segment the origin serves as
an honest segment) and ``secret`` (a playable media file on the local disk that the origin must never get
recorded: it stands for another event's recording in the data directory). ``victim`` is the base URL of a
second local service (another HTTP server on 127.0.0.2, say) that the origin tries to make livewatch read.
"""

from __future__ import annotations

import base64
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO, cast

__all__ = ["HostileOrigin", "Raw", "Reply", "make_sample", "standard_routes"]

HLS = "application/vnd.apple.mpegurl"
TS = "video/mp2t"
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Reply:
    """A well-formed HTTP answer."""

    status: int = 200
    body: bytes | str = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Raw:
    """Bytes written straight to the socket (no status line or headers are added); then the connection closes."""

    send: Callable[[BinaryIO], object]


Answer = Reply | Raw | Callable[["HostileOrigin", str], "Reply | Raw"]


def redirect(location: str, status: int = HTTPStatus.FOUND) -> Reply:
    return Reply(status, b"", headers=(("Location", location),))


def page(video_src: str) -> Reply:
    """A platform page with one ``<video>``, the way yt-dlp's generic extractor finds streams on plain pages."""
    html = (f'<!doctype html><html><head><title>Live room</title></head><body><h1>Live room</h1>'
            f'<video controls autoplay src="{video_src}"></video></body></html>')
    return Reply(200, html, HTML)


def master(*variants: str) -> Reply:
    lines = ["#EXTM3U"]
    for number, uri in enumerate(variants):
        lines += [f'#EXT-X-STREAM-INF:BANDWIDTH={900_000 - number * 1000},CODECS="avc1.42c00d,mp4a.40.2"', uri]
    return Reply(200, "\n".join(lines) + "\n", HLS)


def media(*segments: str, key: str | None = None, duration: float = 2.0) -> str:
    """A live media playlist (no ``#EXT-X-ENDLIST``) listing ``segments`` as given."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{int(duration + 0.999)}",
             "#EXT-X-MEDIA-SEQUENCE:0"]
    if key is not None:
        lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="{key}"')
    for segment in segments:
        lines += [f"#EXTINF:{duration:.3f},", segment]
    return "\n".join(lines) + "\n"


def data_url(text: str, mime: str = HLS) -> str:
    return f"data:{mime};base64,{base64.b64encode(text.encode()).decode()}"


def standard_routes(origin: HostileOrigin) -> dict[str, Answer]:
    """The hostile cases every test can use (issue 15, item 1: make livewatch read local resources)."""
    secret = origin.secret.as_uri() if origin.secret else "file:///etc/passwd"
    secret_path = str(origin.secret or "/etc/passwd")
    local_playlist = data_url(media(secret, secret))
    victim = origin.victim or "http://127.0.0.2:9"
    routes: dict[str, Answer] = {
        # Honest pieces, so hostile playlists can mix real media with local references.
        "/seg/ok.ts": lambda o, _: Reply(200, o.sample.read_bytes() if o.sample else b"", TS),
        "/media/ok.m3u8": Reply(200, media("/seg/ok.ts", "/seg/ok.ts", "/seg/ok.ts"), HLS),
        # Platform pages whose <video> points at the local machine.
        "/page/file-video": page(secret),
        "/page/file-etc": page("file:///etc/passwd"),
        "/page/data-video": page(local_playlist),
        "/page/victim": page(f"{victim}/live.m3u8"),
        "/page/redirect-file": page("/redirect/file.m3u8"),
        "/page/ok": page("/media/ok.m3u8"),
        # A page or playlist that redirects to a local file or service.
        "/redirect/file": redirect(secret),
        "/redirect/file.m3u8": redirect(secret),
        "/redirect/victim.m3u8": redirect(f"{victim}/live.m3u8"),
        "/redirect/ftp.m3u8": redirect("ftp://127.0.0.1/live.m3u8"),
        # Master playlists whose chosen (highest-bandwidth) variant is not a network URL of the origin.
        "/master/data.m3u8": master(local_playlist, "/media/ok.m3u8"),
        "/master/file.m3u8": master(secret, "/media/ok.m3u8"),
        "/master/victim.m3u8": master(f"{victim}/live.m3u8", "/media/ok.m3u8"),
        "/master/redirect.m3u8": master("/redirect/file.m3u8", "/media/ok.m3u8"),
        "/master/ftp.m3u8": master("ftp://127.0.0.1/live.m3u8", "/media/ok.m3u8"),
        "/master/ok.m3u8": master("/media/ok.m3u8"),
        # Media playlists whose segments (or key) ffmpeg itself would read from the local machine.
        "/media/file-segments.m3u8": Reply(200, media(secret, secret, secret), HLS),
        "/media/data-segments.m3u8": Reply(200, media(*[data_url("x" * 188, TS)] * 3), HLS),
        "/media/concat-segments.m3u8": Reply(200, media(*[f"concat:{secret_path}|{secret_path}"] * 3), HLS),
        "/media/subfile-segments.m3u8": Reply(
            200, media(*[f"subfile,,start,0,end,0,,:{secret_path}"] * 3), HLS),
        "/media/mixed-segments.m3u8": Reply(200, media("/seg/ok.ts", secret, secret), HLS),
        "/media/file-key.m3u8": Reply(200, media("/seg/ok.ts", "/seg/ok.ts", key=secret), HLS),
        "/media/victim-segments.m3u8": Reply(200, media(*[f"{victim}/seg/ok.ts"] * 3), HLS),
    }
    return routes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, origin: HostileOrigin, host: str) -> None:
        self.origin = origin
        super().__init__((host, 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up on a hostile answer are the point of the exercise, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "HostileOrigin/1"

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, *, send_body: bool) -> None:
        origin = self.server.origin
        origin.record(self.path)
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        answer = origin.routes.get(path)
        if callable(answer) and not isinstance(answer, Reply | Raw):
            answer = answer(origin, self.path)
        if answer is None:
            answer = Reply(404, b"not found\n")
        try:
            if isinstance(answer, Raw):
                self.close_connection = True
                answer.send(cast(BinaryIO, self.wfile))
                self.wfile.flush()
                return
            assert isinstance(answer, Reply)
            body = answer.body.encode() if isinstance(answer.body, str) else answer.body
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            if send_body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


@dataclass
class HostileOrigin:
    """An HTTP server on ``host`` (default 127.0.0.1, a free port) answering from ``routes``.

    Use as a context manager, or call ``close()``. ``url(path)`` gives the full URL of a route.
    """

    sample: Path | None = None
    secret: Path | None = None
    victim: str | None = None
    host: str = "127.0.0.1"
    routes: dict[str, Answer] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.routes = {**standard_routes(self), **self.routes}
        self._server = _Server(self, self.host)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"hostile-origin-{self.port}", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def add(self, path: str, answer: Answer) -> None:
        self.routes[path] = answer

    def record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    def requested(self, prefix: str) -> list[str]:
        with self._lock:
            return [path for path in self.requests if path.startswith(prefix)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HostileOrigin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_sample(path: Path, *, seconds: float = 2.0, tone_hz: int = 440) -> Path:
    """Write a short playable MPEG-TS file (test pattern and a tone) with ffmpeg; return its path."""
    import subprocess

    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=size=160x90:rate=10:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate=16000:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac", "-b:a", "32k",
         "-f", "mpegts", str(path)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return path
