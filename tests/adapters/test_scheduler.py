"""ApsTimers against a real APScheduler: arming, re-arming, cancelling, and late deadlines.

Every wait is on a threading.Event with a bounded timeout; ordering is shown by arming a
later sentinel timer, never by sleeping and hoping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.scheduler import ApsTimers

WAIT = 5.0  # seconds; generous for a shared two-core machine, never reached when all is well


@pytest.fixture
def timers() -> Iterator[ApsTimers]:
    scheduler = ApsTimers()
    scheduler.start()
    yield scheduler
    scheduler.shutdown(wait=True)


def now() -> datetime:
    return datetime.now(UTC)


def recorder() -> tuple[threading.Event, list[int], Callable[[], None]]:
    """An event set by the callback, and the IDs of the threads it ran on."""
    fired = threading.Event()
    threads: list[int] = []

    def callback() -> None:
        threads.append(threading.get_ident())
        fired.set()

    return fired, threads, callback


def test_an_armed_timer_fires_once_on_another_thread(timers: ApsTimers) -> None:
    fired, threads, callback = recorder()

    timers.arm("rollout-1:wait", now() + timedelta(milliseconds=100), callback)

    assert fired.wait(WAIT)
    assert threads != [threading.get_ident()]
    assert len(threads) == 1
    assert "rollout-1:wait" not in timers.armed()


def test_a_deadline_already_past_fires_at_once(timers: ApsTimers) -> None:
    fired, _, callback = recorder()
    started = time.monotonic()

    timers.arm("rollout-1:approval", now() - timedelta(days=1), callback)

    assert fired.wait(WAIT)
    assert time.monotonic() - started < 2.0


def test_re_arming_a_key_replaces_the_earlier_timer(timers: ApsTimers) -> None:
    first, _, first_callback = recorder()
    second, _, second_callback = recorder()
    timers.arm("rollout-2:wait", now() + timedelta(hours=1), first_callback)

    timers.arm("rollout-2:wait", now() - timedelta(seconds=1), second_callback)

    assert second.wait(WAIT)
    assert not first.is_set()
    assert timers.armed() == {}


def test_a_cancelled_timer_never_fires(timers: ApsTimers) -> None:
    cancelled, _, cancelled_callback = recorder()
    sentinel, _, sentinel_callback = recorder()
    timers.arm("rollout-3:monitor", now() + timedelta(milliseconds=200), cancelled_callback)

    timers.cancel("rollout-3:monitor")
    timers.arm("sentinel", now() + timedelta(milliseconds=400), sentinel_callback)

    assert sentinel.wait(WAIT)
    assert not cancelled.is_set()


def test_cancelling_an_unknown_or_fired_key_is_harmless(timers: ApsTimers) -> None:
    fired, _, callback = recorder()
    timers.cancel("never-armed")
    timers.arm("once", now(), callback)
    assert fired.wait(WAIT)
    timers.cancel("once")


def test_timers_armed_before_start_fire_after_start() -> None:
    timers = ApsTimers()
    fired, _, callback = recorder()
    timers.arm("early", now() - timedelta(minutes=5), callback)
    assert "early" in timers.armed()
    try:
        timers.start()
        assert fired.wait(WAIT)
    finally:
        timers.shutdown(wait=True)


def test_armed_lists_pending_keys_with_their_times(timers: ApsTimers) -> None:
    at = now() + timedelta(hours=2)
    timers.arm("rollout-4:start", at, lambda: None)
    assert timers.armed() == {"rollout-4:start": at}
    timers.cancel("rollout-4:start")
    assert timers.armed() == {}


def test_a_failing_callback_is_logged_with_its_key_and_others_still_fire(
    timers: ApsTimers, caplog: pytest.LogCaptureFixture
) -> None:
    fired, _, callback = recorder()

    def boom() -> None:
        raise RuntimeError("cluster unreachable")

    with caplog.at_level(logging.ERROR, logger="rollbot.timers"):
        timers.arm("broken", now(), boom)
        timers.arm("after", now() + timedelta(milliseconds=100), callback)
        assert fired.wait(WAIT)
        timers.shutdown(wait=True)
    assert any("timer broken" in r.getMessage() for r in caplog.records)


def test_naive_times_are_refused(timers: ApsTimers) -> None:
    with pytest.raises(ValueError, match="naive"):
        timers.arm("x", datetime(2026, 1, 1, 12, 0), lambda: None)


def test_shutting_down_twice_is_harmless() -> None:
    # Given running timers with one timer armed for later
    before = set(threading.enumerate())
    timers = ApsTimers()
    timers.start()
    fired, _, callback = recorder()
    timers.arm("rollout-5:wait", now() + timedelta(hours=1), callback)

    # When they are shut down, and then shut down again
    timers.shutdown(wait=False)
    timers.shutdown(wait=True)

    # Then the second call raised nothing, nothing is left armed to fire later, and no
    # thread the timers started is still running
    assert timers.armed() == {}
    assert not fired.is_set()
    assert [t.name for t in threading.enumerate() if t not in before] == []
