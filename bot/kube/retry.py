"""Bounded retries with exponential backoff for calls to the API server.

Only failures that may go away by themselves (429, 5xx, dropped or refused connections) are
retried, and only for calls that are safe to repeat. Waits honour Retry-After but never
exceed the policy's ceiling, and ``close()`` interrupts them, so nothing here can hang.
Every retry is told to :func:`rollout.retries.note` by kind of call, so the rollout the
call served can say in its summary how many of its calls were tried again, and of what.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal, TypeVar

from bot.backoff import RetryPolicy
from bot.kube.errors import CLIENT_ERRORS, retry_after, translate
from rollout import retries
from rollout.errors import TransientClusterError

T = TypeVar("T")

# What a call does, for the summary's count of retried calls ("2 patches, 1 read"): named
# by each call site, never read back out of the call's description.
CallKind = Literal["read", "patch", "create", "delete", "watch"]


class Retrier:
    """Runs one call at a time under a :class:`RetryPolicy`; safe to share between threads."""

    def __init__(self, policy: RetryPolicy, closed: threading.Event) -> None:
        self.policy = policy
        self._closed = closed

    def call(self, what: str, fn: Callable[[], T], *, kind: CallKind, retry: bool = True) -> T:
        """Run ``fn``, a call of `kind` described by `what` (for errors); translate its
        failure; retry transient ones when ``retry`` is set."""
        attempts = max(1, self.policy.attempts) if retry else 1
        for attempt in range(attempts):
            try:
                return fn()
            except CLIENT_ERRORS as exc:
                hinted = retry_after(exc)
                wait = self.policy.backoff(attempt, hinted)
                err = translate(exc, what, default_delay=wait)
                if not isinstance(err, TransientClusterError) or attempt + 1 >= attempts:
                    raise err from exc
            self.again(kind, wait)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def again(self, kind: CallKind, seconds: float) -> None:
        """A call of `kind` failed for a moment: count it, back off, and let it be tried
        again."""
        retries.note(kind)
        self.pause(seconds)

    def pause(self, seconds: float) -> None:
        """Back off for ``seconds``; give up at once when the cluster client is closed."""
        if self._closed.wait(max(0.0, seconds)):
            raise TransientClusterError("the cluster client was closed", delay=0.0)
