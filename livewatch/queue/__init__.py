"""Durable hand-off between stages (closed audio segments → transcription)."""

from __future__ import annotations

from livewatch.queue.base import WorkItem, WorkQueue
from livewatch.queue.postgresql import PostgresWorkQueue, work_queue_for
from livewatch.queue.sqlite import SqliteWorkQueue

TRANSCRIBE = "transcribe"

__all__ = ["TRANSCRIBE", "PostgresWorkQueue", "SqliteWorkQueue", "WorkItem", "WorkQueue", "work_queue_for"]
