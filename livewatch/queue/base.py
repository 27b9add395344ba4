"""The work-queue port: the interface, its item and the registry of back-ends. The back-ends that keep the
queue in the state database live in ``livewatch/state/`` (``work_queue.py``, ``work_queue_postgresql.py``);
a distributed job queue can replace them by implementing these few methods."""

from __future__ import annotations

import abc
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from livewatch.plugins import Registry

#: An item's life: pending → claimed → done, or back to pending (retry, release) or failed for good.
PENDING, CLAIMED, DONE, FAILED = "pending", "claimed", "done", "failed"


@dataclass(frozen=True)
class WorkItem:
    id: int
    queue: str
    key: str
    payload: dict[str, Any]
    attempts: int


class WorkQueue(abc.ABC):
    """At-least-once delivery: an item claimed by a process that dies goes back to the queue on restart.
    Back-ends are plugins (:data:`QUEUE_BACKENDS`), one per database dialect, built on the state engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @abc.abstractmethod
    def put(self, queue: str, key: str, payload: dict[str, Any]) -> bool:
        """Add an item unless one with the same ``key`` is already there; True when added."""

    @abc.abstractmethod
    def claim(self, queue: str, key_prefix: str | None = None,
              exclude_prefixes: Collection[str] = ()) -> WorkItem | None:
        """Take the oldest pending item (whose key starts with ``key_prefix``, if given, and with none of
        ``exclude_prefixes``), or None."""

    @abc.abstractmethod
    def release(self, item: WorkItem) -> None:
        """Give back a claimed item untouched: it did not count as an attempt."""

    @abc.abstractmethod
    def complete(self, item: WorkItem) -> None:
        """Mark a claimed item done."""

    @abc.abstractmethod
    def fail(self, item: WorkItem, error: str, *, retry: bool) -> None:
        """Give a claimed item back (``retry``) or mark it failed for good."""

    @abc.abstractmethod
    def backlog(self, queue: str, **payload_filter: Any) -> int:
        """Items pending or claimed, optionally only those whose payload has the given values."""

    @abc.abstractmethod
    def requeue_claimed(self, queue: str) -> int:
        """Return items claimed by a previous process to pending (call once at start-up)."""


#: Work-queue back-ends by the database dialect they run on (entry-point group ``livewatch.work_queues``).
QUEUE_BACKENDS: Registry[WorkQueue] = Registry("livewatch.work_queues", WorkQueue, "work-queue back-end")


def work_queue_for(engine: Engine) -> WorkQueue:
    """The queue back-end registered for the engine's dialect (sqlite, postgresql, or a plugin's)."""
    return QUEUE_BACKENDS.get(engine.dialect.name)(engine)
