"""How fast an app's tenants roll, read from the journal for estimates and ETAs.

The arithmetic is pure (:func:`rollout.plan.measured_pace`); this is the one place that
reads the history it needs, so the dry run, the plan in the thread and the ETA in the
parent message rest on the same numbers. A rollout keeps the pace it was first given:
its app's history cannot change while it runs (one active rollout per app), and reading
it again for every message would cost a journal query per event.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from rollout.model import Phase, Rollout
from rollout.plan import DEFAULT_PARALLEL, PACE_ROLLOUTS, Pace, measured_pace
from rollout.ports import Store

_REMEMBERED = 256  # rollouts whose pace is kept in memory


class Paces:
    """The pace of each app, from its last completed rollouts in `store`; `parallel` is
    how many tenants the engine updates at once."""

    def __init__(self, store: Store, *, parallel: int = DEFAULT_PARALLEL) -> None:
        self._store = store
        self._parallel = parallel
        self._lock = threading.Lock()
        self._by_rollout: OrderedDict[int, Pace] = OrderedDict()

    def of_app(self, app: str) -> Pace:
        """Read now: what a rollout of `app` starting now should expect."""
        done = self._store.list_rollouts(app=app, phase=Phase.COMPLETED, limit=PACE_ROLLOUTS)
        return measured_pace(done, parallel=self._parallel)

    def of(self, rollout: Rollout) -> Pace:
        """The pace of `rollout`'s app as it was when this first asked about it."""
        with self._lock:
            known = self._by_rollout.get(rollout.id)
        if known is not None:
            return known
        pace = self.of_app(rollout.app)
        with self._lock:
            self._by_rollout[rollout.id] = pace
            while len(self._by_rollout) > _REMEMBERED:
                self._by_rollout.popitem(last=False)
        return pace
