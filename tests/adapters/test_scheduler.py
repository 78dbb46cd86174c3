"""The ``Timers`` contract: arming, re-arming, cancelling and late deadlines.

Every contract test runs against each of ``TIMERS``: ``ApsTimers`` on a real APScheduler
and the wall clock, and the hand-fired ``ManualTimers`` on a fake clock that the engine's
in-memory tests rely on, so the two cannot drift apart. What only a scheduler of its own
threads can show (firing on another thread, start and shutdown) follows at the end.

Every wait is on a threading.Event with a bounded timeout; ordering is shown by arming a
later sentinel timer, never by sleeping and hoping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

from bot.scheduler import ApsTimers
from tests.fakes import FakeClock, ManualTimers

WAIT = 5.0  # seconds; generous for a shared two-core machine, never reached when all is well


class Timers(Protocol):
    """rollout.ports.Timers, and the listing of what is armed that both keep for tests."""

    def arm(self, key: str, at: datetime, callback: Callable[[], None]) -> None: ...

    def cancel(self, key: str) -> None: ...

    def armed(self) -> dict[str, datetime]: ...


class TimersRig(Protocol):
    """Timers with their own sense of time, and a way to let that time pass."""

    timers: Timers

    def now(self) -> datetime: ...

    def run_until(self, fired: threading.Event) -> bool:
        """Let time pass until `fired` is set; False when it never will be."""
        ...

    def settle(self) -> None:
        """Return once callbacks already started have finished."""
        ...


class WallClock:
    """ApsTimers, started, on real time."""

    def __init__(self) -> None:
        self.timers = ApsTimers()
        self.timers.start()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def run_until(self, fired: threading.Event) -> bool:
        return fired.wait(WAIT)

    def settle(self) -> None:
        self.timers.shutdown(wait=True)


class HandFired:
    """ManualTimers on a fake clock, moved from one armed time to the next."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.timers = ManualTimers()

    def now(self) -> datetime:
        return self.clock.now()

    def run_until(self, fired: threading.Event) -> bool:
        while not fired.is_set():
            if not self.timers.fire_next(self.clock):
                return False
        return True

    def settle(self) -> None:
        """Callbacks run on the caller's thread: they are over when fire_due returns."""


TIMERS: dict[str, Callable[[], TimersRig]] = {"apscheduler": WallClock, "hand-fired": HandFired}


@pytest.fixture(params=sorted(TIMERS))
def rig(request: pytest.FixtureRequest) -> Iterator[TimersRig]:
    made = TIMERS[request.param]()
    yield made
    made.settle()


def recorder() -> tuple[threading.Event, list[int], Callable[[], None]]:
    """An event set by the callback, and the IDs of the threads it ran on."""
    fired = threading.Event()
    threads: list[int] = []

    def callback() -> None:
        threads.append(threading.get_ident())
        fired.set()

    return fired, threads, callback


# --- the contract, for every implementation -------------------------------------------------


def test_an_armed_timer_fires_once_and_is_no_longer_armed(rig: TimersRig) -> None:
    fired, threads, callback = recorder()

    rig.timers.arm("rollout-1:wait", rig.now() + timedelta(milliseconds=100), callback)

    assert rig.run_until(fired)
    assert len(threads) == 1
    assert "rollout-1:wait" not in rig.timers.armed()


def test_a_deadline_already_past_fires_at_once(rig: TimersRig) -> None:
    fired, _, callback = recorder()
    started = rig.now()

    rig.timers.arm("rollout-1:approval", rig.now() - timedelta(days=1), callback)

    assert rig.run_until(fired)
    assert rig.now() - started < timedelta(seconds=2)


def test_re_arming_a_key_replaces_the_earlier_timer(rig: TimersRig) -> None:
    first, _, first_callback = recorder()
    second, _, second_callback = recorder()
    rig.timers.arm("rollout-2:wait", rig.now() + timedelta(hours=1), first_callback)

    rig.timers.arm("rollout-2:wait", rig.now() - timedelta(seconds=1), second_callback)

    assert rig.run_until(second)
    assert not first.is_set()
    assert rig.timers.armed() == {}


def test_a_cancelled_timer_never_fires(rig: TimersRig) -> None:
    cancelled, _, cancelled_callback = recorder()
    sentinel, _, sentinel_callback = recorder()
    rig.timers.arm("rollout-3:monitor", rig.now() + timedelta(milliseconds=200), cancelled_callback)

    rig.timers.cancel("rollout-3:monitor")
    rig.timers.arm("sentinel", rig.now() + timedelta(milliseconds=400), sentinel_callback)

    assert rig.run_until(sentinel)
    assert not cancelled.is_set()


def test_cancelling_an_unknown_or_fired_key_is_harmless(rig: TimersRig) -> None:
    fired, _, callback = recorder()
    rig.timers.cancel("never-armed")
    rig.timers.arm("once", rig.now(), callback)
    assert rig.run_until(fired)
    rig.timers.cancel("once")
    assert rig.timers.armed() == {}


def test_armed_lists_pending_keys_with_their_times(rig: TimersRig) -> None:
    at = rig.now() + timedelta(hours=2)
    rig.timers.arm("rollout-4:start", at, lambda: None)
    assert rig.timers.armed() == {"rollout-4:start": at}
    rig.timers.cancel("rollout-4:start")
    assert rig.timers.armed() == {}


def test_a_failing_callback_is_logged_with_its_key_and_others_still_fire(
    rig: TimersRig, caplog: pytest.LogCaptureFixture
) -> None:
    fired, _, callback = recorder()

    def boom() -> None:
        raise RuntimeError("cluster unreachable")

    with caplog.at_level(logging.ERROR):
        rig.timers.arm("broken", rig.now(), boom)
        rig.timers.arm("after", rig.now() + timedelta(milliseconds=100), callback)
        assert rig.run_until(fired)
        rig.settle()
    assert any("timer broken" in r.getMessage() for r in caplog.records)


def test_naive_times_are_refused(rig: TimersRig) -> None:
    with pytest.raises(ValueError, match="naive"):
        rig.timers.arm("x", datetime(2026, 1, 1, 12, 0), lambda: None)
    assert rig.timers.armed() == {}


# --- APScheduler only: its own threads, started and shut down --------------------------------


@pytest.fixture
def timers() -> Iterator[ApsTimers]:
    scheduler = ApsTimers()
    scheduler.start()
    yield scheduler
    scheduler.shutdown(wait=True)


def test_a_timer_fires_on_a_thread_of_the_scheduler(timers: ApsTimers) -> None:
    fired, threads, callback = recorder()

    timers.arm("rollout-1:wait", datetime.now(UTC), callback)

    assert fired.wait(WAIT)
    assert threads != [threading.get_ident()]


def test_timers_armed_before_start_fire_after_start() -> None:
    timers = ApsTimers()
    fired, _, callback = recorder()
    timers.arm("early", datetime.now(UTC) - timedelta(minutes=5), callback)
    assert "early" in timers.armed()
    try:
        timers.start()
        assert fired.wait(WAIT)
    finally:
        timers.shutdown(wait=True)


def test_shutting_down_twice_is_harmless() -> None:
    # Given running timers with one timer armed for later
    before = set(threading.enumerate())
    timers = ApsTimers()
    timers.start()
    fired, _, callback = recorder()
    timers.arm("rollout-5:wait", datetime.now(UTC) + timedelta(hours=1), callback)

    # When they are shut down, and then shut down again
    timers.shutdown(wait=False)
    timers.shutdown(wait=True)

    # Then the second call raised nothing, nothing is left armed to fire later, and no
    # thread the timers started is still running
    assert timers.armed() == {}
    assert not fired.is_set()
    assert [t.name for t in threading.enumerate() if t not in before] == []
