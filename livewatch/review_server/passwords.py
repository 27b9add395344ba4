"""Reviewers' password hashes: scrypt with a random salt, stored as ``scrypt$n$r$p$salt$hash`` (base64).

Only the hash is ever in the configuration; ``livewatch review hash-password`` makes one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: scrypt's cost: 2**15 × 8 × 128 bytes = 32 MiB and about 0.1 s a try, enough to slow guessing.
N, R, P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (scrypt, or pbkdf2_sha256$iterations$salt$hash); a malformed
    hash matches nothing."""
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt, want = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
            got = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM,
                                 dklen=len(want))
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            salt, want = base64.b64decode(parts[2], validate=True), base64.b64decode(parts[3], validate=True)
            got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, int(parts[1]), len(want))
        else:
            return False
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got, want)
