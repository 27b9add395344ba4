"""A total deadline for one network exchange with a peer livewatch does not trust.

A socket timeout bounds each *read*, not the exchange: a peer that answers one byte a second never lets a
read time out and holds the caller (a live check, an alert delivery, and with them the monitor's shutdown)
for as long as it likes. A :class:`Deadline` watches every socket the exchange opens and, when its time is
up, shuts them down from a timer thread; a blocked read then returns at once and the caller reports the
exchange as failed.

Sockets are watched through a duplicate of their descriptor: TLS (implicit, STARTTLS, HTTPS) takes over or
wraps the original socket object, but shutting down the duplicate still ends the connection they share,
during the handshake as well as after it, without touching TLS state the reading thread is using.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


class Deadline:
    """Started when made; ``with`` ends it (the timer stops and the duplicates are closed)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.cancel()

    def remaining(self) -> float:
        """Seconds left (at least a millisecond, so it can always serve as a socket timeout)."""
        return max(0.001, self.expires - time.monotonic())

    def watch(self, sock: socket.socket) -> socket.socket:
        """Cut ``sock`` when the deadline passes (at once if it has passed already); returns ``sock``."""
        # fromfd duplicates the descriptor into a plain socket, also for an SSLSocket (whose dup() refuses).
        duplicate = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        with self._lock:
            self._sockets.append(duplicate)
            expired = self.expired
        if expired:
            _cut(duplicate)
        return sock

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            for watched in self._sockets:
                watched.close()
            self._sockets.clear()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            watched = list(self._sockets)
        for sock in watched:
            _cut(sock)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)
