"""The work queue in the state database's ``work_queue`` table."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects.sqlite import insert

from livewatch.queue.base import WorkItem, WorkQueue
from livewatch.state.database import write
from livewatch.state.tables import work_queue as table

PENDING, CLAIMED, DONE, FAILED = "pending", "claimed", "done", "failed"


class SqliteWorkQueue(WorkQueue):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, queue: str, key: str, payload: dict[str, Any]) -> bool:
        statement = insert(table).values(
            queue=queue, item_key=key, payload_json=json.dumps(payload, ensure_ascii=False), status=PENDING,
            attempts=0, enqueued_at=datetime.now(UTC),
        ).on_conflict_do_nothing(index_elements=["queue", "item_key"])
        with write(self.engine) as conn:
            return conn.execute(statement).rowcount == 1

    def claim(self, queue: str, key_prefix: str | None = None,
              exclude_prefixes: Collection[str] = ()) -> WorkItem | None:
        condition = [table.c.queue == queue, table.c.status == PENDING]
        if key_prefix is not None:
            condition.append(func.substr(table.c.item_key, 1, len(key_prefix)) == key_prefix)
        for prefix in exclude_prefixes:
            condition.append(func.substr(table.c.item_key, 1, len(prefix)) != prefix)
        oldest = select(table.c.id).where(*condition).order_by(table.c.id).limit(1).scalar_subquery()
        # One UPDATE ... RETURNING statement is atomic, so two workers never claim the same row.
        statement = (
            update(table).where(table.c.id == oldest)
            .values(status=CLAIMED, claimed_at=datetime.now(UTC), attempts=table.c.attempts + 1)
            .returning(table.c.id, table.c.queue, table.c.item_key, table.c.payload_json, table.c.attempts)
        )
        with write(self.engine) as conn:
            row = conn.execute(statement).first()
        if row is None:
            return None
        return WorkItem(row.id, row.queue, row.item_key, json.loads(row.payload_json), row.attempts)

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
