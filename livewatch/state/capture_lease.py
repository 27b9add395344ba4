"""Which process records an event's window, across machines: a PostgreSQL advisory lock per (event, window).

A capture task holds the lease, on a connection of its own, for as long as it records. Its holder's death ends
it: PostgreSQL releases a session's advisory locks when the session ends, and a killed process's connection
ends with it (a machine that vanishes without a TCP reset: when the server's TCP keepalives, set on the
lease's session, give up after about a minute). So a
second delivery of the same capture (RabbitMQ redelivers it when the first worker's connection to the broker
drops, also while that worker lives on) never starts a second recorder: it waits for the lease, and continues
the run (``RunStore.open_run`` resumes it, the stream recovery keeps what the first recorder saved) only once
the first holder has gone.

A lease also ends when its connection does while its holder lives on (the database restarted, a network cut):
the holder notices on its next :meth:`CaptureLease.check` and takes the lease again on a new connection; if
another session took it meanwhile, the holder must stop recording (two recorders would write one run).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from livewatch.errors import StateError
from livewatch.state.database import describe_error
from livewatch.state.engines import POSTGRESQL
from livewatch.state.lanes import KEEPALIVE

log = logging.getLogger(__name__)


#: Capture leases use the one-bigint form of advisory-lock keys: ``"ll"`` in the top 16 bits (stream lanes use
#: ``"lw"``, see :mod:`livewatch.state.lanes`), then 48 bits of a hash of the event and its window.
LEASE_LOCK_BASE = 0x6C6C << 48


def lease_key(event_id: str, window_start: datetime) -> int:
    """The lock's key for the event's window starting at ``window_start``."""
    digest = hashlib.blake2b(f"capture\0{event_id}\0{window_start.isoformat()}".encode(), digest_size=6).digest()
    return LEASE_LOCK_BASE | int.from_bytes(digest, "big")


#: What :meth:`CaptureLease.check` found: still held (or held again on a new connection), taken by another
#: session while this one's connection was gone, or not known yet (the database unreachable: ask again).
HELD, TAKEN_BY_ANOTHER, UNREACHABLE = "held", "taken by another session", "database unreachable"


class CaptureLease:
    """A held lease; :meth:`release` (or leaving the ``with`` block) gives it up and closes its connection."""

    def __init__(self, conn: Connection, key: int, engine: Engine | None = None) -> None:
        self._conn, self.key, self.engine = conn, key, engine
        #: Times the lease was taken again after its connection broke.
        self.retaken = 0

    def check(self) -> str:
        """Whether the lease is still this holder's (:data:`HELD`, :data:`TAKEN_BY_ANOTHER` or
        :data:`UNREACHABLE`). A broken connection's lease is taken again on a new connection."""
        if not self._conn.closed:
            try:
                self._conn.execute(text("SELECT 1"))
                return HELD
            except SQLAlchemyError as err:
                log.warning("the capture lease's connection broke (%s); taking the lease again",
                            describe_error(err))
                self._conn.invalidate()
                self._conn.close()
        if self.engine is None:
            return UNREACHABLE
        try:
            conn = _take(self.engine, self.key)
        except SQLAlchemyError:
            return UNREACHABLE
        if conn is None:
            return TAKEN_BY_ANOTHER
        self._conn = conn
        self.retaken += 1
        log.warning("capture lease %x taken again on a new connection", self.key)
        return HELD

    def release(self) -> None:
        if self._conn.closed:
            return
        try:
            released = bool(self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key}).scalar())
        except SQLAlchemyError as err:
            log.warning("the capture lease's connection broke while it was held (%s)", describe_error(err))
            released = False
        if not released:
            self._conn.invalidate()  # never back to the pool still holding the lock: its session ends instead
        self._conn.close()

    def __enter__(self) -> CaptureLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_capture_lease(engine: Engine, event_id: str, window_start: datetime) -> CaptureLease | None:
    """The lease of ``event_id``'s window, or None while another session holds it. PostgreSQL only."""
    if engine.dialect.name != POSTGRESQL:
        raise StateError("capture leases need the state database in PostgreSQL (distributed mode)")
    key = lease_key(event_id, window_start)
    conn = _take(engine, key)
    return None if conn is None else CaptureLease(conn, key, engine)


def _take(engine: Engine, key: int) -> Connection | None:
    """A new connection holding the advisory lock ``key``, or None while another session holds it."""
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    # Server-side keepalives on the lease's session (ignored on a Unix socket): a holder whose machine vanished
    # loses the lease within about a minute, as a lane's holder does.
    keepalives = [func.set_config(setting, str(value), False) for setting, value in KEEPALIVE.items()]
    try:
        taken = bool(conn.execute(select(*keepalives, func.pg_try_advisory_lock(key))).one()[-1])
    except BaseException:
        conn.close()
        raise
    if not taken:
        conn.close()
        return None
    return conn
