"""Issue 15, item 3 (capture): an origin that sends one byte a second cannot hold a live check or a yt-dlp
resolution past its total deadline. A socket timeout bounds each read, and every read here succeeds."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pytest

from livewatch.capture.base import ResolvedStream
from livewatch.capture.fetch import fetch_bytes
from livewatch.capture.probe import LiveCheck, check_live
from livewatch.capture.resolve import DeadlineResolver
from livewatch.capture.ytdlp import YtDlpSource
from livewatch.errors import CaptureError
from livewatch.fields import CaptureSettings
from tests.hostile.origin import HLS, HostileOrigin, Raw, Reply

PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + b"#EXTINF:2.0,\na.ts\n" * 20
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\nContent-Length: %d\r\n\r\n"


def drip(data: bytes, *, fast_prefix: bytes = b"") -> Raw:
    """``fast_prefix`` at once, then ``data`` one byte a second (until the client hangs up)."""

    def send(out: BinaryIO) -> None:
        out.write(fast_prefix)
        out.flush()
        for byte in data:
            out.write(bytes([byte]))
            out.flush()
            time.sleep(1)

    return Raw(send)


@pytest.fixture(scope="module")
def origin() -> Iterator[HostileOrigin]:
    with HostileOrigin() as server:
        server.add("/drip-status.m3u8", drip(HEAD % len(PLAYLIST) + PLAYLIST))
        server.add("/drip-headers.m3u8", drip(b"X-Slow: " + b"s" * 100 + b"\r\n\r\n",
                                              fast_prefix=b"HTTP/1.1 200 OK\r\n"))
        server.add("/drip-body.m3u8", drip(PLAYLIST, fast_prefix=HEAD % len(PLAYLIST)))
        server.add("/master.m3u8", Reply(200, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n/drip-body.m3u8\n", HLS))
        server.add("/page.html", drip(b"<html><body>" + b"x" * 100, fast_prefix=b"HTTP/1.1 200 OK\r\n"
                                      b"Content-Type: text/html\r\nContent-Length: 112\r\n\r\n"))
        yield server


def timed(action: Callable[[], LiveCheck]) -> tuple[LiveCheck, float]:
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


@pytest.mark.parametrize("path", ["/drip-status.m3u8", "/drip-headers.m3u8", "/drip-body.m3u8", "/master.m3u8"])
def test_a_live_check_ends_within_its_deadline(origin: HostileOrigin, path: str) -> None:
    url = origin.url(path)
    stream = ResolvedStream(url, url, "hls")
    check, wall = timed(lambda: check_live(stream, CaptureSettings(rw_timeout_s=2), resume_after=None))
    assert wall < 3.5  # one request's 2 s, plus the master's answer and slack for a loaded machine
    assert not check.live
    assert check.error
    assert "total deadline" in check.reason


def test_a_yt_dlp_resolution_ends_within_its_deadline(origin: HostileOrigin) -> None:
    resolver = DeadlineResolver()
    source = YtDlpSource(socket_timeout=2)
    started = time.monotonic()
    with pytest.raises(CaptureError, match="total deadline"):
        resolver.resolve(source, origin.url("/page.html"), deadline_s=3)
    assert time.monotonic() - started < 4.5
    # The origin still holds the abandoned attempt: the next check says so at once instead of piling up.
    with pytest.raises(CaptureError, match="still held by the origin"):
        resolver.resolve(source, origin.url("/page.html"), deadline_s=3)
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.mark.parametrize("stage", ["handshake", "body"])
def test_an_https_fetch_ends_within_its_deadline(tls_context: ssl.SSLContext, stage: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The TLS handshake and the encrypted body are bounded as well (the server's certificate is
    self-signed, so verification is switched off for this test only)."""
    server = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        client, _ = server.accept()
        with client:
            if stage == "handshake":  # accept the connection, never answer the ClientHello
                done.wait(30)
                return
            with contextlib.suppress(OSError), tls_context.wrap_socket(client, server_side=True) as tls:
                tls.recv(65536)
                for byte in HEAD % len(PLAYLIST) + PLAYLIST:
                    tls.send(bytes([byte]))
                    if done.wait(1):
                        return

    threading.Thread(target=serve, daemon=True).start()
    monkeypatch.setattr(ssl, "_create_default_https_context", ssl._create_unverified_context)
    started = time.monotonic()
    try:
        with pytest.raises(CaptureError, match="total deadline"):
            fetch_bytes(f"https://127.0.0.1:{server.getsockname()[1]}/x.m3u8", {}, timeout=2, limit=10_000)
        assert time.monotonic() - started < 3.5
    finally:
        done.set()
        server.close()
