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
    """A Listener noting which rollouts paused while we were following them, and which
    finished removing (or failed to remove) a blue-green rollout's old side.

    A rollout already paused when following begins (e.g. just before `--retry` is taken
    up) must not end the follow; one that pauses afterwards must."""

    def __init__(self) -> None:
        self._paused: set[int] = set()
        self._removal_over: set[int] = set()
        self._lock = threading.Lock()

    def publish(self, event: RolloutEvent) -> None:
        rollout = event.rollout
        with self._lock:
            if event.kind in {EventKind.PAUSED, EventKind.FAILED}:
                self._paused.add(rollout.id)
            elif rollout.active and rollout.phase is not Phase.PAUSED:
                self._paused.discard(rollout.id)
            removal_failed = event.problems and rollout.phase is Phase.COMPLETED
            if event.kind is EventKind.OLD_REMOVED or removal_failed:
                self._removal_over.add(rollout.id)

    def paused(self, rollout_id: int) -> bool:
        with self._lock:
            return rollout_id in self._paused

    def removal_over(self, rollout_id: int) -> bool:
        with self._lock:
            return rollout_id in self._removal_over


def settled(rollout: Rollout, stops: Stops, *, until_removed: bool = False) -> bool:
    """Nothing more to follow: the rollout ended, or paused for someone's choice. With
    `until_removed`, a completed blue-green rollout is followed until the removal of its
    old side, which `remove_old_after` schedules, has been tried."""
    if rollout.phase is Phase.PAUSED:
        return stops.paused(rollout.id)
    if not rollout.phase.terminal:
        return False
    waiting = until_removed and rollout.old_side_removal_owed
    return not waiting or stops.removal_over(rollout.id)


def drive(
    runtime: Runtime,
    ids: Sequence[int],
    *,
    stops: Stops,
    poll: float = POLL_SECONDS,
    stop: threading.Event | None = None,
    until_removed: bool = False,
) -> dict[int, Rollout]:
    """Run the engine for `ids` until each ends or pauses (see `settled`); returns their
    last states."""
    engine = runtime.engine
    pending = list(ids)
    finals: dict[int, Rollout] = {}
    stop = stop or threading.Event()
    while pending and not stop.is_set():
        began = time.monotonic()
        engine.poll_inbox()
        for rid in list(pending):
            rollout = engine.wait(rid, timeout=poll / len(pending))
            if settled(rollout, stops, until_removed=until_removed):
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
