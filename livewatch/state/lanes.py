"""Holding a stream's lane, or an event's check, across processes and machines: PostgreSQL advisory locks.

A lane lock is a *session-level* advisory lock taken on a dedicated connection and released in ``finally``.
PostgreSQL releases such a lock by itself when the connection ends, so a holder that dies (SIGKILL, out of
memory) loses it at once, and a holder on a machine that vanished loses it once the server's keepalive
notices the dead connection (the lock connection asks for a keepalive probe after 30 s idle, then every
10 s, so about a minute). No lease to renew, no clock to trust.

On SQLite (one machine, one process: the default mode) the same calls take a lock in this process; two
processes on one SQLite file are not excluded from each other, which is why distributed mode requires
PostgreSQL.

The queue items of a lane are claimed only by the lane's holder (``transcribe_lane``). So an item of the
lane still marked claimed when a process takes the lane was claimed by a holder that is gone: the claim is
valid exactly as long as the lane lock of its claimer, and :func:`reclaim_orphans` returns such items to the
queue. Unlike :meth:`~livewatch.queue.WorkQueue.requeue_claimed` (which a one-process monitor calls at
start), it never touches the items of a lane another live worker holds.

A holder cannot notice at once that its lock connection broke (the server restarted, the network cut it)
while it decodes, and by then another process may have taken the lane. So a window is committed only on
the stream progress it was built on (``TranscriptStore.commit(built_on=...)``): the old holder's commit
finds the progress moved and drops its window, and nothing is transcribed twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, ScalarSelect, Select, case, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.functions import FunctionElement

from livewatch.errors import StateError
from livewatch.pipeline import lane_key
from livewatch.queue.base import CLAIMED, FAILED, PENDING
from livewatch.state import tables
from livewatch.state.database import describe_error, write
from livewatch.state.engines import POSTGRESQL
from livewatch.state.tables import work_queue as table

log = logging.getLogger(__name__)

#: Lane locks use the one-bigint form of advisory-lock keys (a key space of its own, apart from the
#: two-integer keys below and the work queue's claim): ``"lw"`` in the top 16 bits, then the run (32 bits)
#: and the stream (16 bits), so two lanes never share a key.
LANE_LOCK_BASE = 0x6C77 << 48
#: The screen lanes' key space (``"ls"``): a stream's frames are read apart from its segments.
SCREEN_LANE_LOCK_BASE = 0x6C73 << 48
MAX_RUN_ID, MAX_STREAM = (1 << 32) - 1, (1 << 16) - 1
#: Two-integer keys: (space, ``hashtext(name)``). Two names that hash alike only wait for each other.
CHECK_LOCKS = 0x6C63  # "lc": one event's checks and report
TRANSCRIPT_FILE_LOCKS = 0x6C66  # "lf": one run's transcript files
#: How often a wait for a two-integer lock asks again (seconds).
POLL_S = 0.05
#: Server-side keepalive on lock connections (seconds): a vanished holder's locks go within about a minute.
KEEPALIVE = {"tcp_keepalives_idle": 30, "tcp_keepalives_interval": 10, "tcp_keepalives_count": 3}

_local_guard = threading.Lock()
_local_locks: dict[tuple[str, str], threading.Lock] = {}


@dataclass(frozen=True)
class Reclaimed:
    """Items of a lane found claimed by a holder that is gone: back to the queue, or failed for good."""

    requeued: int
    failed: int


def lane_lock_key(run_id: int, stream: int, base: int = LANE_LOCK_BASE) -> int:
    if not (0 <= run_id <= MAX_RUN_ID and 0 <= stream <= MAX_STREAM):
        raise StateError(f"run {run_id} stream {stream}: outside the lane-lock key range")
    return base | (run_id << 16) | stream


@contextmanager
def lane_held(engine: Engine, run_id: int, stream: int, *, base: int = LANE_LOCK_BASE) -> Iterator[bool]:
    """Try to take the stream's lane (never waits): yields True while this process holds it, False when
    another holds it now. ``base``: the lanes' key space (transcription's by default, or the screen's)."""
    if engine.dialect.name != POSTGRESQL:
        with _local(engine, f"lane {base:x} {run_id}:{stream}", wait_s=0.0) as taken:
            yield taken
        return
    key = lane_lock_key(run_id, stream, base)
    with _lock_connection(engine) as conn:
        taken = _try_lock(conn, func.pg_try_advisory_lock(key))
        if not taken:
            yield False
            return
        try:
            yield True
        finally:
            _unlock(conn, select(func.pg_advisory_unlock(key)))


@contextmanager
def exclusive(engine: Engine, space: int, name: str, *, wait_s: float) -> Iterator[None]:
    """Hold (``space``, ``name``) against every other process, waiting at most ``wait_s`` for it; a
    :class:`StateError` when it stays taken that long."""
    if engine.dialect.name != POSTGRESQL:
        with _local(engine, f"{space}:{name}", wait_s=wait_s) as taken:
            if not taken:
                raise StateError(f"{name}: still held by another thread after {wait_s:.0f} s")
            yield
        return
    with _lock_connection(engine) as conn:
        deadline = time.monotonic() + wait_s
        # Polled rather than pg_advisory_lock: a wait longer than the statement timeout would be an error.
        while not _try_lock(conn, func.pg_try_advisory_lock(space, func.hashtext(name))):
            if time.monotonic() >= deadline:
                raise StateError(f"{name}: still held by another process after {wait_s:.0f} s")
            time.sleep(POLL_S)
        try:
            yield
        finally:
            _unlock(conn, select(func.pg_advisory_unlock(space, func.hashtext(name))))


@contextmanager
def _lock_connection(engine: Engine) -> Iterator[Connection]:
    """A connection of its own, outside any transaction (a session lock outlives commits; an open
    transaction would pin old row versions for as long as the lane is held)."""
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def _try_lock(conn: Connection, attempt: FunctionElement[Any]) -> bool:
    """One round trip: the keepalive settings (session-wide; ignored on a Unix socket), then the attempt."""
    settings = [func.set_config(setting, str(value), False) for setting, value in KEEPALIVE.items()]
    return bool(conn.execute(select(*settings, attempt)).one()[-1])


def _unlock(conn: Connection, statement: Select[Any]) -> None:
    """Release a session lock. A connection that cannot say it did is closed instead (closing releases the
    lock), never returned to the pool still holding it; one that broke meanwhile (the server restarted) held
    nothing any more, so that is no error of the work done under the lock."""
    try:
        released = bool(conn.execute(statement).scalar())
    except SQLAlchemyError as err:
        log.warning("the lock connection broke while the lock was held (%s)", describe_error(err))
        conn.invalidate()
        return
    if not released:
        conn.invalidate()


@contextmanager
def _local(engine: Engine, name: str, *, wait_s: float) -> Iterator[bool]:
    """The one-process stand-in: a lock per database and name."""
    with _local_guard:
        lock = _local_locks.setdefault((str(engine.url), name), threading.Lock())
    taken = lock.acquire(timeout=wait_s) if wait_s > 0 else lock.acquire(blocking=False)
    try:
        yield taken
    finally:
        if taken:
            lock.release()


def _in_lane(queue: str, lane: str) -> list[ColumnElement[bool]]:
    return [table.c.queue == queue, func.substr(table.c.item_key, 1, len(lane)) == lane]


def reclaim_orphans(engine: Engine, queue: str, lane: str, *, max_attempts: int) -> Reclaimed:
    """Call holding the lane: items of it still claimed were claimed by a holder that is gone. Those its
    holders already tried ``max_attempts`` times (each died on it) fail for good; the rest go back."""
    given_up = table.c.attempts >= max_attempts
    with write(engine) as conn:
        statuses = conn.execute(
            update(table).where(*_in_lane(queue, lane), table.c.status == CLAIMED)
            .values(status=case((given_up, FAILED), else_=PENDING), claimed_at=None,
                    finished_at=case((given_up, datetime.now(UTC)), else_=None),
                    error=case((given_up, f"its worker was lost {max_attempts} times while working on it"),
                               else_=table.c.error))
            .returning(table.c.status)).scalars().all()
    return Reclaimed(statuses.count(PENDING), statuses.count(FAILED))


def lane_backlog(engine: Engine, queue: str, lane: str) -> int:
    """Items of the lane pending or claimed."""
    with engine.connect() as conn:
        return int(conn.execute(select(_backlog(queue, lane))).scalar_one())


def _backlog(queue: str, lane: str) -> ScalarSelect[int]:
    return (select(func.count()).select_from(table)
            .where(*_in_lane(queue, lane), table.c.status.in_([PENDING, CLAIMED])).scalar_subquery())


def next_pending(engine: Engine, queue: str, lane: str) -> dict[str, Any] | None:
    """The payload of the lane's oldest pending item (the next the holder takes), or None."""
    with engine.connect() as conn:
        payload = conn.execute(select(table.c.payload_json).where(*_in_lane(queue, lane), table.c.status == PENDING)
                               .order_by(table.c.id).limit(1)).scalar()
    return None if payload is None else dict(json.loads(payload))


@dataclass(frozen=True)
class LaneState:
    """What is left to do in a stream's lane, read in one query."""

    backlog: int  # items pending or claimed
    ended: bool  # the run's status is final: no more segments will come
    unflushed: bool  # something was transcribed and the last tail is not committed yet

    @property
    def needs_flush(self) -> bool:
        return not self.backlog and self.ended and self.unflushed

    @property
    def work_left(self) -> bool:
        return bool(self.backlog) or self.needs_flush


def screen_lane_state(engine: Engine, queue: str, lane: str, run_id: int, stream: int,
                      final_statuses: Collection[str]) -> LaneState:
    """The state of a stream's screen lane: its frames left, whether its run ended, and whether frames were
    read and the stream is not finished yet (``unflushed``)."""
    kept, runs = tables.screen_lanes, tables.runs
    finished = (select(kept.c.finished_at.is_(None)).where(kept.c.run_id == run_id, kept.c.stream == stream)
                .scalar_subquery())
    status = select(runs.c.status).where(runs.c.id == run_id).scalar_subquery()
    with engine.connect() as conn:
        row = conn.execute(select(_backlog(queue, lane), status, finished)).one()
    return LaneState(int(row[0]), row[1] in final_statuses, bool(row[2]))


def lane_state(engine: Engine, queue: str, run_id: int, stream: int, final_statuses: Collection[str]) -> LaneState:
    p, runs = tables.transcription_progress, tables.runs
    flushed = (select(p.c.flushed).where(p.c.run_id == run_id, p.c.stream == stream).scalar_subquery())
    status = select(runs.c.status).where(runs.c.id == run_id).scalar_subquery()
    with engine.connect() as conn:
        row = conn.execute(select(_backlog(queue, lane_key(run_id, stream)), status, flushed)).one()
    return LaneState(int(row[0]), row[1] in final_statuses, row[2] is not None and not row[2])
