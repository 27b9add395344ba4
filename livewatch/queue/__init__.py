"""Durable hand-off between stages (closed audio segments → transcription, captured frames → the screen
readers): the port only. The back-ends live in ``livewatch/state/`` and are found through the
``livewatch.work_queues`` entry points."""

from __future__ import annotations

from livewatch.queue.base import CLAIMED, DONE, FAILED, PENDING, QUEUE_BACKENDS, WorkItem, WorkQueue, work_queue_for

TRANSCRIBE = "transcribe"
#: Captured frames (``livewatch.pipeline.screen.CapturedFrame``) for the screen readers.
SCREEN = "screen"

__all__ = ["CLAIMED", "DONE", "FAILED", "PENDING", "QUEUE_BACKENDS", "SCREEN", "TRANSCRIBE", "WorkItem",
           "WorkQueue", "work_queue_for"]
