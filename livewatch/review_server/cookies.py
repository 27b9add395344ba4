"""A small signed-cookie session (Starlette's own needs itsdangerous): who is signed in, their role, the
form token and when it ends, as base64 JSON with an HMAC-SHA256 over it.

The key comes from ``$LIVEWATCH_SERVER_SECRET``; without it a random one is made per process (a warning
says so: sign-ins then end when the server restarts, and two server processes do not share them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, replace

SECRET_ENV = "LIVEWATCH_SERVER_SECRET"  # noqa: S105 (the variable's name, not a secret)
COOKIE = "livewatch_session"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebSession:
    """One browser's session: the form token always, the user once signed in."""

    csrf: str
    user: str | None = None
    role: str | None = None
    expires: float = 0.0

    @property
    def signed_in(self) -> bool:
        return self.user is not None and self.expires > time.time()

    def signing_in(self, user: str, role: str, hours: float) -> WebSession:
        # A new form token at sign-in: a token seen before it is worth nothing after.
        return WebSession(secrets.token_urlsafe(24), user, role, time.time() + hours * 3600)

    def signed_out(self) -> WebSession:
        return replace(self, user=None, role=None, expires=0.0, csrf=secrets.token_urlsafe(24))


def new_session() -> WebSession:
    return WebSession(secrets.token_urlsafe(24))


def server_secret() -> bytes:
    secret = os.environ.get(SECRET_ENV, "")
    if secret:
        return secret.encode("utf-8")
    log.warning("$%s is not set: using a random secret for this process only (sign-ins end when it stops)",
                SECRET_ENV)
    return secrets.token_bytes(32)


class CookieSigner:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"livewatch session\0" + secret).digest()

    def _mac(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def dump(self, session: WebSession) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(
            {"c": session.csrf, "u": session.user, "r": session.role, "e": session.expires}).encode("utf-8"))
        return f"{payload.decode('ascii')}.{self._mac(payload)}"

    def load(self, cookie: str | None) -> WebSession | None:
        """The session in a cookie, or None when it is missing, forged or malformed."""
        if not cookie or "." not in cookie:
            return None
        payload, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(self._mac(payload.encode("ascii", "replace")), mac):
            return None
        try:
            value = json.loads(base64.urlsafe_b64decode(payload))
            session = WebSession(str(value["c"]), value["u"], value["r"], float(value["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.user is None or session.signed_in else session.signed_out()
