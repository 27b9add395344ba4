"""The capture tasks ``livewatch scheduler`` sent: the dedupe key that keeps a window from being sent twice
(also across a takeover by a standby), and the cancellation flag a running capture task polls.

A row is written in the same transaction that sends the task (:meth:`DispatchLog.sending`): committed only
once the broker took the message, so a scheduler that dies before that leaves no row and its successor
sends the task; one that dies between the broker's confirm and the commit (milliseconds) leaves a message
that is sent again, which a capture worker takes as a redelivery (runs are keyed by event and window).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, Row, select, update
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from livewatch.state.database import write
from livewatch.state.engines import POSTGRESQL
from livewatch.state.tables import capture_dispatches as table


@dataclass(frozen=True)
class Dispatch:
    """One capture task sent for an event's registered window (``window_start`` – ``window_end``)."""

    event_id: str
    window_start: datetime
    window_end: datetime
    arm_at: datetime
    hard_stop: datetime
    generation: int
    sent_at: datetime
    sent_by: str
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None


def _dispatch_of(row: Row[tuple[object, ...]]) -> Dispatch:
    m = row._mapping
    return Dispatch(m["event_id"], m["window_start"], m["window_end"], m["arm_at"], m["hard_stop"],
                    m["generation"], m["sent_at"], m["sent_by"], m["cancelled_at"], m["cancel_reason"])


class DispatchLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def sending(self, window: Dispatch) -> Iterator[Dispatch | None]:
        """Record ``window`` as sent, and yield it (with its generation) when it was not sent already:
        the caller sends the task inside the block, and the row is committed only if the block succeeds.
        Yields None when the window was sent already (and not cancelled since). Two schedulers doing this at
        once (the moment of a takeover) wait on each other's row: one sends, the other gets None."""
        insert = postgresql_dialect.insert if self.engine.dialect.name == POSTGRESQL else sqlite_dialect.insert
        values = {"event_id": window.event_id, "window_start": window.window_start, "window_end": window.window_end,
                  "arm_at": window.arm_at, "hard_stop": window.hard_stop, "generation": 1,
                  "sent_at": window.sent_at, "sent_by": window.sent_by}
        new_row = insert(table).values(**values)
        # A window cancelled (its event moved away) and wanted again (moved back) is sent again, as a new
        # generation: the capture task of the old generation stops when it sees that.
        statement = new_row.on_conflict_do_update(
            index_elements=["event_id", "window_start", "window_end"],
            set_={"arm_at": new_row.excluded.arm_at, "hard_stop": new_row.excluded.hard_stop,
                  "generation": table.c.generation + 1, "sent_at": new_row.excluded.sent_at,
                  "sent_by": new_row.excluded.sent_by, "cancelled_at": None, "cancel_reason": None},
            where=table.c.cancelled_at.is_not(None),
        ).returning(*table.c)
        with write(self.engine) as conn:
            row = conn.execute(statement).first()
            yield None if row is None else _dispatch_of(row)

    def in_hand(self) -> dict[str, Dispatch]:
        """Event id → the window last sent for it and not cancelled."""
        rows = self._rows(table.c.cancelled_at.is_(None))
        return {d.event_id: d for d in sorted(rows, key=lambda d: d.sent_at)}

    def cancel(self, event_id: str, window_start: datetime, window_end: datetime, reason: str,
               now: datetime | None = None) -> bool:
        """Flag the window's capture task to stop (the event was removed, or its window moved); False when
        there is nothing to cancel."""
        with write(self.engine) as conn:
            done = conn.execute(update(table).where(
                table.c.event_id == event_id, table.c.window_start == window_start,
                table.c.window_end == window_end, table.c.cancelled_at.is_(None),
            ).values(cancelled_at=now or datetime.now(UTC), cancel_reason=reason))
        return bool(done.rowcount)

    def stop_reason(self, event_id: str, window_start: datetime, window_end: datetime,
                    generation: int) -> str | None:
        """For a running capture task (polled): why it must stop, or None to carry on. ``generation`` is the
        one the task read when it started (:meth:`latest`)."""
        found = self._rows(table.c.event_id == event_id, table.c.window_start == window_start,
                           table.c.window_end == window_end)
        if not found:
            return "no capture was sent for this window"
        dispatch = found[0]
        if dispatch.cancel_reason is not None:
            return dispatch.cancel_reason
        if dispatch.generation != generation:
            return "the window was sent again to another capture"
        return None

    def latest(self, event_id: str, window_start: datetime) -> Dispatch | None:
        """The latest capture task sent for the event's window starting at ``window_start`` (what a capture
        task, which is given the event and the start, reads when it begins)."""
        query = select(table).where(table.c.event_id == event_id, table.c.window_start == window_start)
        with self.engine.connect() as conn:
            # FOR SHARE: the task's message can arrive before the scheduler committed the row it was sent with
            # (the send is inside that transaction). A window sent again updates its row, and this read waits
            # for that commit instead of returning the old generation (which the task would then take for
            # "sent again to another capture" and stop). SQLite has no such clause, nor a scheduler.
            found = [_dispatch_of(row) for row in conn.execute(query.with_for_update(read=True))]
        return max(found, key=lambda d: d.sent_at) if found else None

    def all(self) -> list[Dispatch]:
        return sorted(self._rows(), key=lambda d: (d.sent_at, d.event_id))

    def _rows(self, *where: object) -> list[Dispatch]:
        with self.engine.connect() as conn:
            return [_dispatch_of(row) for row in conn.execute(select(table).where(*where))]  # type: ignore[arg-type]
