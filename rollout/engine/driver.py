"""One mailbox per rollout, drained by one job at a time: events of a rollout are handled
strictly in order, never two at once, while different rollouts proceed in parallel.

The driver also keeps the books that `Engine.join()` and `Engine.wait()` rest on: how much
work is queued or in flight, and a counter of saved states that waiters watch. It knows
nothing of rollouts beyond their IDs; what an event does is the handler's business.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rollout.errors import EngineStopped
from rollout.machine import Event

log = logging.getLogger("rollbot.engine")


@dataclass
class _Posted:
    event: Event
    reply: Future[Any] | None = field(default=None)


Handler = Callable[[int, Event], Any]


class Driver:
    """Serialises events per rollout on a small pool, and counts outstanding work."""

    def __init__(self, handler: Handler, *, workers: int) -> None:
        self._handler = handler
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rollbot-driver")
        self._cond = threading.Condition()
        self._mailboxes: dict[int, deque[_Posted]] = {}
        self._draining: set[int] = set()
        self._outstanding = 0  # events queued or being handled, plus effects in flight
        self._saves = 0  # bumped on every saved state; waiters watch it
        self._stopped = False
        self._local = threading.local()  # set while this thread handles an event

    # --- posting ------------------------------------------------------------------------------

    def post(self, rollout_id: int, event: Event, *, reply: bool = False) -> Future[Any] | None:
        """Queue an event; with `reply`, a Future that gets the handler's result or error."""
        posted = _Posted(event, Future() if reply else None)
        with self._cond:
            if self._stopped:
                if posted.reply is not None:
                    posted.reply.set_exception(EngineStopped("rollbot is shutting down"))
                return posted.reply
            self._mailboxes.setdefault(rollout_id, deque()).append(posted)
            self._outstanding += 1
            start = rollout_id not in self._draining
            if start:
                self._draining.add(rollout_id)
        if start:
            self._pool.submit(self._drain, rollout_id)
        return posted.reply

    def _drain(self, rollout_id: int) -> None:
        while True:
            with self._cond:
                box = self._mailboxes.get(rollout_id)
                if self._stopped or not box:
                    self._draining.discard(rollout_id)
                    self._mailboxes.pop(rollout_id, None)
                    self._cond.notify_all()
                    return
                posted = box.popleft()
            try:
                self._handle(rollout_id, posted)
            finally:
                self.done()

    def handling(self) -> bool:
        """True on a thread that is handling an event (listeners run there): it must not
        wait for another event's reply, which may be queued behind its own."""
        return bool(getattr(self._local, "busy", False))

    def _handle(self, rollout_id: int, posted: _Posted) -> None:
        self._local.busy = True
        try:
            result = self._handler(rollout_id, posted.event)
        except BaseException as exc:
            if posted.reply is not None:
                posted.reply.set_exception(exc)
            else:
                log.exception("rollout #%s: handling %r failed", rollout_id, posted.event)
            if not isinstance(exc, Exception):
                raise
        else:
            if posted.reply is not None:
                posted.reply.set_result(result)
        finally:
            self._local.busy = False

    # --- the books ----------------------------------------------------------------------------

    def begin(self) -> None:
        """An effect started running; `done()` when its result has been posted (or dropped)."""
        with self._cond:
            self._outstanding += 1

    def done(self) -> None:
        with self._cond:
            self._outstanding -= 1
            if self._outstanding == 0:
                self._cond.notify_all()

    def saved(self) -> None:
        with self._cond:
            self._saves += 1
            self._cond.notify_all()

    @property
    def saves(self) -> int:
        with self._cond:
            return self._saves

    def wait_saved(self, seen: int, timeout: float) -> None:
        """Return when a state newer than `seen` was saved, the engine stopped, or timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._saves != seen or self._stopped, timeout)

    def join(self, timeout: float | None) -> bool:
        """True when nothing is queued or in flight (timers armed do not count)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._outstanding <= 0, timeout)

    # --- stopping -----------------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        with self._cond:
            return self._stopped

    def stop(self, *, wait: bool) -> None:
        """Drop everything queued (as a crash would) and let running handlers finish."""
        with self._cond:
            self._stopped = True
            dropped = [p for box in self._mailboxes.values() for p in box]
            self._outstanding -= len(dropped)
            self._mailboxes.clear()
            self._cond.notify_all()
        for posted in dropped:
            if posted.reply is not None and not posted.reply.done():
                posted.reply.set_exception(EngineStopped("rollbot is shutting down"))
        self._pool.shutdown(wait=wait, cancel_futures=True)
