"""The work queue on PostgreSQL: many monitors and workers, on many machines, share one queue.

A claim locks its row with ``SELECT … FOR UPDATE SKIP LOCKED`` (workers never wait on each other's rows),
and takes the stream's lane with a transaction-level advisory lock before checking that the lane is free
and the row still its oldest: per-stream order is kept by the database, not by a lock in one process.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import Connection, and_, exists, func, select, update
from sqlalchemy.orm import aliased

from livewatch.queue.base import CLAIMED, PENDING, WorkItem
from livewatch.state.database import write
from livewatch.state.tables import work_queue as table
from livewatch.state.work_queue import SqliteWorkQueue, item_of_row, lane_expression, lane_of_key

#: First key of the two-part advisory lock, so livewatch's lane locks never meet another application's.
LANE_LOCK_SPACE = 0x6C77  # "lw"
#: Lanes found taken by another claimer, one after another, before this claim gives up for now.
MAX_LANE_RETRIES = 16


class PostgresWorkQueue(SqliteWorkQueue):
    def claim(self, queue: str, key_prefix: str | None = None,
              exclude_prefixes: Collection[str] = ()) -> WorkItem | None:
        with write(self.engine) as conn:
            passed: list[str] = []
            for _ in range(MAX_LANE_RETRIES):
                condition = self._candidates(queue, key_prefix, [*exclude_prefixes, *passed])
                row = conn.execute(
                    select(table.c.id, table.c.item_key).where(*condition).order_by(table.c.id).limit(1)
                    .with_for_update(skip_locked=True)
                ).first()
                if row is None:
                    return None
                lane = lane_of_key(row.item_key)
                if key_prefix is None and not self._take_lane(conn, queue, lane, row.id):
                    passed.append(lane)
                    continue
                claimed = conn.execute(
                    update(table).where(table.c.id == row.id)
                    .values(status=CLAIMED, claimed_at=datetime.now(UTC), attempts=table.c.attempts + 1)
                    .returning(table.c.id, table.c.queue, table.c.item_key, table.c.payload_json, table.c.attempts)
                ).one()
                return item_of_row(claimed)
        return None

    @staticmethod
    def _take_lane(conn: Connection, queue: str, lane: str, item_id: int) -> bool:
        """Hold the lane until commit, then check (in a statement that sees every claim committed before the
        lock was ours) that no one holds an item of it and ``item_id`` is still its oldest."""
        if not conn.execute(select(func.pg_try_advisory_xact_lock(LANE_LOCK_SPACE, func.hashtext(lane)))).scalar():
            return False
        other = aliased(table)
        ahead = conn.execute(select(exists().where(
            other.c.queue == queue,
            lane_expression(other.c.item_key) == lane,
            other.c.id != item_id,
            (other.c.status == CLAIMED) | and_(other.c.status == PENDING, other.c.id < item_id),
        ))).scalar()
        return not ahead

