"""A work queue that also wakes a worker: each item put into the database's queue (the source of truth) is
announced to a callback, which sends the task that will take it (a closed segment → ``transcribe``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from livewatch.queue import WorkItem, WorkQueue

log = logging.getLogger(__name__)

#: Told ``(queue, payload)`` after an item was added.
Wakeup = Callable[[str, dict[str, Any]], None]


class WakingQueue(WorkQueue):
    """``inner`` with a wake-up after every :meth:`put` that added an item. A wake-up that fails (the broker
    down for a moment) is logged and lost, never the item: the next segment's wake-up, or the capture's
    end, sends the stream's task again, and that task drains every pending segment of the stream."""

    def __init__(self, inner: WorkQueue, wakeup: Wakeup) -> None:
        super().__init__(inner.engine)
        self.inner, self.wakeup = inner, wakeup

    def put(self, queue: str, key: str, payload: dict[str, Any]) -> bool:
        added = self.inner.put(queue, key, payload)
        if added:
            try:
                self.wakeup(queue, payload)
            except Exception as err:
                log.warning("queued %s item %s, but could not wake a worker for it: %s", queue, key, err)
        return added

    def claim(self, queue: str, key_prefix: str | None = None,
              exclude_prefixes: Collection[str] = ()) -> WorkItem | None:
        return self.inner.claim(queue, key_prefix, exclude_prefixes)

    def release(self, item: WorkItem) -> None:
        self.inner.release(item)

    def complete(self, item: WorkItem) -> None:
        self.inner.complete(item)

    def fail(self, item: WorkItem, error: str, *, retry: bool) -> None:
        self.inner.fail(item, error, retry=retry)

    def backlog(self, queue: str, **payload_filter: Any) -> int:
        return self.inner.backlog(queue, **payload_filter)

    def requeue_claimed(self, queue: str) -> int:
        return self.inner.requeue_claimed(queue)
