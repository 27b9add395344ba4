"""Direct media URLs (HLS playlists, DASH manifests, FLV, RTMP) go straight to ffmpeg; nothing to resolve."""

from __future__ import annotations

import re
import urllib.parse
from typing import ClassVar

from livewatch.capture.base import MediaKind, ResolvedStream, Source


class DirectSource(Source):
    """``.m3u8`` playlists, ``.mpd`` manifests, ``.flv`` streams and ``rtmp://``/``rtmps://`` URLs."""

    name = "direct"
    priority = 100
    matchers: ClassVar[tuple[re.Pattern[str], ...]] = (
        re.compile(r"^https?://[^?#]+\.m3u8(?:[?#]|$)", re.IGNORECASE),
        re.compile(r"^https?://[^?#]+\.mpd(?:[?#]|$)", re.IGNORECASE),
        re.compile(r"^https?://[^?#]+\.flv(?:[?#]|$)", re.IGNORECASE),
        re.compile(r"^rtmps?://", re.IGNORECASE),
    )

    def resolve(self, url: str) -> ResolvedStream:
        return ResolvedStream(page_url=url, media_url=url, kind=media_kind(url))


def media_kind(url: str) -> MediaKind:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() in ("rtmp", "rtmps"):
        return "rtmp"
    if parts.path.lower().endswith(".m3u8"):
        return "hls"
    if parts.path.lower().endswith(".mpd"):
        return "dash"
    return "progressive"
