"""Which clock places a new connection's media on the wall clock (see :mod:`livewatch.capture.clock`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from livewatch.capture.clock import ArrivalClock, BroadcastClock, HlsClock
from livewatch.capture.dash import first_to_record
from livewatch.capture.dash_feed import DashClock
from livewatch.capture.probe import LiveCheck
from livewatch.fields import CaptureSettings


def clock_for(check: LiveCheck, settings: CaptureSettings, *, recorded_end: datetime | None,
              newest_recorded_end: datetime | None, now: Callable[[], datetime]) -> BroadcastClock:
    """The clock for the connection ``check`` found live. ``recorded_end``: where the stream's recorded media
    ends so far; ``newest_recorded_end``: the end of the playlist segment recorded last (HLS without date-times
    continues right after it)."""
    # HLS, with program date-times or without (then placed back from the playlist's live edge, not from
    # the connection's start: ffmpeg begins max_lookback_s behind the edge).
    if check.stream is not None and check.start_index is not None and check.segments:
        first = check.segments[check.start_index].sequence
        continues_at = newest_recorded_end if check.continues else None
        return HlsClock(check.stream, list(check.segments), first, timeout=settings.rw_timeout_s,
                        continues_at=continues_at, not_before=recorded_end)
    # DASH: livewatch feeds ffmpeg the segments from the one chosen, placed by the manifest's clock.
    manifest = check.manifest
    start = first_to_record(manifest, recorded_end, settings.max_lookback_s) if manifest else None
    if check.stream is not None and manifest is not None and start is not None:
        return DashClock(check.stream, manifest, start, timeout=settings.rw_timeout_s)
    # Live as it arrives (RTMP, HTTP-FLV): by when the media came, not when ffmpeg was started (it may wait
    # on the server for a publisher, and takes its own time to start).
    return ArrivalClock(now())
