"""A hostile peer on 127.0.0.1 that answers one byte at a time: every read it allows succeeds, so a
per-read timeout never fires and only a total deadline ends the exchange."""

from __future__ import annotations

import socket
import socketserver
import threading
import time


class DripServer:
    """For each connection: send ``greeting`` at once, read what the client sends first (``read_first``: an
    HTTP request; False for protocols where the server speaks first, like SMTP), then send ``answer`` one
    byte per ``interval`` seconds, and after it keep the connection open (sending nothing) until the client leaves."""

    def __init__(self, answer: bytes, *, read_first: bool = True, interval: float = 1.0,
                 greeting: bytes = b"") -> None:
        self.connections = 0
        self.closed = threading.Event()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                server.connections += 1
                sock.settimeout(60)
                try:
                    sock.sendall(greeting)
                    if read_first:
                        sock.recv(65536)
                    for byte in answer:
                        if server.closed.wait(interval):
                            return
                        sock.sendall(bytes([byte]))
                    while not server.closed.is_set() and sock.recv(1024):
                        pass
                except OSError:
                    return

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def stop(self) -> None:
        self.closed.set()
        self._server.shutdown()
        self._server.server_close()


#: An HTTP answer long enough that, dripped, it outlasts any test's patience.
HTTP_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n" + b"X-Pad: " + b"a" * 200 + b"\r\n\r\n" + b"b" * 100
#: An SMTP greeting dripped forever (a multi-line 220 that never ends).
SMTP_GREETING = b"220-" + b"slow " * 100 + b"\r\n"


def elapsed(start: float) -> float:
    return time.monotonic() - start
