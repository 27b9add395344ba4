"""Platform pages (Douyin, Bilibili, YouTube, ... any page yt-dlp understands), resolved with yt-dlp's
Python API into a media URL and the HTTP headers the CDN expects."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yt_dlp
from yt_dlp.networking.exceptions import RequestError

from livewatch.capture.base import MediaKind, ResolvedStream, Source
from livewatch.capture.urls import UrlPolicy
from livewatch.errors import CaptureError, StreamOffline

#: live_status values that mean "exists, but not live now".
_OFFLINE_STATUSES = {"is_upcoming", "was_live", "post_live", "not_live"}
#: Phrases in yt-dlp's errors that mean the room is simply not live.
_OFFLINE_PHRASES = re.compile(
    r"not currently live|is offline|will begin|premieres in|live event will|no longer live|not live|"
    r"this live stream has ended|直播已结束|未开播",
    re.IGNORECASE,
)


_QUOTED_URL = re.compile(r"'([A-Za-z][A-Za-z0-9+.-]*:[^']*)'")


class _QuietLogger:
    """yt-dlp prints to stderr unless given a logger; the capture log says what matters."""

    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


class _GuardedYoutubeDL(yt_dlp.YoutubeDL):  # type: ignore[misc]  # yt-dlp has no type hints
    """yt-dlp whose every request (the page, manifests, API calls) passes the stream's URL policy.

    The platform page is the watched party's, so what it links to is checked before yt-dlp fetches it,
    and where a request ended up (after redirects) is checked before its answer is used: yt-dlp itself
    never reads a local file or another service on this machine on the origin's behalf.
    """

    def __init__(self, params: dict[str, Any], policy: UrlPolicy) -> None:
        super().__init__(params)
        self.url_policy = policy

    def urlopen(self, req: Any) -> Any:
        url = req if isinstance(req, str) else getattr(req, "url", None) or req.get_full_url()
        self._vet(str(url), "page request")
        try:
            response = super().urlopen(req)
        except RequestError as err:
            # A redirect to file: fails inside yt-dlp's HTTP library, which names the URL it could not open;
            # say what the origin did rather than which adapter was missing.
            for named in _QUOTED_URL.findall(str(err.msg or "")):
                self._vet(named, "page request (redirected)")
            raise
        final = str(getattr(response, "url", url))
        try:
            self._vet(final, "page request (after redirects)")
        except CaptureError:
            response.close()
            raise
        return response

    def _vet(self, url: str, what: str) -> None:
        # data: URLs are decoded in memory by yt-dlp (inline manifests); they read nothing.
        if not url.lower().startswith("data:"):
            self.url_policy.check_not_local(url, what)


class YtDlpSource(Source):
    """Any http(s) page; the catch-all below direct media URLs."""

    name = "yt-dlp"
    priority = 10
    matchers: ClassVar[tuple[re.Pattern[str], ...]] = (re.compile(r"^https?://", re.IGNORECASE),)

    #: One format ffmpeg can read alone: audio is required (Whisper needs it), video if it comes with it.
    format_selector = "best[acodec!=none][vcodec!=none]/best[acodec!=none]/best"

    def __init__(self, socket_timeout: float = 15.0) -> None:
        self.socket_timeout = socket_timeout
        self.params: dict[str, Any] = {
            "format": self.format_selector,
            "quiet": True,
            "no_warnings": True,
            "noplaylist": True,
            "skip_download": True,
            "socket_timeout": socket_timeout,
            "logger": _QuietLogger(),
            # No local input of any kind: no file:// URLs, no cookie jar, .netrc or cache read from disk.
            "enable_file_urls": False,
            "cookiefile": None,
            "usenetrc": False,
            "cachedir": False,
        }

    def resolve(self, url: str) -> ResolvedStream:
        policy = UrlPolicy(url, resolve_timeout_s=self.socket_timeout)
        try:
            with _GuardedYoutubeDL(self.params, policy) as ydl:
                info = ydl.extract_info(url, download=False)
        except RequestError as err:  # raised outside an extractor (e.g. a redirect to a scheme yt-dlp refuses)
            raise CaptureError(f"yt-dlp cannot resolve {url}: {err.msg or type(err).__name__}") from err
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
        # A <video src="file:///..."> comes back from the generic extractor as it is; refuse it here, with
        # the reason, before anything opens it (the live check applies the configured schemes as well).
        policy.check_not_local(str(media_url), "yt-dlp's media URL")
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
