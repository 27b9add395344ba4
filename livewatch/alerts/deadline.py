"""A total deadline for one delivery attempt.

A socket timeout bounds each *read*, not the whole exchange: a receiver that answers one byte a second never
lets a read time out and holds the attempt (and with it the monitor's shutdown) for as long as it likes. A
:class:`Deadline` watches every socket an attempt opens and, when the attempt's time is up, shuts them down
from a timer thread; the blocked read then returns at once and the channel reports the attempt as failed.

Sockets are watched through a duplicate of their descriptor, taken as soon as they connect: TLS (implicit or
STARTTLS) takes over the original socket object, but shutting down the duplicate still ends the connection
they share, during the handshake as well as after it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._timer.cancel()
        with self._lock:
            for watched in self._sockets:
                watched.close()
            self._sockets.clear()

    def watch(self, sock: socket.socket) -> socket.socket:
        """Cut ``sock`` when the deadline passes (at once if it has passed already); returns ``sock``."""
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            expired = self.expired
        if expired:
            _cut(duplicate)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            watched = list(self._sockets)
        for sock in watched:
            _cut(sock)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
