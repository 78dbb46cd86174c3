"""Timers for the engine's deadlines (waits, monitor windows, approval expiry, `at=` starts).

APScheduler's BackgroundScheduler fires each armed key once on a worker thread. Timers are
not durable on purpose: the journal holds every deadline, and the engine re-arms them at
start-up, so a deadline that passed while rollbot was down must still fire, at once. Hence
no misfire grace limit, coalescing, and a past time meaning "now".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED

log = logging.getLogger("rollbot.timers")


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]
    """BackgroundScheduler minus one shutdown race of APScheduler 3.

    `shutdown()` marks the scheduler stopped without waiting for a pass over due jobs to end;
    that pass then removes the job it just ran from the pending list (empty) instead of the
    job store and dies with JobLookupError on the scheduler thread. Timers are not durable,
    so a pass cut short by shutdown loses nothing."""

    def _process_jobs(self) -> float | None:
        try:
            result: float | None = super()._process_jobs()
        except JobLookupError:
            if self.state != STATE_STOPPED:
                raise
            return None
        return result


class ApsTimers:
    """:class:`rollout.ports.Timers` on APScheduler 3: one job per key, replaced on re-arm."""

    def __init__(self, *, workers: int = 8) -> None:
        self._scheduler = _Scheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            timezone=UTC,
        )

    def start(self) -> None:
        """Begin firing; keys armed before this fire now if their time has passed."""
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop firing; with `wait`, return only after running callbacks have finished."""
        with contextlib.suppress(SchedulerNotRunningError):
            self._scheduler.shutdown(wait=wait)

    def arm(self, key: str, at: datetime, callback: Callable[[], None]) -> None:
        """Call `callback` at `at` (at once if it has passed), replacing whatever `key` held."""
        if at.utcoffset() is None:
            raise ValueError(f"timer {key!r}: naive datetime {at.isoformat()}")
        self._scheduler.add_job(
            _fire,
            trigger="date",
            run_date=at.astimezone(UTC),
            args=(key, callback),
            id=key,
            name=key,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def cancel(self, key: str) -> None:
        """Forget `key`; a key that already fired or was never armed is not an error."""
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(key)

    def armed(self) -> dict[str, datetime]:
        """Keys waiting to fire and when, for status displays and tests."""
        out: dict[str, datetime] = {}
        for job in self._scheduler.get_jobs():
            when = getattr(job, "next_run_time", None) or job.trigger.run_date
            out[job.id] = when
        return out


def _fire(key: str, callback: Callable[[], None]) -> None:
    # APScheduler would log a bare traceback; name the timer so the journal can be matched.
    try:
        callback()
    except Exception:
        log.exception("timer %s: callback failed", key)
