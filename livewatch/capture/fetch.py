"""One HTTP GET against an origin the monitored party controls, with a total deadline.

A socket timeout bounds each read, not the request: a server that sends one byte a second never trips it.
So every socket a request opens (redirects included) is registered with a timer that shuts it down when the
request's total time is up; whatever was blocked in a read then returns at once and the request fails with
a clear reason. Any failure of the exchange — a garbage status line, an over-long or a hundred-and-first
header, a control character in a URL, a truncated body — is a :class:`~livewatch.errors.CaptureError`, so
callers treat it as a bad answer from the origin and try again later, never as a crash.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import IO, Any

from livewatch.deadline import Deadline
from livewatch.errors import CaptureError, StreamOffline

#: Schemes a fetched URL and every redirect it takes may use; urllib alone would also follow ``ftp:`` and
#: open ``file:`` and ``data:`` URLs.
WEB_SCHEMES = ("http", "https")
_REASON_CHARS = 300


def printable(text: object, limit: int = _REASON_CHARS) -> str:
    """``text`` safe for a log line or a run's notes: control characters escaped, length capped (origins
    choose the URLs and messages we quote, and a raw ESC or newline would forge log lines)."""
    value = str(text)
    escaped = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in value[: limit + 1])
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


class _HttpConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        # Connecting and a TLS handshake are bounded by the socket timeout as a whole (CPython's ssl module
        # keeps one deadline across a handshake's reads), so cap that at what is left of the request's time.
        self.timeout = min(self.timeout or math.inf, self.deadline.remaining())
        super().connect()
        self.deadline.watch(self.sock)


class _HttpsConnection(_HttpConnection, http.client.HTTPSConnection):
    """The same bound for HTTPS: ``super().connect()`` above is then HTTPSConnection's (TCP and handshake)."""


class _HttpHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HttpConnection, req, deadline=self.deadline)  # type: ignore[arg-type]


class _HttpsHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HttpsConnection, req, deadline=self.deadline)  # type: ignore[arg-type]


class _WebOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, check: Callable[[str], object] | None = None) -> None:
        super().__init__()
        self.check = check

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: http.client.HTTPMessage, newurl: str) -> urllib.request.Request | None:
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in WEB_SCHEMES:
            raise CaptureError(f"{printable(req.full_url)} redirected to a {printable(scheme)!r} URL; "
                               f"only {', '.join(WEB_SCHEMES)} are followed")
        if self.check is not None:  # before connecting: a redirect to this machine is refused unopened
            self.check(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                       headers: http.client.HTTPMessage) -> Any:
        # urllib refuses a redirect to file: or data: as a bare "HTTP 302"; check first for the real reason.
        location = headers.get("location") or headers.get("uri")
        if location and self.check is not None:
            with contextlib.suppress(ValueError):  # an unparseable Location is urllib's to report
                location = urllib.parse.urljoin(req.full_url, location)
            self.check(location)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener(deadline: Deadline, check: Callable[[str], object] | None = None) -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), _HttpHandler(deadline),
                    _HttpsHandler(deadline), urllib.request.HTTPDefaultErrorHandler(), _WebOnlyRedirects(check),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def fetch_bytes(url: str, headers: Mapping[str, str], *, timeout: float, limit: int,
                check: Callable[[str], object] | None = None) -> bytes:
    """GET ``url``: at most ``limit`` bytes, the whole exchange within ``timeout`` seconds.

    Raises :class:`StreamOffline` for 404/410 (the room is there but nothing is broadcast) and
    :class:`CaptureError` for everything else that is not a complete answer in time. ``check`` is called
    with ``url`` and with every redirect's target before it is opened (see :class:`.urls.UrlPolicy`); what
    it raises ends the fetch.
    """
    shown = printable(url)
    with Deadline(timeout) as deadline:
        body = _get(url, headers, shown, deadline, limit, check)
    if deadline.expired:  # the body may look complete when the shutdown cut it at a line end
        raise CaptureError(_failure(shown, "", deadline))
    if len(body) > limit:
        raise CaptureError(f"{shown} answered more than {limit} bytes")
    return body


def _get(url: str, headers: Mapping[str, str], shown: str, deadline: Deadline, limit: int,
         check: Callable[[str], object] | None) -> bytes:
    try:
        if urllib.parse.urlsplit(url).scheme.lower() not in WEB_SCHEMES:
            raise CaptureError(f"refusing to fetch {shown}: only {', '.join(WEB_SCHEMES)} URLs are read")
        if check is not None:
            check(url)
        request = urllib.request.Request(url, headers=dict(headers))  # noqa: S310 - scheme checked above
        with _opener(deadline, check).open(request, timeout=deadline.seconds) as response:
            body: bytes = response.read(limit + 1)
            if response.length and len(body) <= limit:  # http.client returns a short read when cut off
                raise http.client.IncompleteRead(body, response.length)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code in (404, 410):
            raise StreamOffline(f"HTTP {err.code} from {shown}") from err
        raise CaptureError(f"HTTP {err.code} from {shown}") from err
    except urllib.error.URLError as err:
        raise CaptureError(_failure(f"cannot reach {shown}", err.reason, deadline)) from err
    except OSError as err:
        raise CaptureError(_failure(f"cannot reach {shown}", err, deadline)) from err
    except (http.client.HTTPException, ValueError) as err:
        # HTTPException: garbage status line, header line over 64 KiB, more than 100 headers, truncated body;
        # ValueError: a control character or non-ASCII in the URL or a header, an unparseable host or port.
        raise CaptureError(_failure(f"bad answer from {shown}", err, deadline)) from err
    return body


def _failure(what: str, reason: object, deadline: Deadline) -> str:
    # A connect or TLS handshake timed out on the time that was left counts as the deadline too.
    if deadline.expired or deadline.remaining() <= 0.05:
        return f"{what}: no complete answer within {deadline.seconds:g} s (total deadline)"
    return f"{what}: {printable(reason if str(reason) else type(reason).__name__)}"
