"""Test doubles for the engine's ports: a clock you advance, timers you fire by hand, a
listener that records, and a gate that holds patches (the in-memory cluster is in
tests/fake_cluster.py).

They stand in for the ports (rollout.ports), never for a library: the real adapters are
exercised against real servers in tests/adapters and tests/scenarios. Everything here is
thread-safe, because the engine calls its ports from worker threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from rollout.errors import ClusterError
from rollout.model import EventKind, RolloutEvent

log = logging.getLogger(__name__)
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
WAIT_LIMIT = 10.0  # seconds any test helper waits before giving up


class FakeClock:
    """`now()` stands still until a test moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


class ManualTimers:
    """Timers that fire only when a test says so: `fire_due(now)` runs every callback
    whose time has come, earliest first, on the caller's thread. Otherwise they keep the
    Timers contract as ApsTimers does (tests/adapters/test_scheduler.py runs both): a
    re-armed key replaces its timer, naive times are refused, and a failing callback is
    logged with its key while the others still fire."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, tuple[datetime, Callable[[], None]]] = {}

    def arm(self, key: str, at: datetime, callback: Callable[[], None]) -> None:
        if at.utcoffset() is None:
            raise ValueError(f"timer {key!r}: naive datetime {at.isoformat()}")
        with self._lock:
            self._armed[key] = (at, callback)

    def cancel(self, key: str) -> None:
        with self._lock:
            self._armed.pop(key, None)

    def armed(self) -> dict[str, datetime]:
        with self._lock:
            return {key: at for key, (at, _) in self._armed.items()}

    def next_at(self) -> datetime | None:
        with self._lock:
            return min((at for at, _ in self._armed.values()), default=None)

    def fire_due(self, now: datetime) -> int:
        with self._lock:
            due = sorted(
                ((at, key, cb) for key, (at, cb) in self._armed.items() if at <= now),
                key=lambda item: item[0],
            )
            for _, key, _ in due:
                del self._armed[key]
        for _, key, callback in due:
            try:
                callback()
            except Exception:
                log.exception("timer %s: callback failed", key)
        return len(due)

    def fire_next(self, clock: FakeClock) -> bool:
        """Move `clock` to the earliest armed time (never back) and fire what is due then;
        False, with the clock left alone, when nothing is armed."""
        at = self.next_at()
        if at is None:
            return False
        clock.set(max(at, clock.now()))
        self.fire_due(clock.now())
        return True


class RecordingListener:
    """Keeps every RolloutEvent; tests wait on it instead of sleeping."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[RolloutEvent] = []

    def publish(self, event: RolloutEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def kinds(self, rollout_id: int | None = None) -> list[EventKind]:
        with self._cond:
            return [e.kind for e in self.events if rollout_id is None or e.rollout.id == rollout_id]

    def of(self, kind: EventKind) -> list[RolloutEvent]:
        with self._cond:
            return [e for e in self.events if e.kind is kind]

    def wait_for(self, kind: EventKind, *, count: int = 1, timeout: float = WAIT_LIMIT) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.of_unlocked(kind)) >= count, timeout):
                raise AssertionError(f"no {kind} event within {timeout}s: {self.kinds()}")

    def of_unlocked(self, kind: EventKind) -> list[RolloutEvent]:
        return [e for e in self.events if e.kind is kind]


class PatchGate:
    """Lets `allow` patches through, then holds the rest until released. Held ones then
    fail without patching (`die`), as calls of a killed process never arrive, or go on."""

    def __init__(self, allow: int, *, die: bool = True) -> None:
        self.allow = allow
        self.die = die
        self.seen = 0
        self.lock = threading.Lock()
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, namespace: str) -> None:
        with self.lock:
            self.seen += 1
            held = self.seen > self.allow
        if held:
            self.reached.set()
            self.release.wait(WAIT_LIMIT)
            if self.die:
                raise ClusterError("connection reset: the process is gone")
