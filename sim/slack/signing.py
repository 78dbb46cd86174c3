"""Request signing as Slack does it, plus the deliberately broken variants tests need.

Slack signs each request with `X-Slack-Signature: v0=<hex HMAC-SHA256 of
"v0:{timestamp}:{raw body}">` and `X-Slack-Request-Timestamp`; receivers refuse anything
older than five minutes. `SignatureMode` lets a test send an unsigned, wrongly signed or
stale request and check the bot refuses it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from enum import StrEnum

STALE_AGE_SECONDS = 5 * 60 + 60


class SignatureMode(StrEnum):
    VALID = "valid"
    UNSIGNED = "unsigned"  # no signature headers at all
    WRONG = "wrong"  # signed with a different secret
    STALE = "stale"  # correctly signed, but the timestamp is over five minutes old


def signature(secret: str, *, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes,
    *,
    secret: str,
    mode: SignatureMode = SignatureMode.VALID,
    now: float | None = None,
) -> dict[str, str]:
    """Headers for `body` signed as `mode` says."""
    if mode is SignatureMode.UNSIGNED:
        return {}
    moment = time.time() if now is None else now
    if mode is SignatureMode.STALE:
        moment -= STALE_AGE_SECONDS
    timestamp = str(int(moment))
    key = secret + "-wrong" if mode is SignatureMode.WRONG else secret
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature(key, timestamp=timestamp, body=body),
    }


def is_valid(
    body: bytes, *, secret: str, timestamp: str, sig: str, now: float | None = None
) -> bool:
    """The receiver's check, for tests of the stand-in itself."""
    moment = time.time() if now is None else now
    try:
        if abs(moment - int(timestamp)) > 5 * 60:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(signature(secret, timestamp=timestamp, body=body), sig)
