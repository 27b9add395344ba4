"""One active ``livewatch scheduler``: a PostgreSQL session advisory lock, held on a connection of its own
for as long as the scheduler is active.

The server releases a session lock when the session ends, so a scheduler that dies (SIGKILL, a crash, a host
that loses power) frees the lock as soon as the server sees its connection gone: at once for a closed
socket, and within about :data:`SERVER_KEEPALIVE_S` seconds for a host that vanished (TCP keepalives, set for
the lock's session). A standby tries the lock every ``standby_poll_s`` seconds. The active one checks its
connection on every round and steps down when the check fails (the server may have dropped its session, and
with it the lock); the dedupe key of :mod:`livewatch.state.dispatches` covers the seconds in which two may
both believe they are active.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, NullPool, create_engine, delete, insert, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from livewatch.errors import ConfigError, StateError
from livewatch.state.database import describe_error, write
from livewatch.state.engines import CONNECT_TIMEOUT_S, POSTGRESQL, backend_of, mask_url
from livewatch.state.tables import scheduler_leader as leader_table

#: The two keys of the advisory lock (``pg_try_advisory_lock(int, int)``): "ls", livewatch scheduler. The
#: work queue's lane locks use another first key ("lw"), so the two never meet.
LOCK_SPACE = 0x6C73
LOCK_KEY = 1
#: Server-side keepalives of the lock's session: idle seconds, interval, probes (a vanished host's lock is
#: released after about idle + interval × probes seconds).
SERVER_KEEPALIVE = (5, 2, 3)
SERVER_KEEPALIVE_S = SERVER_KEEPALIVE[0] + SERVER_KEEPALIVE[1] * SERVER_KEEPALIVE[2]
#: Milliseconds the lock's own statements may take: the check of a live connection must be quick.
LOCK_STATEMENT_TIMEOUT_MS = 5_000

#: Whether the advisory lock is held by the backend given as ``:backend_pid``.
_HELD_BY = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND classid = :space AND objid = :key AND objsubid = 2 AND pid = :backend_pid)")


@dataclass(frozen=True)
class ActiveScheduler:
    """The active scheduler as ``livewatch status`` shows it."""

    host: str
    pid: int
    since: datetime
    #: False when the row is left from a scheduler whose lock is gone (it died; no standby took over yet).
    holds_lock: bool

    def describe(self) -> str:
        state = "active" if self.holds_lock else "gone (no scheduler holds the lock)"
        return f"{self.host} pid {self.pid}, since {self.since.isoformat(timespec='seconds')}: {state}"


def require_postgresql(url: URL) -> None:
    if backend_of(url) != POSTGRESQL:
        raise ConfigError("livewatch scheduler needs PostgreSQL (the scheduler lock and the job store are shared "
                          "by every machine): set database_url to postgresql+psycopg://… (docs/distributed.md); "
                          f"this configuration uses {mask_url(url)}")


class SchedulerLock:
    """The lock on a dedicated connection (no pool: the connection is the lock)."""

    def __init__(self, url: URL) -> None:
        require_postgresql(url)
        self.where = mask_url(url)
        idle, interval, probes = SERVER_KEEPALIVE
        self._engine: Engine = create_engine(url, poolclass=NullPool, connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "livewatch scheduler",
            # The client's own keepalives, and a limit on unacknowledged data: a scheduler cut off from the
            # server learns it within seconds and steps down, instead of arming on for TCP's 15 minutes.
            "keepalives": 1, "keepalives_idle": idle, "keepalives_interval": interval, "keepalives_count": probes,
            "tcp_user_timeout": SERVER_KEEPALIVE_S * 1000,
            "options": (f"-c statement_timeout={LOCK_STATEMENT_TIMEOUT_MS} -c tcp_keepalives_idle={idle} "
                        f"-c tcp_keepalives_interval={interval} -c tcp_keepalives_count={probes}"),
        })
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def try_acquire(self, host: str, pid: int, now: datetime | None = None) -> datetime | None:
        """Take the lock if no one holds it, and record this scheduler as the active one: the time it became
        active, or None (held by another, or the server unreachable: try again on the next round)."""
        if self._conn is not None:
            raise RuntimeError("the scheduler lock is held already")
        try:
            conn = self._engine.connect()
        except SQLAlchemyError:
            return None
        try:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:space, :key)"),
                                {"space": LOCK_SPACE, "key": LOCK_KEY}).scalar():
                conn.close()
                return None
            conn.commit()  # the lock is the session's; the transaction that took it ends here
            backend_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            conn.commit()
            since = now or datetime.now(UTC)
            with write(self._engine) as writer:
                writer.execute(delete(leader_table))
                writer.execute(insert(leader_table).values(id=1, host=host, pid=pid, since=since,
                                                           backend_pid=backend_pid))
        except SQLAlchemyError:
            conn.close()  # ends the session, and the lock with it
            return None
        self._conn = conn
        return since

    def still_held(self) -> bool:
        """Check the lock's connection (a round trip): False, and the lock given up, when it is gone."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1")).scalar_one()
            self._conn.commit()
            return True
        except SQLAlchemyError:
            self.release()
            return False

    def release(self) -> None:
        """End the lock's session (which releases the lock; a standby then takes over on its next round)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # never back to a pool, never reused: the session must end
                conn.close()
            except SQLAlchemyError:
                pass

    def close(self) -> None:
        self.release()
        self._engine.dispose()


def active_scheduler(engine: Engine) -> ActiveScheduler | None:
    """The scheduler recorded as active, checked against the lock; None when none ever was (or on SQLite)."""
    if engine.dialect.name != POSTGRESQL:
        return None
    try:
        with engine.connect() as conn:
            row = conn.execute(select(leader_table)).first()
            if row is None:
                return None
            holds = bool(conn.execute(_HELD_BY, {"space": LOCK_SPACE, "key": LOCK_KEY,
                                                 "backend_pid": row.backend_pid}).scalar())
    except SQLAlchemyError as err:
        raise StateError(f"cannot read the active scheduler: {describe_error(err)}") from err
    return ActiveScheduler(row.host, row.pid, row.since, holds)
