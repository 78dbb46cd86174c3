"""Staying with a rollout in the foreground until it ends or needs a person.

Two ways to stay with one: *drive* it (this process runs its engine, picks up requests
other processes queue in the journal, and prints events as they happen), or *watch* it
(another process drives; this one reads the journal and prints progress as it changes).
Either stops when the rollout ends, or when it pauses and waits for someone's choice:
a foreground command should not sit silently on a rollout nobody is moving.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bot.runtime import Runtime
from bot.terminal.printer import Printer
from rollout.errors import UnknownRollout
from rollout.model import EventKind, Phase, Rollout, RolloutEvent
from rollout.ports import Store

POLL_SECONDS = 0.5  # how often the journal is read for requests from other processes


class Stops:
    """A Listener noting which rollouts paused while we were following them.

    A rollout already paused when following begins (e.g. just before `--retry` is taken
    up) must not end the follow; one that pauses afterwards must."""

    def __init__(self) -> None:
        self._paused: set[int] = set()
        self._lock = threading.Lock()

    def publish(self, event: RolloutEvent) -> None:
        if event.kind in {EventKind.PAUSED, EventKind.FAILED}:
            with self._lock:
                self._paused.add(event.rollout.id)
        elif event.rollout.active and event.rollout.phase is not Phase.PAUSED:
            with self._lock:
                self._paused.discard(event.rollout.id)

    def paused(self, rollout_id: int) -> bool:
        with self._lock:
            return rollout_id in self._paused


def settled(rollout: Rollout, stops: Stops) -> bool:
    return rollout.phase.terminal or (rollout.phase is Phase.PAUSED and stops.paused(rollout.id))


def drive(
    runtime: Runtime,
    ids: Sequence[int],
    *,
    stops: Stops,
    poll: float = POLL_SECONDS,
    stop: threading.Event | None = None,
) -> dict[int, Rollout]:
    """Run the engine for `ids` until each ends or pauses; returns their last states."""
    engine = runtime.engine
    pending = list(ids)
    finals: dict[int, Rollout] = {}
    stop = stop or threading.Event()
    while pending and not stop.is_set():
        began = time.monotonic()
        engine.poll_inbox()
        for rid in list(pending):
            rollout = engine.wait(rid, timeout=poll / len(pending))
            if settled(rollout, stops):
                finals[rid] = rollout
                pending.remove(rid)
        # wait() returns at once for a rollout held at its gate; keep the poll rate anyway.
        rest = poll - (time.monotonic() - began)
        if pending and rest > 0:
            stop.wait(rest)
    return finals


def watch(
    store: Store,
    rollout_id: int,
    *,
    printer: Printer,
    until: Callable[[Rollout], bool],
    driven: Callable[[], bool],
    poll: float = POLL_SECONDS,
) -> Rollout:
    """Read the journal until `until(rollout)` holds, or until no process drives the
    rollout any more (`driven()` turns false); print progress as it changes."""
    seen = -1
    while True:
        rollout = store.get(rollout_id)
        if rollout is None:
            raise UnknownRollout(rollout_id)
        if rollout.lock_version != seen:
            seen = rollout.lock_version
            printer.publish(
                RolloutEvent(kind=EventKind.PROGRESS, rollout=rollout, at=datetime.now(UTC))
            )
        if until(rollout):
            return rollout
        if not driven():
            # The driver lets go as the rollout ends: read once more before giving up.
            return store.get(rollout_id) or rollout
        time.sleep(poll)
