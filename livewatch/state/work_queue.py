"""The work queue in the state database's ``work_queue`` table: SQLAlchemy Core, the same on SQLite and
PostgreSQL (``work_queue_postgresql.py`` refines the claim). Implements the port in ``livewatch/queue/``.

Items keyed ``<run>:<stream>:<seq>`` form a lane per stream (the key without its sequence number): the
database hands out a lane's items one at a time and oldest first, so a stream is transcribed in order
however many workers, threads or processes share the queue. Keys without a colon are lanes of their own.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, case, exists, func, literal, select, update
from sqlalchemy.orm import aliased

from livewatch.queue.base import CLAIMED, DONE, FAILED, PENDING, WorkItem, WorkQueue
from livewatch.state.database import write
from livewatch.state.engines import insert_ignore
from livewatch.state.tables import work_queue as table

SEQUENCE_DIGITS = "0123456789"


def lane_of_key(key: str) -> str:
    """``"12:0:37"`` → ``"12:0:"``; a key without a colon is its own lane."""
    return key.rstrip(SEQUENCE_DIGITS) if ":" in key else key


def lane_expression(key: ColumnElement[str]) -> ColumnElement[str]:
    """:func:`lane_of_key` in SQL (``rtrim`` and ``LIKE`` mean the same on SQLite and PostgreSQL)."""
    return case((key.like("%:%"), func.rtrim(key, literal(SEQUENCE_DIGITS))), else_=key)


class SqliteWorkQueue(WorkQueue):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, queue: str, key: str, payload: dict[str, Any]) -> bool:
        values = {"queue": queue, "item_key": key, "payload_json": json.dumps(payload, ensure_ascii=False),
                  "status": PENDING, "attempts": 0, "enqueued_at": datetime.now(UTC)}
        with write(self.engine) as conn:
            return insert_ignore(conn, table, values, ("queue", "item_key")) is not None

    def _candidates(self, queue: str, key_prefix: str | None, exclude_prefixes: Collection[str]) -> list[Any]:
        """Conditions on the pending items ``claim`` may take. Without ``key_prefix`` only the head of a lane
        no one holds; with it (the lane's holder taking the items queued behind its own) the oldest there."""
        condition: list[Any] = [table.c.queue == queue, table.c.status == PENDING]
        if key_prefix is not None:
            condition.append(func.substr(table.c.item_key, 1, len(key_prefix)) == key_prefix)
        for prefix in exclude_prefixes:
            condition.append(func.substr(table.c.item_key, 1, len(prefix)) != prefix)
        if key_prefix is None:
            other = aliased(table)
            condition.append(~exists().where(
                other.c.queue == table.c.queue,
                other.c.status.in_([PENDING, CLAIMED]),
                lane_expression(other.c.item_key) == lane_expression(table.c.item_key),
                (other.c.status == CLAIMED) | (other.c.id < table.c.id),
            ))
        return condition

    def claim(self, queue: str, key_prefix: str | None = None,
              exclude_prefixes: Collection[str] = ()) -> WorkItem | None:
        condition = self._candidates(queue, key_prefix, exclude_prefixes)
        oldest = select(table.c.id).where(*condition).order_by(table.c.id).limit(1).scalar_subquery()
        # One UPDATE ... RETURNING statement under SQLite's write lock is atomic: two workers never claim the
        # same row, nor two rows of one lane.
        statement = (
            update(table).where(table.c.id == oldest)
            .values(status=CLAIMED, claimed_at=datetime.now(UTC), attempts=table.c.attempts + 1)
            .returning(table.c.id, table.c.queue, table.c.item_key, table.c.payload_json, table.c.attempts)
        )
        with write(self.engine) as conn:
            row = conn.execute(statement).first()
        return None if row is None else item_of_row(row)

    def release(self, item: WorkItem) -> None:
        with write(self.engine) as conn:
            conn.execute(update(table).where(table.c.id == item.id)
                         .values(status=PENDING, claimed_at=None, attempts=table.c.attempts - 1))

    def complete(self, item: WorkItem) -> None:
        self._finish(item, DONE, None)

    def fail(self, item: WorkItem, error: str, *, retry: bool) -> None:
        self._finish(item, PENDING if retry else FAILED, error)

    def _finish(self, item: WorkItem, status: str, error: str | None) -> None:
        with write(self.engine) as conn:
            conn.execute(
                update(table).where(table.c.id == item.id)
                .values(status=status, error=error, finished_at=None if status == PENDING else datetime.now(UTC))
            )

    def backlog(self, queue: str, **payload_filter: Any) -> int:
        query = select(table.c.payload_json).where(table.c.queue == queue, table.c.status.in_([PENDING, CLAIMED]))
        if not payload_filter:
            query = select(func.count()).select_from(query.subquery())
            with self.engine.connect() as conn:
                return int(conn.execute(query).scalar_one())
        with self.engine.connect() as conn:
            payloads = [json.loads(row[0]) for row in conn.execute(query)]
        return sum(all(p.get(k) == v for k, v in payload_filter.items()) for p in payloads)

    def requeue_claimed(self, queue: str) -> int:
        with write(self.engine) as conn:
            result = conn.execute(
                update(table).where(table.c.queue == queue, table.c.status == CLAIMED).values(status=PENDING)
            )
            return int(result.rowcount)


def item_of_row(row: Any) -> WorkItem:
    return WorkItem(row.id, row.queue, row.item_key, json.loads(row.payload_json), row.attempts)
