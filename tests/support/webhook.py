"""A real webhook receiver on 127.0.0.1 for tests and benchmarks: it checks each request's HMAC-SHA256
signature, records what arrived and when, and can answer with errors or be shut down and brought back."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    signature_ok: bool
    at: float  # time.time() on arrival


class WebhookReceiver:
    def __init__(self, secret: bytes, port: int = 0) -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.status = 200  # what to answer; 503 etc. to play a receiver in trouble
        self.extra_headers: dict[str, str] = {}
        self.requests = 0
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self.port = port
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests += 1
                    status = receiver.status
                    if status == 200:
                        expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                        given = self.headers.get("X-Livewatch-Signature-256", "")
                        receiver.received.append(Received(dict(self.headers.items()), body, json.loads(body),
                                                          hmac.compare_digest(expected, given), time.time()))
                        receiver._lock.notify_all()
                self.send_response(status)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Close the socket: deliveries now meet a refused connection until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def keys(self) -> Counter[str]:
        with self._lock:
            return Counter(item.payload["idempotency_key"] for item in self.received)

    def wait_for(self, done: Callable[[list[Received]], bool], timeout: float) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not done(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"webhook receiver: condition not met in {timeout} s; "
                                         f"got {[r.payload.get('idempotency_key') for r in self.received]}")
                self._lock.wait(left)
            return list(self.received)
