"""A real nginx with Debian's RTMP module on 127.0.0.1, and a publisher that broadcasts to it in real time.

This is what many small broadcasters run: an encoder (OBS, ffmpeg) publishes RTMP to nginx-rtmp, which
relays it as RTMP and writes HLS. Its playlists carry no ``EXT-X-PROGRAM-DATE-TIME``, so a monitor has to
work out the broadcast's clock itself. HTTP-FLV is not in the stock module and is not offered here.

    with NginxRtmp(tmp_path) as nginx:
        with Publisher(nginx, "show", audio=beep_track(tmp_path / "a.wav", 30, [14.0])) as pub:
            ...  # nginx.hls_url("show") is live; pub.started_at is when the broadcast's second 0 went out

Tests skip when nginx or the module is missing, except in CI (``CI=true``), where they fail: the
Makefile's ``make test`` installs both (``nginx-light``, ``libnginx-mod-rtmp``).
"""

from __future__ import annotations

import array
import math
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import wave
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

MODULE_CANDIDATES = (
    Path("/usr/lib/nginx/modules/ngx_rtmp_module.so"),
    Path("/usr/lib64/nginx/modules/ngx_rtmp_module.so"),
    Path("/usr/share/nginx/modules/ngx_rtmp_module.so"),
)
#: nginx-rtmp's HLS settings: 2 s fragments, 10 s of playlist (five or six segments listed).
FRAGMENT_S = 2
PLAYLIST_S = 10
BEEP_RATE = 16_000


def _nginx_binary() -> str | None:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _module() -> Path | None:
    return next((path for path in MODULE_CANDIDATES if path.is_file()), None)


def _end(process: subprocess.Popen[bytes] | None) -> None:
    """Terminate ``process`` (kill it when it does not go in 5 s) and close its stderr pipe."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if process is not None and process.stderr is not None:
        process.stderr.close()

def require_nginx_rtmp() -> tuple[str, Path]:
    """The nginx binary and the RTMP module; skip without them (fail in CI, where they must be installed)."""
    binary, module = _nginx_binary(), _module()
    missing = [name for name, found in (("nginx (nginx-light)", binary), ("libnginx-mod-rtmp", module))
               if found is None]
    if shutil.which("ffmpeg") is None:
        missing.append("ffmpeg")
    if missing:
        message = f"not installed: {', '.join(missing)} (make test installs them)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    assert binary is not None
    assert module is not None
    return binary, module


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(folder: Path, module: Path, rtmp_port: int, http_port: int) -> str:
    temp = folder / "temp"
    return f"""
load_module {module};
daemon off;
# One process, no user switching: it runs as whoever runs the tests, in the test's own folder.
master_process off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{ worker_connections 256; }}
rtmp {{
    server {{
        listen 127.0.0.1:{rtmp_port};
        application live {{
            live on;
            hls on;
            hls_path {folder / "hls"};
            hls_fragment {FRAGMENT_S}s;
            hls_playlist_length {PLAYLIST_S}s;
        }}
    }}
}}
http {{
    access_log off;
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; application/dash+xml mpd; video/iso.segment m4s;
            video/mp4 mp4; text/html html; }}
    server {{
        listen 127.0.0.1:{http_port};
        location /hls/ {{
            alias {folder / "hls"}/;
            add_header Cache-Control no-cache;
        }}
        # Whatever a test puts in www/ (a DASH packager's output, a page with a player).
        location /www/ {{
            alias {folder / "www"}/;
            add_header Cache-Control no-cache;
        }}
    }}
}}
"""


class NginxRtmp:
    """nginx with the RTMP module, serving ``rtmp://127.0.0.1:PORT/live/KEY`` and its HLS over HTTP."""

    def __init__(self, folder: Path) -> None:
        self.binary, self.module = require_nginx_rtmp()
        self.folder = folder
        self.rtmp_port, self.http_port = free_port(), free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def rtmp_url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{key}"

    def hls_url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/hls/{key}.m3u8"

    def www_url(self, path: str) -> str:
        """The URL of ``folder/www/<path>``, served as it is."""
        return f"http://127.0.0.1:{self.http_port}/www/{path}"

    def playlist(self, key: str) -> str | None:
        """The playlist's text now, or None while nginx has none (404)."""
        try:
            with urllib.request.urlopen(self.hls_url(key), timeout=2) as answer:
                return str(answer.read().decode())
        except (urllib.error.URLError, OSError):
            return None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for sub in ("hls", "temp", "www"):
            (self.folder / sub).mkdir(exist_ok=True)
        conf = self.folder / "nginx.conf"
        conf.write_text(_config(self.folder, self.module, self.rtmp_port, self.http_port), encoding="utf-8")
        # -e: the error log before the configuration is read (else nginx opens /var/log/nginx/error.log).
        argv = [self.binary, "-p", str(self.folder), "-c", str(conf), "-e", str(self.folder / "error.log")]
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log()}")
            if all(_accepts(port) for port in (self.rtmp_port, self.http_port)):
                return
            time.sleep(0.05)
        self.close()
        raise RuntimeError(f"nginx did not listen within 10 s: {self.error_log()}")

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def close(self) -> None:
        _end(self._process)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def beep_track(path: Path, seconds: float, beeps: list[float], beep_s: float = 0.4) -> Path:
    """A mono WAV of silence with a 1 kHz beep starting at each of ``beeps`` (seconds into the track): a
    marker whose broadcast time is known exactly, found again in what was recorded by :func:`find_beeps`."""
    total = int(seconds * BEEP_RATE)
    samples = array.array("h", bytes(2 * total))
    for at in beeps:
        first = int(at * BEEP_RATE)
        for i in range(first, min(total, first + int(beep_s * BEEP_RATE))):
            samples[i] = int(16000 * math.sin(2 * math.pi * 1000 * (i - first) / BEEP_RATE))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(BEEP_RATE)
        out.writeframes(samples.tobytes())
    return path


def find_beeps(path: Path, threshold: int = 4000, gap_s: float = 1.0) -> list[float]:
    """Seconds into a 16-bit WAV where a beep starts (a loud sample after at least ``gap_s`` of quiet)."""
    with wave.open(str(path), "rb") as src:
        rate, width, channels = src.getframerate(), src.getsampwidth(), src.getnchannels()
        frames = src.readframes(src.getnframes())
    assert width == 2, f"{path}: expected 16-bit samples"
    samples = array.array("h", frames)[::channels]
    found: list[float] = []
    last = -math.inf
    for i, value in enumerate(samples):
        if abs(value) >= threshold:
            at = i / rate
            if at - last >= gap_s:
                found.append(at)
            last = at
    return found


class Publisher:
    """ffmpeg publishing a small test picture and ``audio`` (a WAV, played once) to nginx in real time (-re).

    ``started_at`` is the wall-clock time the broadcast's second ``from_s`` went out (taken just before ffmpeg
    starts; ffmpeg's own start-up makes it a few tenths of a second early at most). A publisher that comes
    back after a drop starts ``from_s`` into the track, where the broadcast has got to meanwhile.
    """

    def __init__(self, nginx: NginxRtmp, key: str, audio: Path, from_s: float = 0.0) -> None:
        self.nginx, self.key, self.audio, self.from_s = nginx, key, audio, from_s
        self.started_at: datetime | None = None
        self.stopped_at: datetime | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        return [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
            "-re", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
            *(["-ss", f"{self.from_s:g}"] if self.from_s else []), "-re", "-i", str(self.audio),
            "-map", "0:v", "-map", "1:a", "-shortest",
            # A keyframe every second, so nginx can cut its 2 s fragments on time.
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k", "-ar", "44100",
            *self.output_args(),
        ]  # fmt: skip

    def output_args(self) -> list[str]:
        return ["-f", "flv", self.nginx.rtmp_url(self.key)]

    def start(self) -> None:
        self.started_at = datetime.now(UTC)
        self._process = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_for_playlist(self, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.nginx.playlist(self.key)
            if text and "#EXTINF" in text:
                return text
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"publisher exited: {self.stderr()}")
            time.sleep(0.2)
        raise RuntimeError(f"no HLS playlist within {timeout} s: {self.nginx.error_log()}")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait(self, timeout: float) -> None:
        """Until the track has been broadcast to its end."""
        if self._process is not None:
            self._process.wait(timeout)
            self.stopped_at = self.stopped_at or datetime.now(UTC)

    def stderr(self) -> str:
        if self._process is None or self._process.stderr is None or self._process.poll() is None:
            return ""
        return self._process.stderr.read().decode(errors="replace")[-1000:]

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self.stopped_at = datetime.now(UTC)
        _end(self._process)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
