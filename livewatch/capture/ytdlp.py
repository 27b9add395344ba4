"""Platform pages (Douyin, Bilibili, YouTube, ... any page yt-dlp understands), resolved with yt-dlp's
Python API into a media URL and the HTTP headers the CDN expects."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yt_dlp

from livewatch.capture.base import MediaKind, ResolvedStream, Source
from livewatch.errors import CaptureError, StreamOffline

#: live_status values that mean "exists, but not live now".
_OFFLINE_STATUSES = {"is_upcoming", "was_live", "post_live", "not_live"}
#: Phrases in yt-dlp's errors that mean the room is simply not live.
_OFFLINE_PHRASES = re.compile(
    r"not currently live|is offline|will begin|premieres in|live event will|no longer live|not live|"
    r"this live stream has ended|直播已结束|未开播",
    re.IGNORECASE,
)


class _QuietLogger:
    """yt-dlp prints to stderr unless given a logger; the capture log says what matters."""

    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


class YtDlpSource(Source):
    """Any http(s) page; the catch-all below direct media URLs."""

    name = "yt-dlp"
    priority = 10
    matchers: ClassVar[tuple[re.Pattern[str], ...]] = (re.compile(r"^https?://", re.IGNORECASE),)

    #: One format ffmpeg can read alone: audio is required (Whisper needs it), video if it comes with it.
    format_selector = "best[acodec!=none][vcodec!=none]/best[acodec!=none]/best"

    def __init__(self, socket_timeout: float = 15.0) -> None:
        self.params: dict[str, Any] = {
            "format": self.format_selector,
            "quiet": True,
            "no_warnings": True,
            "noplaylist": True,
            "skip_download": True,
            "socket_timeout": socket_timeout,
            "logger": _QuietLogger(),
        }

    def resolve(self, url: str) -> ResolvedStream:
        try:
            with yt_dlp.YoutubeDL(self.params) as ydl:
                info = ydl.extract_info(url, download=False)
        except yt_dlp.utils.DownloadError as err:
            message = str(err).removeprefix("ERROR: ")
            if _OFFLINE_PHRASES.search(message):
                raise StreamOffline(f"{url}: {message}") from err
            raise CaptureError(f"yt-dlp cannot resolve {url}: {message}") from err
        if not isinstance(info, dict):
            raise CaptureError(f"yt-dlp returned nothing for {url}")
        if info.get("_type") == "playlist":
            entries = [e for e in info.get("entries") or [] if isinstance(e, dict)]
            if not entries:
                raise CaptureError(f"{url} is a playlist with no playable entry")
            info = entries[0]
        status = info.get("live_status")
        if status in _OFFLINE_STATUSES:
            raise StreamOffline(f"{url}: {status.replace('_', ' ')}")
        media_url = info.get("url")
        if not media_url:
            raise CaptureError(f"yt-dlp found no single playable format with audio at {url}")
        return ResolvedStream(
            page_url=url,
            media_url=str(media_url),
            kind=_kind(str(info.get("protocol") or ""), str(media_url)),
            headers={str(k): str(v) for k, v in (info.get("http_headers") or {}).items()},
            title=info.get("title"),
            live=True if info.get("is_live") else None,
        )


def _kind(protocol: str, media_url: str) -> MediaKind:
    if protocol.startswith("m3u8") or ".m3u8" in media_url.split("?", 1)[0]:
        return "hls"
    if protocol.startswith("rtmp"):
        return "rtmp"
    return "progressive"
