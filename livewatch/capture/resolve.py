"""Resolving a registered URL within a total deadline, whatever the source does.

yt-dlp's ``socket_timeout`` bounds each read, so a page served one byte a second holds a resolution for as
long as the page lasts, and a source plugin may fail in ways of its own. The resolution runs in a worker
thread that we wait for at most ``deadline_s``; past it the check is a bad answer and the capture carries on
(sleeps, checks again, records). A resolution that overran keeps its thread until the origin lets go of it;
while it does, the next check of that stream says so instead of starting another, so an origin cannot pile
up threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from livewatch.capture.base import ResolvedStream, Source
from livewatch.capture.fetch import printable
from livewatch.errors import CaptureError, LivewatchError, StreamNotFound

log = logging.getLogger(__name__)


class DeadlineResolver:
    """One per capture stream: at most one resolution of it runs at a time."""

    def __init__(self) -> None:
        self._overrunning: threading.Thread | None = None

    def resolve_chain(self, sources: Sequence[Source], url: str, deadline_s: float) -> ResolvedStream:
        """Resolve with the first source; where it finds no stream in the page, with each fallback in turn
        (each within its own deadline). When none finds one, the :class:`StreamNotFound` says what each
        source answered."""
        said: list[str] = []
        for source in sources:
            try:
                return self.resolve(source, url, deadline_s)
            except StreamNotFound as err:
                said.append(f"{source.name}: {err}")
        raise StreamNotFound(f"no stream found in {printable(url)} ({'; '.join(said)})")

    def resolve(self, source: Source, url: str, deadline_s: float) -> ResolvedStream:
        shown = printable(url)
        if self._overrunning is not None and self._overrunning.is_alive():
            raise CaptureError(f"resolving {shown}: the previous attempt is still held by the origin")
        box: dict[str, ResolvedStream | BaseException] = {}

        def work() -> None:
            try:
                box["value"] = source.resolve(url)
            except BaseException as err:  # handed to the waiting thread, which decides
                box["error"] = err

        thread = threading.Thread(target=work, name=f"resolve-{source.name}", daemon=True)
        thread.start()
        thread.join(deadline_s)
        if thread.is_alive():
            self._overrunning = thread
            raise CaptureError(f"resolving {shown} with {source.name}: no answer within {deadline_s:g} s "
                               "(total deadline)")
        value = box.get("value")
        if isinstance(value, ResolvedStream):
            return value
        error = box.get("error")
        if not isinstance(error, BaseException):
            raise CaptureError(f"resolving {shown} with {source.name} gave no result")
        if isinstance(error, LivewatchError):
            raise error
        # Anything else a resolver raises (a request error yt-dlp did not wrap, a plugin's bug) is one bad
        # answer for this check, not the end of the recording.
        log.warning("resolving %s with %s failed unexpectedly", shown, source.name, exc_info=error)
        raise CaptureError(f"resolving {shown} with {source.name} failed: "
                           f"{printable(f'{type(error).__name__}: {error}')}")
