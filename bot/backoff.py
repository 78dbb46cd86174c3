"""How hard rollbot tries a call that failed for a moment: one policy for every adapter.

The Kubernetes adapter and the registry client both retry 429s, 5xx answers and dropped
connections with exponential backoff, honour Retry-After up to a ceiling, and give up
after a few attempts; this is that rule, once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Tests shrink the delays; production keeps the defaults (those of the Kubernetes
    adapter; the registry client asks for fewer attempts and a shorter ceiling)."""

    attempts: int = 5  # tries per call, the first one included
    base_delay: float = 0.25  # first backoff; doubles on every further try
    max_delay: float = 8.0  # ceiling for a single wait, Retry-After included
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_total: float = 60.0  # no wait may end later than this after the first try

    def backoff(self, attempt: int, hinted: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based); `hinted` is
        what the server asked for (Retry-After), if anything."""
        if hinted is not None:
            return min(self.max_delay, max(0.0, hinted))
        # Jitter spreads the retries of a concurrent batch so they do not arrive together.
        exponential = self.base_delay * (2.0**attempt) * random.uniform(0.5, 1.0)
        return min(self.max_delay, exponential)

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds for one request."""
        return (self.connect_timeout, self.read_timeout)
