"""The capture context: everything a capture needs, passed in rather than held in module globals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from livewatch.capture.registry import SourceRegistry
from livewatch.fields import DEFAULT_URL_SCHEMES
from livewatch.queue import WorkQueue
from livewatch.state.layout import DataDir
from livewatch.state.runs import RunLog


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CaptureContext:
    data: DataDir
    store: RunLog
    queue: WorkQueue
    sources: SourceRegistry
    #: At most this many ffmpeg recordings at once (``[concurrency] captures``).
    slots: threading.BoundedSemaphore
    ffmpeg_bin: str = "ffmpeg"
    ffprobe_bin: str = "ffprobe"
    #: The global configuration's ``allowed_url_schemes``: every URL ffmpeg or ffprobe gets must use one.
    allowed_url_schemes: tuple[str, ...] = DEFAULT_URL_SCHEMES
    clock: Callable[[], datetime] = field(default=utc_now)
    #: ffmpeg gets SIGKILL when this process dies (a distributed worker: the run may resume on another
    #: machine, which cannot stop it). False for ``livewatch run``: its ffmpeg records on through the
    #: monitor's crash and restart, and the restarted monitor keeps what it wrote and stops it (no gap).
    ffmpeg_dies_with_us: bool = False


class StopSignal:
    """Why a capture is asked to stop: the event was removed or changed (final), the monitor is shutting
    down (the run stays open and a restarted monitor continues it), or the watch was ended early (finished
    with what it recorded)."""

    REMOVED = "event removed from the registrations"
    RESCHEDULED = "event rescheduled"
    SHUTDOWN = "monitor shutting down"
    #: The watch was ended early on purpose (Ctrl-C in ``livewatch watch``): the run is finished as it is.
    ENDED = "stopped by the inspector"

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when stopping was asked for meanwhile."""
        return self._event.wait(max(0.0, seconds))
