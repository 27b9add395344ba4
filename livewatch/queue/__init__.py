"""Durable hand-off between stages (closed audio segments → transcription)."""

from __future__ import annotations

from livewatch.queue.base import WorkItem, WorkQueue
from livewatch.queue.sqlite import SqliteWorkQueue

TRANSCRIBE = "transcribe"

__all__ = ["TRANSCRIBE", "SqliteWorkQueue", "WorkItem", "WorkQueue"]
