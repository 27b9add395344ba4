"""How long a stream's capture waits between checks of its origin: the back-off after failures, kept short
while the registered window is open, and the deadline of one resolution."""

from __future__ import annotations

from datetime import datetime

from livewatch.fields import CaptureSettings

#: While the registered window is open, a stream that went off air is checked at least this often, and at
#: least as often as one awaited before its start (``poll_interval_s``): every second of back-off past the
#: origin's return is a second of broadcast lost (an HLS playlist's look-back recovers some, so HLS is checked
#: within half the playlist's length when that is shorter).
WINDOW_BACKOFF_S = 4.0


def resolve_deadline_s(settings: CaptureSettings) -> float:
    """Total time one resolution may take: platform extractors make several requests, so several reads'
    worth, and never under 20 s."""
    return max(20.0, 4 * settings.rw_timeout_s)


def backoff_s(settings: CaptureSettings, failures: int, now: datetime, window_end: datetime,
              playlist_span_s: float) -> float:
    """The wait before the next check or connection, doubling with the ``failures`` in a row. While the
    registered window is open it stays short, never under backoff_base_s (connections that end at once
    must not loop)."""
    delay = min(settings.backoff_base_s * 2.0 ** failures, settings.backoff_max_s)
    if now < window_end:
        cap = min(WINDOW_BACKOFF_S, settings.poll_interval_s)
        cap = min(cap, playlist_span_s / 2) if playlist_span_s else cap
        delay = min(delay, max(cap, settings.backoff_base_s))
    return delay
