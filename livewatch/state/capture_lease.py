"""Which process records an event's window, across machines: a PostgreSQL advisory lock per (event, window).

A capture task holds the lease, on a connection of its own, for as long as it records. Its holder's death ends
it: PostgreSQL releases a session's advisory locks when the session ends, and a killed process's connection
ends with it (a machine that vanishes without a TCP reset: when the server's TCP keepalives give up). So a
second delivery of the same capture (RabbitMQ redelivers it when the first worker's connection to the broker
drops, also while that worker lives on) never starts a second recorder: it waits for the lease, and continues
the run (``RunStore.open_run`` resumes it, the stream recovery keeps what the first recorder saved) only once
the first holder has gone.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Connection, Engine, text

from livewatch.errors import StateError
from livewatch.state.engines import POSTGRESQL


def lease_key(event_id: str, window_start: datetime) -> int:
    """The lock's key: a signed 64-bit hash of the event and its window (the one-key form of PostgreSQL's
    advisory locks, a key space apart from the two-key form other locks use)."""
    digest = hashlib.blake2b(f"capture\0{event_id}\0{window_start.isoformat()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class CaptureLease:
    """A held lease; :meth:`release` (or leaving the ``with`` block) gives it up and closes its connection."""

    def __init__(self, conn: Connection, key: int) -> None:
        self._conn, self.key = conn, key

    def release(self) -> None:
        if self._conn.closed:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        finally:
            self._conn.close()  # ends the session: the lock goes with it even if the unlock failed

    def __enter__(self) -> CaptureLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_capture_lease(engine: Engine, event_id: str, window_start: datetime) -> CaptureLease | None:
    """The lease of ``event_id``'s window, or None while another session holds it. PostgreSQL only."""
    if engine.dialect.name != POSTGRESQL:
        raise StateError("capture leases need the state database in PostgreSQL (distributed mode)")
    key = lease_key(event_id, window_start)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        taken = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
    except BaseException:
        conn.close()
        raise
    if not taken:
        conn.close()
        return None
    return CaptureLease(conn, key)
