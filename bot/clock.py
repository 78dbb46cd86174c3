"""The wall clock, behind the Clock port so tests and the engine agree on what `now` is."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
