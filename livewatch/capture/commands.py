"""ffmpeg and ffprobe command lines, built by pure functions (tested as exact argument lists).

Input options (reconnect, ``-rw_timeout``, headers, where to start in a live playlist) come before ``-i``,
where ffmpeg applies them to the input. There is deliberately no ``-re``: a recorder reads as fast as the
stream arrives, never at playback speed. One process writes both outputs: the stream copied into MPEG-TS
segments (crash-safe: a cut-off TS file still plays), 16 kHz mono WAV segments for Whisper and, when frames
are on, still frames for the screen readers with the picture's black and frozen spells (:func:`frame_args`).
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from livewatch.capture.base import ResolvedStream
from livewatch.capture.picture_filter import picture_filters
from livewatch.errors import UnsafeUrl

#: ffmpeg's HTTP reconnect options, for http(s) inputs (HLS playlists and segments, FLV).
HTTP_RECONNECT = {
    "reconnect": 1,
    "reconnect_streamed": 1,
    "reconnect_on_network_error": 1,
    "reconnect_delay_max": 5,
}
AUDIO_SAMPLE_RATE = 16_000
#: An RTMP server with no one publishing (nginx-rtmp) accepts the play request and then sends nothing, so a
#: probe would wait out the whole read timeout; with a publisher, audio packets arrive at once.
RTMP_PROBE_TIMEOUT_S = 3.0
#: Microseconds of media a probe reads to list the streams, and ffmpeg on a stream without a playlist (RTMP,
#: HTTP-FLV) before it writes anything: its default (5 s) held the first output back that long, long enough
#: for the stall watchdog to stop a recorder on a loaded machine.
PROBE_ANALYZE_US = 1_000_000

#: Fewest playlist reloads without a new segment before ffmpeg ends an HLS input itself (``-m3u8_hold_counters``):
#: a live playlist is reloaded about twice per segment, so fewer would end healthy streams.
MIN_HOLD_COUNTERS = 3

#: ffmpeg protocols each source may use (``-protocol_whitelist``), by the media URL's scheme. A playlist,
#: a redirect or a nested URL can then never make ffmpeg open ``file``, ``data``, ``concat``, ``subfile``,
#: ``pipe`` or anything else that reads this machine. HLS over http keeps https and tls: CDNs redirect
#: http to https and list https segments in http playlists, and neither reaches anything local. ``crypto``
#: is HLS's AES-128 layer over those same network protocols.
HLS_PROTOCOLS = "https,tls,tcp,crypto,http"
PROTOCOLS = {
    "http": "http,tcp,https,tls",
    "https": "https,tls,tcp,http",
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmps,tls,tcp",
    "rtmpt": "rtmpt,http,tcp",
    "rtmpts": "rtmpts,https,tls,tcp,http",
    "rtsp": "rtsp,rtp,tcp,udp",
    "rtsps": "rtsps,rtp,tls,tcp,udp",
    "srt": "srt",
}
#: Protocols no stream may ever be given, even if a configuration allows the scheme by mistake.
LOCAL_PROTOCOLS = frozenset({"file", "data", "pipe", "fd", "concat", "concatf", "subfile", "cache", "async",
                             "crypto", "hls", "unix", "tee", "android_content"})


@dataclass(frozen=True)
class RecordPlan:
    """Where one ffmpeg process writes, and how it numbers and cuts segments."""

    media_pattern: Path
    audio_pattern: Path
    media_list: Path
    audio_list: Path
    start_number: int
    segment_seconds: float


@dataclass(frozen=True)
class FramePlan:
    """Where one ffmpeg process writes still frames (``pattern``: one ``%08d``, the frame's output time in
    frame intervals) and its picture metadata, at what rate and width."""

    pattern: Path
    metadata: Path
    frames_per_second: float
    max_width: int
    #: Shortest black or frozen spell ffmpeg marks; how long one must last to matter is the rules' business.
    black_min_s: float = 2.0
    frozen_min_s: float = 2.0


def header_lines(headers: Mapping[str, str]) -> str:
    """ffmpeg's ``-headers`` value: ``Name: value`` lines, each ending in CRLF (User-Agent goes apart)."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items() if name.lower() != "user-agent")


def protocol_whitelist(stream: ResolvedStream) -> str:
    """The ``-protocol_whitelist`` for ``stream``: only the network protocols its kind of source needs.

    A scheme livewatch knows nothing about (one an operator added to ``allowed_url_schemes``) gets only
    its own protocol. Local protocols are refused outright (the URL check refuses them earlier; this is
    the last wall).
    """
    scheme = urllib.parse.urlsplit(stream.media_url).scheme.lower()
    if not scheme or LOCAL_PROTOCOLS.intersection(scheme.split("+")) or not scheme.replace("-", "").isalnum():
        raise UnsafeUrl(f"ffmpeg is never given a {scheme or 'scheme-less'} URL")
    if stream.kind == "hls" and scheme in ("http", "https"):
        return HLS_PROTOCOLS
    return PROTOCOLS.get(scheme, scheme)


def hold_counters(stall_timeout_s: float, segment_s: float) -> int | None:
    """``-m3u8_hold_counters`` for a live playlist of ``segment_s`` segments: ffmpeg then ends by itself (EOF,
    every output flushed and listed) on a playlist that stops advancing, two seconds before the watchdog would
    stop it at ``stall_timeout_s``. A watchdog stop interrupts the writes: what ffmpeg held unwritten (a short
    WAV segment entirely) is lost, and the stale segments behind it are fetched again on the next connection.

    ffmpeg reloads a segment's length after the last segment it read, then every half segment, counting each
    reload that brings nothing new. None (ffmpeg's default, the watchdog decides) where that leaves fewer than
    MIN_HOLD_COUNTERS reloads."""
    if segment_s <= 0:
        return None
    counters = 1 + math.floor(2 * (stall_timeout_s - 2 - segment_s) / segment_s)
    return counters if counters >= MIN_HOLD_COUNTERS else None


def input_options(
    stream: ResolvedStream, *, rw_timeout_s: float, live_start_index: int | None = None,
    hold: int | None = None,
) -> dict[str, Any]:
    options: dict[str, Any] = {"rw_timeout": int(rw_timeout_s * 1_000_000), "fflags": "+discardcorrupt",
                               "protocol_whitelist": protocol_whitelist(stream)}
    if stream.kind in ("rtmp", "progressive"):
        options["analyzeduration"] = PROBE_ANALYZE_US
    if stream.media_url.lower().startswith(("http://", "https://")):
        if stream.kind != "progressive":
            # Not for one long response (HTTP-FLV): reconnecting inside ffmpeg would splice a new stream into
            # the old one's timeline, and holds a refused connection for seconds of retries; livewatch's own
            # reconnect opens a new connection, placed by its own media.
            options.update(HTTP_RECONNECT)
        agent = next((v for k, v in stream.headers.items() if k.lower() == "user-agent"), None)
        if agent:
            options["user_agent"] = agent
        lines = header_lines(stream.headers)
        if lines:
            options["headers"] = lines
    if stream.kind == "hls" and live_start_index is not None:
        options["live_start_index"] = live_start_index
    if stream.kind == "hls" and hold is not None:
        options["m3u8_hold_counters"] = hold
    return options


def record_args(
    stream: ResolvedStream,
    plan: RecordPlan,
    *,
    rw_timeout_s: float,
    live_start_index: int | None = None,
    hold: int | None = None,
    ffmpeg_bin: str = "ffmpeg",
    input_url: str | None = None,
    duration_s: float | None = None,
    frames: FramePlan | None = None,
) -> list[str]:
    """The full ffmpeg argv for one connection; ``hold`` is an HLS input's ``-m3u8_hold_counters``.
    ``input_url`` (``pipe:N``) is a fragmented MP4 that livewatch feeds itself (DASH segments, fetched in
    order), read instead of the stream's URL: then only that pipe may be opened. ``frames``: also write still
    frames (:func:`frame_args`)."""
    # Frames need the video decoded (the media output only copies it): frames no reference points to are
    # skipped, a third less work on streams with B-frames, and a frame at most a few hundredths of a second
    # off its time is as good for reading the screen.
    video_decoding = {} if frames is None else {"skip_frame:v": "noref"}
    if input_url is not None:
        source = ffmpeg.input(input_url, f="mp4", fflags="+discardcorrupt", protocol_whitelist="pipe", **video_decoding)
    else:
        # ``duration_s``: read that many seconds of media and end (an HLS playlist's leftover from before its
        # origin's restart, recorded without running on into the new stream: see hls.stale_leftover_s).
        limit = {} if duration_s is None else {"t": f"{duration_s:.3f}"}
        source = ffmpeg.input(
            stream.media_url,
            **input_options(stream, rw_timeout_s=rw_timeout_s, live_start_index=live_start_index, hold=hold),
            **limit, **video_decoding,
        )
    # Every packet written through to the segment file as it comes: a watchdog stop (a second SIGINT that
    # fails all writes) then loses nothing ffmpeg received; buffered, up to 8 s of WAV never reached the disk.
    segment = {"f": "segment", "segment_time": f"{plan.segment_seconds:g}", "segment_list_type": "csv",
               "segment_start_number": plan.start_number, "segment_format_options": "flush_packets=1"}
    media = ffmpeg.output(
        source["v?"], source["a?"], str(plan.media_pattern),
        c="copy", segment_format="mpegts", reset_timestamps=1, segment_list=str(plan.media_list), **segment,
    )
    audio = ffmpeg.output(
        source["a:0"], str(plan.audio_pattern),
        ac=1, ar=AUDIO_SAMPLE_RATE, segment_list=str(plan.audio_list), **{"c:a": "pcm_s16le"}, **segment,
    )
    return [
        ffmpeg_bin, "-hide_banner", "-nostats", "-loglevel", "warning", "-n",
        "-progress", "pipe:1", "-stats_period", "1",
        *ffmpeg.merge_outputs(media, audio).get_args(),
        *(frame_args(frames) if frames is not None else []),
    ]


def frame_rate(frames_per_second: float) -> str:
    """The ``fps`` filter's rate as written, and what a frame's number is divided by: three decimals at most,
    so ffmpeg's rational and livewatch's float agree exactly."""
    return f"{round(frames_per_second, 3):g}"


def frame_args(plan: FramePlan) -> list[str]:
    """The third output: the first video stream at ``fps``, scaled down to ``max_width`` (even height), through
    blackdetect and freezedetect, into one JPEG per frame.

    It goes through the ``tee`` muxer with ``onfail=ignore``, so that neither a stream without video nor a
    frame that cannot be written ends the recording: the JPEG slave then fails alone, and a ``null`` slave
    fed the copied audio keeps the output alive (an output with no stream at all is fatal to ffmpeg).
    ``-frame_pts 1`` numbers each file by its output time in 1/fps units, so a frame's offset into the
    connection's recording is ``n / fps``, on the same timeline as the segment lists. The samples stay
    limited-range YUV (``-strict unofficial``): converting them to JPEG's full range costs a second
    scaling pass and changes nothing a reader sees."""
    chain = (f"fps={frame_rate(plan.frames_per_second)},scale='min({plan.max_width},iw)':-2,format=yuv420p,"
             f"{picture_filters(plan.metadata, plan.black_min_s, plan.frozen_min_s)}")
    jpeg = "[select=v:f=image2:frame_pts=1:atomic_writing=1:onfail=ignore]" + tee_target(plan.pattern)
    return ["-map", "0:v:0?", "-map", "0:a:0", "-vf", chain, "-c:v", "mjpeg", "-q:v", "4",
            "-strict:v", "unofficial", "-c:a", "copy", "-f", "tee", f"{jpeg}|[select=a:f=null]-"]


def tee_target(pattern: Path) -> str:
    """An image2 pattern as one tee slave's file name: ``%`` doubled outside the frame number (image2 reads
    the folder's too), then backslash, ``'`` and ``|`` escaped for the tee muxer's list."""
    folder, name = str(pattern.parent), pattern.name
    text = f"{folder.replace('%', '%%')}/{name}"
    for special in ("\\", "'", "|"):
        text = text.replace(special, "\\" + special)
    return text


def is_rtmp(stream: ResolvedStream) -> bool:
    return urllib.parse.urlsplit(stream.media_url).scheme.lower().startswith("rtmp")


def probe_args(stream: ResolvedStream, *, rw_timeout_s: float, ffprobe_bin: str = "ffprobe") -> list[str]:
    """ffprobe argv that answers "is this stream there?" for sources without a playlist to read."""
    if is_rtmp(stream):
        rw_timeout_s = min(rw_timeout_s, RTMP_PROBE_TIMEOUT_S)
    options = input_options(stream, rw_timeout_s=rw_timeout_s)
    for key in (*HTTP_RECONNECT, "analyzeduration"):  # a probe should fail fast, not retry; set below
        options.pop(key, None)
    # One second of media tells which streams there are; ffprobe's default (5 s) delayed every RTMP start by
    # that much (nginx-rtmp: on air 8 s late).
    args = [ffprobe_bin, "-hide_banner", "-loglevel", "error", "-analyzeduration", str(PROBE_ANALYZE_US)]
    for key, value in options.items():
        args += [f"-{key}", str(value)]
    return [*args, "-show_entries", "stream=codec_type", "-of", "json", stream.media_url]
