"""Is the stream live now, and if so where should recording start and what time is it there?"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta

from livewatch.capture.base import ResolvedStream
from livewatch.capture.commands import RTMP_PROBE_TIMEOUT_S, hold_counters, is_rtmp, probe_args
from livewatch.capture.dash import DashManifest, fetch_manifest
from livewatch.capture.fetch import printable
from livewatch.capture.hls import HlsSegment, fetch_media_playlist, resume_point, start_index
from livewatch.capture.urls import UrlPolicy
from livewatch.errors import CaptureError, StreamOffline, UnsafeUrl
from livewatch.fields import DEFAULT_URL_SCHEMES, CaptureSettings

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
    #: DASH only: the manifest as read, whose clock places what is recorded.
    manifest: DashManifest | None = None
    #: A URL the origin handed over was refused (a local resource, a scheme not allowed): see ``reason``.
    refused: bool = False
    #: The origin says the broadcast is over (``EXT-X-ENDLIST``; an RTMP server with no one publishing), not
    #: merely that it cannot be reached now.
    ended: bool = False
    #: Not probed: the recorder's own connection is the check (a connection that brings no media is then
    #: "not live", with what it said, rather than a failed recording).
    unprobed: bool = False
    #: HLS without date-times: the segment recording starts at follows directly the one recorded last, so it
    #: is placed right after that media (see :func:`~livewatch.capture.hls.resume_point`).
    continues: bool = False
    #: With ``continues``: seconds of listed segments between the one recorded last and the one recording starts
    #: at, already recorded by the previous connection without its clock seeing them listed.
    skipped_s: float = 0.0
    #: The stream URL answers that there is nothing there (HTTP 404 or 410).
    gone: bool = False

    def hold_counters(self, stall_timeout_s: float) -> int | None:
        """HLS only: ffmpeg's ``-m3u8_hold_counters`` for the segments this playlist lists."""
        if not self.segments:
            return None
        return hold_counters(stall_timeout_s, max(segment.duration for segment in self.segments))


def check_live(
    stream: ResolvedStream, settings: CaptureSettings, *, resume_after: datetime | None,
    ffprobe_bin: str = "ffprobe", last_newest: tuple[int, str] | None = None, unlisted_s: float = 0.0,
    allowed_schemes: tuple[str, ...] = DEFAULT_URL_SCHEMES,
) -> LiveCheck:
    """Never raises for anything the origin sends: a bad answer is ``LiveCheck(live=False, error=True)``
    with the reason. ``last_newest`` is the (sequence, URI) of the newest segment the previous connection
    started from; a playlist without date-times whose newest segment is still that one is not advancing.
    ``unlisted_s``: how far that connection's output reached past it (see :func:`resume_point`)."""
    # Nothing reaches ffprobe or ffmpeg that has not passed this policy (see livewatch.capture.urls).
    policy = UrlPolicy(stream.page_url, allowed_schemes, resolve_timeout_s=settings.rw_timeout_s)
    try:
        policy.check(stream.media_url, "media URL")
    except UnsafeUrl as err:
        return LiveCheck(False, str(err), error=True, refused=True)
    except CaptureError as err:
        return LiveCheck(False, str(err), error=True)
    if stream.kind == "hls":
        return _check_hls(stream, settings, resume_after, last_newest, unlisted_s, policy)
    if stream.kind == "dash":
        return _check_dash(stream, settings, resume_after, policy)
    if not settings.probe_live:
        # The recorder's own connection is the check: it records from the first packet (an RTMP server keeps a
        # player of a stream no one publishes yet waiting, and sends it the broadcast the moment it starts),
        # where a probe, then ffmpeg's start, lose the first seconds; and a source that serves one client
        # only is not used up by a probe.
        return LiveCheck(True, "not probed: the recorder's connection is the check", stream=stream,
                         unprobed=True)
    try:
        args = probe_args(stream, rw_timeout_s=settings.rw_timeout_s, ffprobe_bin=ffprobe_bin)
        done = subprocess.run(args, capture_output=True, timeout=settings.rw_timeout_s + 10, check=False)
    except subprocess.TimeoutExpired:
        return LiveCheck(False, "probe timed out", error=True)
    except (OSError, ValueError) as err:  # ffprobe missing; a NUL byte in the URL
        return LiveCheck(False, f"cannot probe {printable(stream.media_url)}: {printable(err)}", error=True)
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()
        return nothing_arrived(stream, said or "probe failed", min(settings.rw_timeout_s, RTMP_PROBE_TIMEOUT_S))
    try:
        answer = json.loads(done.stdout or b"{}")
        streams = (answer.get("streams") if isinstance(answer, dict) else None) or []
    except (json.JSONDecodeError, UnicodeDecodeError):
        streams = []
    if not streams:
        return LiveCheck(False, "no media streams answered")
    return LiveCheck(True, "stream answers", stream=stream)


def keeps_resolution(check: LiveCheck, resolved: ResolvedStream) -> bool:
    """Whether the stream URL a page resolved to stays the one checked: while it is live, or an HLS playlist
    that answers with nothing new (not advancing, no segments yet). One that fails (an error, a refused URL)
    or is gone (404, ``EXT-X-ENDLIST``, a probe with no stream) sends the next check back to the page, which
    may name another URL by then (platform URLs expire; a restarted broadcast gets a new one)."""
    if check.live:
        return True
    return resolved.kind == "hls" and not (check.error or check.refused or check.gone or check.ended)


def nothing_arrived(stream: ResolvedStream, said: str, waited_s: float, *, timed_out: bool = False) -> LiveCheck:
    """Not live: a connection to ``stream`` (a probe's, or the recorder's as the check) ended with ``said`` on
    stderr and no media, after ``waited_s`` seconds; ``timed_out`` when it was stopped for bringing nothing."""
    said = said.strip()
    if is_rtmp(stream) and (timed_out or said.endswith("Input/output error")):
        # The server took the play request and sent nothing: that is what nginx-rtmp does while idle, and
        # after a publisher leaves (it does not close its players' connections: this is the unpublish).
        return LiveCheck(False, f"no one is publishing (the RTMP server answered but sent no media within "
                                f"{waited_s:.0f} s)", ended=True)
    return LiveCheck(False, printable(said[-300:] or "the connection brought no media"))


def _check_hls(stream: ResolvedStream, settings: CaptureSettings, resume_after: datetime | None,
               last_newest: tuple[int, str] | None, unlisted_s: float, policy: UrlPolicy) -> LiveCheck:
    try:
        # rw_timeout_s bounds each request as a whole (master and media playlist), not each read.
        playlist = fetch_media_playlist(stream.media_url, stream.headers, timeout=settings.rw_timeout_s,
                                        policy=policy)
    except UnsafeUrl as err:
        return LiveCheck(False, str(err), error=True, refused=True)
    except StreamOffline as err:
        return LiveCheck(False, str(err), gone=True)
    except CaptureError as err:
        return LiveCheck(False, str(err), error=True)
    if playlist.ended:
        return LiveCheck(False, "playlist has ended (EXT-X-ENDLIST)", ended=True)
    if not playlist.segments:
        return LiveCheck(False, "playlist has no segments yet")
    last = playlist.segments[-1]
    newest = last.end_time
    if resume_after is not None and newest is not None and newest <= resume_after + ADVANCE_SLACK:
        return LiveCheck(False, f"playlist is not advancing (newest media ends {newest.isoformat()})")
    continues, skipped_s = False, 0.0
    if newest is None and last_newest is not None:
        # Without date-times the segments listed after the one recorded last tell whether anything new was
        # broadcast; what is listed up to it (an origin's stale playlist) is never recorded again.
        point = resume_point(playlist.segments, last_newest, unlisted_s)
        if point.index is None:
            return LiveCheck(False, f"playlist is not advancing (newest segment is still #{last.sequence})")
        index, continues, skipped_s = point.index, point.continues, point.skipped_s
    else:
        index = start_index(playlist, resume_after, settings.max_lookback_s, after=last_newest)
    # ffmpeg reads the media playlist itself; hand it the variant we chose, not the master.
    chosen = ResolvedStream(stream.page_url, playlist.url, "hls", stream.headers, stream.title, stream.live)
    reason = "playlist is live" + "".join(f"; {note}" for note in playlist.notes)
    return LiveCheck(True, reason, stream=chosen, start_index=index,
                     wall_base=playlist.segments[index].program_date_time, segments=tuple(playlist.segments),
                     continues=continues, skipped_s=skipped_s)


def _check_dash(stream: ResolvedStream, settings: CaptureSettings, resume_after: datetime | None,
                policy: UrlPolicy) -> LiveCheck:
    """The manifest says it: ``static`` is over, a newest segment no later than what we have is not advancing
    (a packager killed leaves its last manifest up), anything else is live."""
    try:
        manifest = fetch_manifest(stream.media_url, stream.headers, timeout=settings.rw_timeout_s, policy=policy)
    except UnsafeUrl as err:
        return LiveCheck(False, str(err), error=True, refused=True)
    except StreamOffline as err:
        return LiveCheck(False, str(err))
    except CaptureError as err:
        return LiveCheck(False, str(err), error=True)
    if not manifest.dynamic:
        return LiveCheck(False, "the DASH manifest is static (the broadcast is over)", ended=True)
    if manifest.timed and not manifest.segments:
        return LiveCheck(False, "the DASH manifest lists no segments yet")
    newest = manifest.newest_end
    if resume_after is not None and newest is not None and newest <= resume_after + ADVANCE_SLACK:
        return LiveCheck(False, f"the DASH manifest is not advancing (newest media ends {newest.isoformat()})")
    if not manifest.timed or not manifest.media_template:
        return LiveCheck(False, "the DASH manifest lists no segment times (SegmentTemplate): not supported",
                         error=True)
    return LiveCheck(True, "the DASH manifest is live", stream=stream, manifest=manifest)
