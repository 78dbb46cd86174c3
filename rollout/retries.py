"""Counting the Kubernetes calls an adapter had to try again, for the rollout they served.

The engine runs each piece of a rollout's work inside :func:`counting`; a Cluster adapter
that tries a call again after a passing API error says so with :func:`note`. The count
goes to the context of the thread doing that work (:func:`carried` takes it along into
the pool threads a batch fans out to), so two rollouts running at once never mix their
counts, and the domain never has to know the adapter. The engine then records the count
on the rollout, where the journal keeps it and the summary names it.
"""

from __future__ import annotations

import contextvars
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from rollout.model import Retries

P = ParamSpec("P")
R = TypeVar("R")


class _Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def retries(self) -> Retries:
        with self._lock:
            return Retries.of(self._counts)


_current: contextvars.ContextVar[_Tally | None] = contextvars.ContextVar(
    "rollbot_retry_tally", default=None
)


def note(kind: str) -> None:
    """One call of `kind` ("patch", "read", ...) is being tried again. Outside any
    :func:`counting` (a status check, a preflight of `rollbot plan`) it counts nowhere."""
    tally = _current.get()
    if tally is not None:
        tally.add(kind)


@contextmanager
def counting() -> Iterator[Callable[[], Retries]]:
    """Count what is noted in this thread (and the threads it hands work to with
    :func:`carried`) until the block ends; yields a function reading the count."""
    tally = _Tally()
    token = _current.set(tally)
    try:
        yield tally.retries
    finally:
        _current.reset(token)


def carried(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, to run once on another thread but count where the caller counts (wrap it
    anew for every job: one context cannot be entered by two threads at once)."""
    context = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.run(fn, *args, **kwargs)

    return run
