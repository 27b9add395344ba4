"""Is the stream live now, and if so where should recording start and what time is it there?"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta

from livewatch.capture.base import ResolvedStream
from livewatch.capture.commands import probe_args
from livewatch.capture.hls import HlsSegment, fetch_media_playlist, start_index
from livewatch.errors import CaptureError, StreamOffline
from livewatch.fields import CaptureSettings

#: A playlist whose newest segment ends no later than this after what we already have is not advancing.
ADVANCE_SLACK = timedelta(milliseconds=500)


@dataclass(frozen=True)
class LiveCheck:
    live: bool
    reason: str
    #: Not live because something failed (network, HTTP 403/5xx, resolver), not because it is off air.
    error: bool = False
    stream: ResolvedStream | None = None
    #: HLS only: the playlist index ffmpeg should start at (``-live_start_index``).
    start_index: int | None = None
    #: The broadcast's wall-clock time of the first media ffmpeg will write, when the stream states it.
    wall_base: datetime | None = None
    #: HLS only: the playlist as read, so recording can follow its program date-times.
    segments: tuple[HlsSegment, ...] = ()


def check_live(
    stream: ResolvedStream, settings: CaptureSettings, *, resume_after: datetime | None, ffprobe_bin: str = "ffprobe"
) -> LiveCheck:
    if stream.kind == "hls":
        return _check_hls(stream, settings, resume_after)
    args = probe_args(stream, rw_timeout_s=settings.rw_timeout_s, ffprobe_bin=ffprobe_bin)
    try:
        done = subprocess.run(args, capture_output=True, timeout=settings.rw_timeout_s + 10, check=False)
    except subprocess.TimeoutExpired:
        return LiveCheck(False, "probe timed out", error=True)
    if done.returncode != 0:
        return LiveCheck(False, done.stderr.decode(errors="replace").strip()[-300:] or "probe failed")
    try:
        streams = json.loads(done.stdout or b"{}").get("streams") or []
    except json.JSONDecodeError:
        streams = []
    if not streams:
        return LiveCheck(False, "no media streams answered")
    return LiveCheck(True, "stream answers", stream=stream)


def _check_hls(stream: ResolvedStream, settings: CaptureSettings, resume_after: datetime | None) -> LiveCheck:
    try:
        playlist = fetch_media_playlist(stream.media_url, stream.headers, timeout=settings.rw_timeout_s)
    except StreamOffline as err:
        return LiveCheck(False, str(err))
    except CaptureError as err:
        return LiveCheck(False, str(err), error=True)
    if playlist.ended:
        return LiveCheck(False, "playlist has ended (EXT-X-ENDLIST)")
    if not playlist.segments:
        return LiveCheck(False, "playlist has no segments yet")
    newest = playlist.segments[-1].end_time
    if resume_after is not None and newest is not None and newest <= resume_after + ADVANCE_SLACK:
        return LiveCheck(False, f"playlist is not advancing (newest media ends {newest.isoformat()})")
    index = start_index(playlist, resume_after, settings.max_lookback_s)
    # ffmpeg reads the media playlist itself; hand it the variant we chose, not the master.
    chosen = ResolvedStream(stream.page_url, playlist.url, "hls", stream.headers, stream.title, stream.live)
    return LiveCheck(True, "playlist is live", stream=chosen, start_index=index,
                     wall_base=playlist.segments[index].program_date_time, segments=tuple(playlist.segments))
