"""Which URLs livewatch may read for a registered stream: the one check between an origin and ffmpeg.

The party being watched controls the platform page, the playlists and the redirects, so every URL they
hand over is checked before anything opens it: the media URL a source resolved (yt-dlp's result included),
the master playlist's chosen variant, every segment of the media playlist, and every redirect a playlist
fetch takes. A URL passes when

- its scheme is in ``allowed_url_schemes`` (the global configuration; ``http, https, rtmp, rtmps`` by
  default), so ``file:``, ``data:``, ``concat:``, ``subfile:``, ``pipe:`` and the like never reach ffmpeg;
- it names a host; and
- it does not point at the local machine (a loopback, link-local or unspecified address, by name or after
  resolving the name), unless it is on the same host and port as the registered page itself: a relay on
  127.0.0.1 that an operator registers is theirs, while an origin that points at 127.0.0.1 from a public
  page is reaching for whatever else listens on this machine (another event's recordings, a database's
  HTTP port, a cloud metadata service at 169.254.169.254).

A refused URL is an :class:`~livewatch.errors.UnsafeUrl` whose message starts with "origin pointed at a local
resource" (or names the scheme that is not allowed). Nothing is opened before the refusal, so the message is
the same whether or not a named file exists. ffmpeg's own ``-protocol_whitelist`` (see :mod:`.commands`) is
the second wall, for what ffmpeg reads after our check: later playlist refreshes, keys, segments.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

from livewatch.capture.fetch import printable
from livewatch.errors import CaptureError, UnsafeUrl
from livewatch.fields import DEFAULT_URL_SCHEMES

LOCAL_RESOURCE = "origin pointed at a local resource"
#: Schemes (ffmpeg protocols among them) that read this machine rather than the network.
LOCAL_SCHEMES = frozenset({
    "file", "data", "pipe", "fd", "concat", "concatf", "subfile", "cache", "async", "crypto", "hls", "unix",
    "tee", "android_content",
})  # fmt: skip
#: Host names that mean this machine without asking a resolver.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_DEFAULT_PORTS = {"http": 80, "https": 443, "rtmp": 1935, "rtmps": 443, "rtmpt": 80, "rtmpts": 443, "rtsp": 554}
_SHOWN = 120  # characters of a refused URL quoted in a reason (a data: URL can be megabytes)


def is_local_address(address: str) -> bool:
    """Loopback, link-local or unspecified (an IPv4-mapped IPv6 address counts as its IPv4 address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified


def resolve_host(host: str, port: int, timeout_s: float) -> frozenset[str]:
    """The addresses ``host`` resolves to (numeric forms such as ``127.1`` or ``2130706433`` included).

    An unknown name is an empty set: nothing can connect to it, so it is no local resource. A resolver that
    does not answer within ``timeout_s`` is a temporary :class:`CaptureError` (the name could yet turn out
    to be local, so it is not let through).
    """
    box: dict[str, frozenset[str]] = {}

    def work() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError):
            box["addresses"] = frozenset()
        else:
            box["addresses"] = frozenset(str(info[4][0]) for info in infos)

    # getaddrinfo has no timeout of its own, and an origin controls its own name server.
    thread = threading.Thread(target=work, name="resolve-host", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if "addresses" not in box:
        raise CaptureError(f"cannot resolve {printable(host, 80)} within {timeout_s:g} s")
    return box["addresses"]


def _port(parts: urllib.parse.SplitResult, scheme: str) -> int:
    try:
        port = parts.port
    except ValueError:
        port = None
    return port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


@dataclass(frozen=True)
class UrlPolicy:
    """What one registered stream may read: the allowed schemes, and which local host (if any) is its own."""

    page_url: str
    allowed_schemes: tuple[str, ...] = DEFAULT_URL_SCHEMES
    resolve_timeout_s: float = 5.0
    #: Addresses of hosts already resolved during this policy's life (one live check), by (host, port).
    _resolved: dict[tuple[str, int], frozenset[str]] = field(default_factory=dict, compare=False, repr=False)

    def check(self, url: str, what: str = "URL") -> str:
        """Return ``url`` when livewatch may read it; raise :class:`UnsafeUrl` saying why not."""
        parts, scheme = self._split(url, what)
        if scheme not in self.allowed_schemes:
            allowed = ", ".join(self.allowed_schemes)
            raise UnsafeUrl(f"{what} {printable(url, _SHOWN)} uses scheme {scheme or '(none)'!r}, which is not "
                            f"in allowed_url_schemes ({allowed}); refused")
        if not (parts.hostname or "").rstrip("."):
            raise UnsafeUrl(f"{what} {printable(url, _SHOWN)} names no host; refused")
        self._check_host(url, parts, scheme, what)
        return url

    def check_not_local(self, url: str, what: str = "URL") -> str:
        """Like :meth:`check`, but only refuses what reads this machine; other schemes are left to
        :meth:`check` (yt-dlp's own requests and results, before the configuration's schemes apply)."""
        parts, scheme = self._split(url, what)
        self._check_host(url, parts, scheme, what)
        return url

    def _split(self, url: str, what: str) -> tuple[urllib.parse.SplitResult, str]:
        shown = printable(url, _SHOWN)
        if not url.isprintable() or any(ch.isspace() for ch in url):
            raise UnsafeUrl(f"{what} {shown} contains spaces or control characters; refused")
        try:
            parts = urllib.parse.urlsplit(url)
        except ValueError as err:
            raise UnsafeUrl(f"{what} {shown} is not a URL ({printable(err, 80)}); refused") from None
        scheme = parts.scheme.lower()
        if url.lower().startswith(("subfile,", "file,")):  # ffmpeg's "protocol,options:path" form
            scheme = url.split(",", 1)[0].lower()
        # ffmpeg nests protocols ("crypto+file:"); any local part makes the whole URL local.
        if LOCAL_SCHEMES.intersection(scheme.split("+")) and scheme not in self.allowed_schemes:
            raise UnsafeUrl(f"{LOCAL_RESOURCE}: {what} {shown} is a {scheme}: URL; refused")
        return parts, scheme

    def _check_host(self, url: str, parts: urllib.parse.SplitResult, scheme: str, what: str) -> None:
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            return
        port = _port(parts, scheme)
        if self._is_local(host, port) and not self._is_own_host(host, port):
            raise UnsafeUrl(f"{LOCAL_RESOURCE}: {what} {printable(url, _SHOWN)} is on this machine, not on the "
                            "registered page's host; refused")

    def check_all(self, urls: Iterable[str], what: str) -> None:
        for url in dict.fromkeys(urls):  # a playlist repeats its host; each URL once
            self.check(url, what)

    # -- the local machine ------------------------------------------------------------------------------

    def _addresses(self, host: str, port: int) -> frozenset[str]:
        key = (host, port)
        if key not in self._resolved:
            if host in _LOCAL_NAMES or host.endswith(".localhost"):
                # Resolvers differ on these; they mean this machine wherever they are written.
                self._resolved[key] = frozenset({"127.0.0.1", "::1"})
            else:
                self._resolved[key] = resolve_host(host, port, self.resolve_timeout_s)
        return self._resolved[key]

    def _is_local(self, host: str, port: int) -> bool:
        return any(is_local_address(address) for address in self._addresses(host, port))

    def _is_own_host(self, host: str, port: int) -> bool:
        """Same host (a shared address) and same port as the registered page, which is itself local."""
        try:
            page = urllib.parse.urlsplit(self.page_url)
        except ValueError:
            return False
        page_host = (page.hostname or "").rstrip(".").lower()
        page_scheme = page.scheme.lower()
        if not page_host or _port(page, page_scheme) != port:
            return False
        page_addresses = self._addresses(page_host, port)
        if not any(is_local_address(address) for address in page_addresses):
            return False
        return bool(page_addresses & self._addresses(host, port))
