"""Is an HTTP request from Slack, and new? The one check in front of the Bolt app.

Slack signs each request it sends over HTTP: `X-Slack-Signature: v0=<hex HMAC-SHA256 of
"v0:{X-Slack-Request-Timestamp}:{raw body}">` under the app's signing secret. Bolt's own
check is not used, for three reasons: a timestamp that is not an integer makes it raise
(an HTTP 500, which Slack retries), it cannot tell a replay from the original, and it
logs a refused request whole, `response_url` and legacy `token` field included.

The v0 scheme has no nonce, so anyone who captured a signed request could send it again
while its timestamp is still within the five minutes Slack allows. Every signature that
passes is therefore remembered until its timestamp leaves that window, and the same
signature a second time is refused as a replay. A Slack retry (`X-Slack-Retry-Num`) is
signed afresh with its own timestamp, so it is not one.

No I/O here: the clock is passed in, so tests move time instead of waiting for it.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
from collections.abc import Mapping
from enum import StrEnum

from bot.clock import SystemClock
from rollout.ports import Clock

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
WINDOW_SECONDS = 5 * 60  # how far a timestamp may be from now, either way
# Signatures remembered at most: more than 60 requests a second for five minutes, far
# beyond what a release bot receives. Full, the one that expires first is dropped early.
REMEMBERED = 20_000

_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # Unix seconds, as Slack sends them; no sign, no dot
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class Refusal(StrEnum):
    """Why a request was not let through; the value is the /metrics label."""

    MISSING_TIMESTAMP = "missing_timestamp"
    MALFORMED_TIMESTAMP = "malformed_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    MISSING_SIGNATURE = "missing_signature"
    BAD_SIGNATURE = "bad_signature"
    REPLAY = "replay"

    @property
    def explanation(self) -> str:
        return _EXPLANATIONS[self]


_EXPLANATIONS = {
    Refusal.MISSING_TIMESTAMP: "no X-Slack-Request-Timestamp header",
    Refusal.MALFORMED_TIMESTAMP: "malformed timestamp (not Unix seconds)",
    Refusal.STALE_TIMESTAMP: "stale timestamp (more than 5 minutes from now)",
    Refusal.MISSING_SIGNATURE: "no X-Slack-Signature header",
    Refusal.BAD_SIGNATURE: "bad signature (not this app's signing secret, or a changed body)",
    Refusal.REPLAY: "replay (a request with this signature was already taken)",
}


class SeenSignatures:
    """Signatures already taken, each until its expiry; never more than `capacity`."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._expiries: list[tuple[float, str]] = []  # a heap: the soonest first
        self._seen: set[str] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, signature: object) -> bool:
        return signature in self._seen

    def forget_until(self, now: float) -> None:
        """Drop every signature whose expiry has passed."""
        while self._expiries and self._expiries[0][0] < now:
            self._seen.discard(heapq.heappop(self._expiries)[1])

    def add(self, signature: str, *, expires: float) -> None:
        while len(self._seen) >= self._capacity:
            self._seen.discard(heapq.heappop(self._expiries)[1])
        self._seen.add(signature)
        heapq.heappush(self._expiries, (expires, signature))


class RequestVerifier:
    """Checks one request's headers and raw body; lets each signed request through once.

    Not thread-safe: the web server calls it from its event loop only."""

    def __init__(
        self,
        signing_secret: str,
        *,
        clock: Clock | None = None,
        window: float = WINDOW_SECONDS,
        capacity: int = REMEMBERED,
    ) -> None:
        if not signing_secret:
            raise ValueError("a signing secret is required: Slack's requests are verified")
        self._key = signing_secret.encode()
        self._clock = clock or SystemClock()
        self._window = window
        self.seen = SeenSignatures(capacity)

    def check(self, body: bytes, headers: Mapping[str, str]) -> Refusal | None:
        """None when the request is Slack's and new (from now on it has been seen); else
        why it is refused. `headers` should look names up as HTTP does, ignoring case."""
        timestamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
        if timestamp is None:
            return Refusal.MISSING_TIMESTAMP
        if not _TIMESTAMP.fullmatch(timestamp):
            return Refusal.MALFORMED_TIMESTAMP
        now, sent = self._clock.now().timestamp(), int(timestamp)
        if abs(now - sent) > self._window:
            return Refusal.STALE_TIMESTAMP
        if not signature:
            return Refusal.MISSING_SIGNATURE
        if not _SIGNATURE.fullmatch(signature) or not hmac.compare_digest(
            self._sign(timestamp, body), signature
        ):
            return Refusal.BAD_SIGNATURE
        self.seen.forget_until(now)
        if signature in self.seen:
            return Refusal.REPLAY
        # Past this moment the timestamp is stale, so the signature cannot pass again.
        self.seen.add(signature, expires=sent + self._window)
        return None

    def _sign(self, timestamp: str, body: bytes) -> str:
        base = b"v0:" + timestamp.encode() + b":" + body
        return "v0=" + hmac.new(self._key, base, hashlib.sha256).hexdigest()
