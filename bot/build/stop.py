"""A stop that reaches work blocked in I/O.

A release is stopped from another thread (a Stop click, `rollbot release cancel`), while
its steps sit in blocking calls: waiting for pnpm, reading the Docker engine's build
stream. Setting a flag would not wake them, so each step registers how to end what it is
blocked on (kill a process group, shut a socket), and :meth:`Stop.stop` runs those at once.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class Stop:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closers: dict[int, Callable[[], None]] = {}
        self.by = ""  # who asked

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def stop(self, by: str = "") -> None:
        """End everything registered now, and whatever registers from here on."""
        with self._lock:
            if self._event.is_set():
                return
            self.by = by
            self._event.set()
            closers = list(self._closers.values())
        for close in closers:
            _quietly(close)

    @contextmanager
    def closing(self, close: Callable[[], None]) -> Iterator[None]:
        """While the block runs, a stop calls `close` (at once if already stopped)."""
        with self._lock:
            key = next(self._ids)
            self._closers[key] = close
            already = self._event.is_set()
        if already:
            _quietly(close)
        try:
            yield
        finally:
            with self._lock:
                self._closers.pop(key, None)


def _quietly(close: Callable[[], None]) -> None:
    try:
        close()
    except Exception:  # ending something already ended is fine; anything else is logged
        log.exception("stopping a release step failed")
