"""Platform pages (Douyin, Bilibili, YouTube, ... any page yt-dlp understands), resolved with yt-dlp's
Python API into a media URL and the HTTP headers the CDN expects."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yt_dlp
from yt_dlp.networking.exceptions import RequestError

from livewatch.capture.base import MediaKind, ResolvedStream, Source
from livewatch.capture.urls import UrlPolicy
from livewatch.errors import CaptureError, StreamNotFound, StreamOffline

#: live_status values that mean "exists, but not live now".
_OFFLINE_STATUSES = {"is_upcoming", "was_live", "post_live", "not_live"}
#: Phrases in yt-dlp's errors that mean the room is simply not live.
_OFFLINE_PHRASES = re.compile(
    r"not currently live|is offline|will begin|premieres in|live event will|no longer live|not live|"
    r"this live stream has ended|直播已结束|未开播",
    re.IGNORECASE,
)


#: yt-dlp's errors end with advice for its own command line ("Use --list-formats ...", "use --cookies-from-browser
#: or --cookies ..."), which an operator of livewatch cannot follow: such sentences are dropped.
_CLI_ADVICE = re.compile(r"(?<![\w-])--[a-z]|yt-dlp -U|github\.com/yt-dlp|report this issue|\bupdate yt-dlp",
                         re.IGNORECASE)
#: A sentence ends at . ! ? or ; followed by a space (a URL's dots are not ends).
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
#: yt-dlp's own wording for what livewatch says in its words.
_REWORDED = (
    (re.compile(r"Requested format is not available\.?", re.IGNORECASE),
     "no format with audio that livewatch can record."),
)
#: yt-dlp does not know the page: no extractor for it and nothing the generic one recognises.
_UNSUPPORTED = re.compile(r"Unsupported URL|no video formats found|no media found", re.IGNORECASE)

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

    #: Audio is required (Whisper needs it), video is kept when it can be. One format with both first; then
    #: separate video and audio (DASH, split HLS renditions): from one manifest ffmpeg reads both, else the
    #: audio alone is recorded (see :func:`_chosen`); then audio alone; then whatever there is.
    format_selector = "best[acodec!=none][vcodec!=none]/bv*+ba/ba/best"

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
            said = operator_words(str(err.msg or type(err).__name__))
            raise CaptureError(f"yt-dlp cannot resolve {url}: {said}") from err
        except yt_dlp.utils.DownloadError as err:
            message = operator_words(str(err))
            if _OFFLINE_PHRASES.search(message):
                raise StreamOffline(f"{url}: {message}") from err
            if _UNSUPPORTED.search(message):
                raise StreamNotFound(f"yt-dlp finds no stream in {url}: {message}") from err
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
        chosen = _chosen(info)
        media_url = chosen.get("url")
        if not media_url:
            raise CaptureError(f"yt-dlp found no playable format with audio at {url}")
        # A <video src="file:///..."> comes back from the generic extractor as it is; refuse it here, with
        # the reason, before anything opens it (the live check applies the configured schemes as well).
        policy.check_not_local(str(media_url), "yt-dlp's media URL")
        return ResolvedStream(
            page_url=url,
            media_url=str(media_url),
            kind=_kind(str(chosen.get("protocol") or ""), str(media_url)),
            headers={str(k): str(v) for k, v in (chosen.get("http_headers") or {}).items()},
            title=info.get("title"),
            live=True if info.get("is_live") else None,
        )


def operator_words(message: str) -> str:
    """yt-dlp's error in livewatch's words: its command-line advice dropped, its jargon reworded."""
    text = message.removeprefix("ERROR: ")
    for pattern, words in _REWORDED:
        text = pattern.sub(words, text)
    kept = [sentence for sentence in _SENTENCE_END.split(text) if not _CLI_ADVICE.search(sentence)]
    return " ".join(kept).strip() or "yt-dlp gave no reason"


def _chosen(info: dict[str, Any]) -> dict[str, Any]:
    """The one input ffmpeg records. yt-dlp's pick of separate video and audio (``requested_formats``)
    comes from one manifest (a DASH ``.mpd``) when they share it: ffmpeg reads the manifest and records
    both. Otherwise (two unrelated URLs) the audio alone, which is what the monitor needs."""
    parts = [f for f in info.get("requested_formats") or [] if isinstance(f, dict)]
    if not parts:
        return info
    manifests = {str(f.get("manifest_url") or "") for f in parts}
    protocols = {str(f.get("protocol") or "") for f in parts}
    manifest = manifests.pop() if len(manifests) == 1 else ""
    if manifest and protocols == {"http_dash_segments"}:
        return {**parts[-1], "url": manifest, "protocol": "dash"}
    audio = [f for f in parts if f.get("acodec") not in (None, "none")]
    return audio[-1] if audio else parts[-1]


def _kind(protocol: str, media_url: str) -> MediaKind:
    if protocol.startswith("m3u8") or ".m3u8" in media_url.split("?", 1)[0]:
        return "hls"
    if protocol.startswith("rtmp"):
        return "rtmp"
    if protocol.startswith(("dash", "http_dash")) or media_url.split("?", 1)[0].lower().endswith(".mpd"):
        return "dash"
    return "progressive"
