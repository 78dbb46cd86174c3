"""What a rollout wait has learnt of the deployment's new pods, kept between its calls.

A caller may wait on one rollout in slices (the engine does, so that a shutdown is heard),
each slice one call to the adapter; the looks at the new pods are spaced over the whole
wait, not over each slice, so the adapter keeps one record per deployment being waited on
and a call that goes on with the same wait picks it up.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from rollout.ports import FailFast

DEFAULT_LIMIT = 20_000  # waits remembered at once; one per deployment being waited on
Key = tuple[str, str]


@dataclass
class Watched:
    """What one wait on one deployment has learnt of its new pods, across its calls."""

    min_generation: int
    started: float  # time.monotonic() when the wait began
    last_look: float | None = None
    generation: int = 0  # the deployment generation `selector` was found for
    selector: str | None = None  # the new ReplicaSet's pods
    stuck: dict[str, float] = field(default_factory=dict)  # "pod/container" -> first seen

    def next_look(self, fail_fast: FailFast) -> float:
        if self.last_look is None:
            return self.started + fail_fast.first_look_seconds
        return self.last_look + max(0.1, fail_fast.look_every_seconds)


class Watches:
    """Per deployment, the wait in progress on it; bounded and thread-safe."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._lock = threading.Lock()
        self._limit = max(1, limit)
        self._waits: OrderedDict[Key, Watched] = OrderedDict()

    def begin(self, namespace: str, name: str, *, min_generation: int, waited: float) -> Watched:
        """The record of this wait: the one kept if this call goes on with it (`waited`
        > 0 and the same change waited for), else a new one."""
        key = (namespace, name)
        with self._lock:
            found = self._waits.get(key)
            if found is None or waited <= 0 or found.min_generation != min_generation:
                found = Watched(min_generation, time.monotonic() - max(0.0, waited))
                self._waits[key] = found
            self._waits.move_to_end(key)
            while len(self._waits) > self._limit:
                self._waits.popitem(last=False)
            return found

    def end(self, namespace: str, name: str) -> None:
        with self._lock:
            self._waits.pop((namespace, name), None)
