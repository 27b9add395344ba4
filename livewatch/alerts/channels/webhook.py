"""Webhook: an HTTP POST of the alert's JSON, signed with HMAC-SHA256 over the exact body.

Headers a receiver can rely on::

    Content-Type: application/json; charset=utf-8
    Idempotency-Key: <the alert's key>            (the same on every retry)
    X-Livewatch-Signature-256: sha256=<hex HMAC-SHA256 of the body with the shared secret>
    X-Livewatch-Delivery: <attempt number, from 1>

The secret comes from the environment variable named by the target's ``secret_env``, never from a file.
Redirects are not followed: a signed POST must not be replayed to an address nobody configured.
``timeout_s`` bounds the whole attempt (connect, send, answer), not each read: see :mod:`livewatch.alerts.deadline`.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import re
import socket
import ssl
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator

from livewatch import __version__
from livewatch.alerts.base import AlertDeliveryError, Channel, Delivery
from livewatch.deadline import Deadline
from livewatch.settings import AlertTarget, EnvName

SIGNATURE_HEADER = "X-Livewatch-Signature-256"
#: Answers that may succeed later; every other 4xx is the receiver refusing this request for good.
TRANSIENT_STATUS = frozenset({408, 425, 429})
#: Retry-After as delta-seconds: ASCII digits only (``str.isdigit`` also takes "²", which float() refuses).
_DELTA_SECONDS = re.compile(r"[0-9]+")
#: Longer than any retry_max_s: a bigger Retry-After is capped anyway, and float() of 10**400 is inf.
_RETRY_AFTER_CEILING = 10.0**9


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def body_of(delivery: Delivery) -> bytes:
    document = {**delivery.payload, "delivery": {"attempt": delivery.attempt, "target": delivery.target}}
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


class WebhookTarget(AlertTarget):
    """An ``[[alerts]]`` target of type webhook."""

    url: str = Field("", description="Webhook address (http or https).")
    secret_env: EnvName = Field(
        "LIVEWATCH_WEBHOOK_SECRET", description="Environment variable holding the webhook's HMAC secret."
    )

    @model_validator(mode="after")
    def _http_only(self) -> Self:
        if not self.url.lower().startswith(("http://", "https://")):
            raise ValueError("a webhook target needs `url: https://...`")
        return self


class WebhookChannel(Channel[WebhookTarget]):
    target_model: ClassVar[type[AlertTarget]] = WebhookTarget
    type: ClassVar[str] = "webhook"

    def send(self, delivery: Delivery) -> None:
        secret = self.environ.get(self.target.secret_env)
        if not secret:
            raise AlertDeliveryError(f"environment variable {self.target.secret_env} is not set; "
                                     "webhooks are only sent signed")
        body = body_of(delivery)
        url = self.target.url
        if not url.lower().startswith(("http://", "https://")):  # the settings check it too; never file:
            raise AlertDeliveryError(f"webhook url {url!r} is not http or https", permanent=True)
        request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310 (checked)
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"livewatch/{__version__}",
            "Idempotency-Key": delivery.key,
            SIGNATURE_HEADER: sign(secret.encode("utf-8"), body),
            "X-Livewatch-Delivery": str(delivery.attempt),
        })
        timeout = self.target.timeout_s
        with Deadline(timeout) as deadline:
            opener = urllib.request.build_opener(_NoRedirect, _WatchedHttp(deadline), _WatchedHttps(deadline))
            try:
                with opener.open(request, timeout=timeout) as response:
                    response.read(65536)
            except urllib.error.HTTPError as err:
                raise _status_error(err.code, err.headers.get("Retry-After") if err.headers else None) from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                if deadline.expired:
                    raise AlertDeliveryError(f"{self.target.url} did not answer in full within timeout_s = "
                                             f"{timeout:g} s") from None
                reason = getattr(err, "reason", err)
                raise AlertDeliveryError(f"cannot reach {self.target.url}: {reason}") from None


def _watched(base: type[http.client.HTTPConnection], deadline: Deadline) -> type[http.client.HTTPConnection]:
    """``base`` with every socket it opens put under ``deadline`` (before any TLS handshake)."""

    class Watched(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = lambda *a, **k: deadline.watch(socket.create_connection(*a, **k))

    return Watched


class _WatchedHttp(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._connection = _watched(http.client.HTTPConnection, deadline)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


class _WatchedHttps(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        self._tls = ssl.create_default_context()  # certificates and host names checked, as urllib does
        super().__init__(context=self._tls)
        self._connection = _watched(http.client.HTTPSConnection, deadline)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req, context=self._tls)


def _status_error(status: int, retry_after: str | None) -> AlertDeliveryError:
    if 300 <= status < 400:
        return AlertDeliveryError(f"HTTP {status}: redirects are not followed; configure the final address",
                                  permanent=True)
    transient = status >= 500 or status in TRANSIENT_STATUS
    return AlertDeliveryError(f"HTTP {status} from the receiver", permanent=not transient,
                              retry_after=_retry_after(retry_after))


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when it is neither. The
    receiver is not trusted with the schedule: the service caps what this returns at ``retry_max_s``."""
    if not value:
        return None
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        # 20 digits parse, but a timedelta of them overflows; nothing past the ceiling changes the outcome.
        return float(text) if len(text) < 10 else _RETRY_AFTER_CEILING
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), _RETRY_AFTER_CEILING)
