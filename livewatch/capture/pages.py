"""Web pages whose player is configured in the page itself: the stream URL is read where players take it.

yt-dlp's generic extractor finds ``<video src>`` and a few embeds, but not a URL handed to a player in a
script (``hls.loadSource("...")``, ``new DPlayer({video: {url: "..."}})``, a JSON player configuration).
For such a page it answers "Unsupported URL", and a room that was live all along would end as the
organizer's no-show. This source is a fallback (see :attr:`Source.fallback`): it is tried only where the
chosen source finds no stream, reads the page once (total deadline, size limit) and looks for, in order:

1. hls.js: ``.loadSource("url")``, or ``.loadSource(name)`` with ``name = "url"`` in the page;
2. keys that name a stream in JSON or script configurations (``"hls"``, ``"m3u8"``, ``"hlsUrl"``, ``"flv"``,
   ``"dash"``, ...): any URL given to them;
3. ``<source src>`` and ``<video src>`` (video.js and plain HTML5 players);
4. generic keys (``url:``, ``src:``, ``file:``, ``source:``: DPlayer, flv.js, JW Player) and any other quoted
   string, when the URL looks like media (``.m3u8``, ``.flv``, ``.mpd``, ``rtmp://``).

Every URL is resolved against the page's URL and must pass the stream's URL policy: a page cannot point
livewatch at this machine or at a scheme it does not read. The first URL that passes is the stream.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Iterator
from typing import ClassVar

from livewatch.capture.base import MediaKind, ResolvedStream, Source
from livewatch.capture.direct import media_kind
from livewatch.capture.fetch import fetch_bytes, printable
from livewatch.capture.urls import UrlPolicy
from livewatch.errors import StreamNotFound, UnsafeUrl

#: A player page is a few hundred kilobytes at most; a larger answer is not read further.
PAGE_LIMIT = 4 * 1024 * 1024
#: Browsers' user agent: some platforms serve an empty shell to anything else.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"

_Q = r"""(?P<q>["'`])"""
_URL = r"""(?P<url>[^"'`\s<>]{1,2000})(?P=q)"""
_LOAD_SOURCE = re.compile(r"""\.loadSource\(\s*(?:""" + _Q + _URL + r"""|(?P<name>[A-Za-z_$][\w$.]{0,80})\s*\))""")
_STREAM_KEYS = re.compile(
    r"""["']?(?P<key>hls|m3u8|hls_?url|hlsSrc|m3u8_?url|flv|flv_?url|dash|mpd|dash_?url|mpd_?url)["']?\s*[:=]\s*"""
    + _Q + _URL, re.IGNORECASE)
_SOURCE_TAG = re.compile(r"""<(?:source|video)\b[^>]*?\bsrc\s*=\s*""" + _Q + _URL + r"""(?P<rest>[^>]*)>""",
                         re.IGNORECASE)
_GENERIC_KEYS = re.compile(
    r"""["']?(?:url|src|file|source|stream_?url|play_?url|live_?url)["']?\s*[:=]\s*""" + _Q + _URL, re.IGNORECASE)
_QUOTED = re.compile(_Q + _URL)
_MEDIA_PATH = re.compile(r"\.(?:m3u8|flv|mpd)$", re.IGNORECASE)
_HLS_TYPE = re.compile(r"""type\s*=\s*["'](?:application/(?:x-mpegurl|vnd\.apple\.mpegurl))""", re.IGNORECASE)
_JS_ESCAPES = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\(/)")


class PagePlayerSource(Source):
    """Any http(s) page, as a fallback: the stream URL its player is configured with."""

    name = "page-player"
    priority = 10
    fallback = True
    matchers: ClassVar[tuple[re.Pattern[str], ...]] = (re.compile(r"^https?://", re.IGNORECASE),)

    def __init__(self, timeout_s: float = 15.0) -> None:
        self.timeout_s = timeout_s

    def resolve(self, url: str) -> ResolvedStream:
        policy = UrlPolicy(url, resolve_timeout_s=self.timeout_s)
        body = fetch_bytes(url, {"User-Agent": USER_AGENT}, timeout=self.timeout_s, limit=PAGE_LIMIT,
                           check=lambda target: policy.check_not_local(target, "page request"))
        refused: UnsafeUrl | None = None
        for found, kind in stream_urls(body.decode("utf-8", errors="replace")):
            try:
                media_url = urllib.parse.urljoin(url, found)
                policy.check(media_url, "stream URL in the page")
            except ValueError:  # not a URL after all ("http://[" in a script)
                continue
            except UnsafeUrl as err:
                refused = err
                continue
            return ResolvedStream(page_url=url, media_url=media_url, kind=kind or media_kind(media_url),
                                  headers={"User-Agent": USER_AGENT, "Referer": url})
        if refused is not None:  # said as a refusal (the run's notes count them), not as "nothing there"
            raise refused
        raise StreamNotFound(f"{printable(url)}: no player in the page names a stream URL (looked for hls.js "
                             "loadSource, player configurations, <source src> and media URLs)")


def stream_urls(page: str) -> Iterator[tuple[str, MediaKind | None]]:
    """Candidate stream URLs in ``page``, best first, each once, with the kind when the context says it."""
    seen: set[str] = set()

    def fresh(raw: str) -> str | None:
        value = _unescape(raw)
        if not value or value in seen or value.startswith(("#", "javascript:", "blob:")):
            return None
        seen.add(value)
        return value

    for match in _LOAD_SOURCE.finditer(page):
        raw = match.group("url") or _assigned(page, match.group("name") or "")
        if raw and (value := fresh(raw)):
            yield value, "hls"
    for match in _STREAM_KEYS.finditer(page):
        key = match.group("key").lower()
        if value := fresh(match.group("url")):
            yield value, "hls" if key.startswith(("hls", "m3u8")) else None
    for match in _SOURCE_TAG.finditer(page):
        if value := fresh(match.group("url")):
            yield value, "hls" if _HLS_TYPE.search(match.group("rest") + match.group(0)) else None
    for pattern in (_GENERIC_KEYS, _QUOTED):
        for match in pattern.finditer(page):
            value = _unescape(match.group("url"))
            if _looks_like_media(value) and (value := fresh(match.group("url"))):
                yield value, None


def _assigned(page: str, name: str) -> str | None:
    """The string last assigned to ``name`` (``var src = "..."``, ``src: "..."``), for ``loadSource(src)``."""
    last = name.rsplit(".", 1)[-1]
    pattern = re.compile(r"""(?<![\w$])""" + re.escape(last) + r"""["']?\s*[:=]\s*""" + _Q + _URL)
    found = [m.group("url") for m in pattern.finditer(page)]
    return found[-1] if found else None


def _looks_like_media(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    return bool(_MEDIA_PATH.search(parts.path)) or parts.scheme.lower() in ("rtmp", "rtmps")


def _unescape(raw: str) -> str:
    """The URL as the browser would use it: JavaScript string escapes (``\\/``, ``\\u0026``) and HTML
    entities (``&amp;``) undone."""
    def one(match: re.Match[str]) -> str:
        code = match.group(1) or match.group(2)
        return chr(int(code, 16)) if code else "/"

    return html.unescape(_JS_ESCAPES.sub(one, raw)).strip()
