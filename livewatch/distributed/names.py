"""The names the roles agree on: Celery queues and task names (a scheduler and workers of one deployment may be
different releases for a while during an upgrade, so these never change meaning)."""

from __future__ import annotations

from typing import Final

#: Long tasks, one per event's window: acknowledged late, rejected (redelivered) when their worker is lost.
CAPTURE_QUEUE: Final = "capture"
#: One task per closed segment; the task takes its stream's lane and transcribes every contiguous pending one.
TRANSCRIBE_QUEUE: Final = "transcribe"
#: Rule checks, reports and alerts.
CHECK_QUEUE: Final = "check"
#: One task per captured frame; the task takes its stream's screen lane and reads every pending frame.
SCREEN_QUEUE: Final = "screen"
QUEUES: Final = (CAPTURE_QUEUE, TRANSCRIBE_QUEUE, CHECK_QUEUE, SCREEN_QUEUE)

#: ``capture(event_id: str, window_start: str)`` (ISO 8601, aware): record the event's registered window.
CAPTURE_TASK: Final = "livewatch.capture"
#: ``transcribe(run_id: int, stream: int)``: transcribe the stream's pending segments in order.
TRANSCRIBE_TASK: Final = "livewatch.transcribe"
#: ``screen(run_id: int, stream: int)``: read the stream's pending frames in order (and finish an ended one).
SCREEN_TASK: Final = "livewatch.screen"
#: ``check(event_id: str, final: bool)``: check the event, write its report, send its alerts.
CHECK_TASK: Final = "livewatch.check"
