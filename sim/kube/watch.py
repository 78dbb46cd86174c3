"""Watch fan-out: event history for ``resourceVersion`` replay and live delivery.

Watchers are indexed by resource and namespace, so an event in one tenant namespace
reaches only that namespace's watchers (plus cluster-wide ones) rather than every open
watch: 1,000 namespaces with a watch each stay cheap.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.kube.resources import ApiError
from sim.kube.selectors import Matcher

FieldMatcher = Callable[[Mapping[str, Any]], bool]


@dataclass
class Event:
    """One committed change. Stored objects are never mutated after commit, so the
    event can hold references instead of copies."""

    type: str  # ADDED, MODIFIED, DELETED
    plural: str
    namespace: str
    rv: int
    obj: dict[str, Any]
    old: dict[str, Any] | None = None
    _lines: dict[str, bytes] = field(default_factory=dict, repr=False)

    def line(self, type_: str | None = None) -> bytes:
        """The newline-delimited JSON frame, serialised once per event type."""
        kind = type_ or self.type
        if kind not in self._lines:
            frame = {"type": kind, "object": self.obj}
            self._lines[kind] = json.dumps(frame, separators=(",", ":")).encode() + b"\n"
        return self._lines[kind]


@dataclass(eq=False)
class Watcher:
    """One open watch stream; the server drains ``queue`` into the HTTP response."""

    plural: str
    namespace: str | None  # None watches every namespace
    labels: Matcher | None
    fields: FieldMatcher | None
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if self.labels is not None and not self.labels(meta.get("labels") or {}):
            return False
        return self.fields is None or self.fields(obj)

    def offer(self, event: Event) -> None:
        """Queue the frame this watcher should see: a MODIFIED object that enters or
        leaves the selection reads as ADDED or DELETED, as on the real server."""
        now = self.matches(event.obj)
        before = event.old is not None and self.matches(event.old)
        if event.type == "MODIFIED" and now and not before:
            self.queue.put_nowait(event.line("ADDED"))
        elif event.type == "MODIFIED" and before and not now:
            self.queue.put_nowait(event.line("DELETED"))
        elif now:
            self.queue.put_nowait(event.line())


def expired_frame(requested: int, oldest: int) -> bytes:
    err = ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")
    return json.dumps({"type": "ERROR", "object": err.status()}).encode() + b"\n"


class WatchHub:
    """History per resource (bounded) and the open watchers, by resource and namespace."""

    def __init__(self, *, history: int = 20_000) -> None:
        self._history: dict[str, deque[Event]] = defaultdict(lambda: deque(maxlen=history))
        self._compacted: dict[str, int] = defaultdict(int)
        self._watchers: dict[str, dict[str | None, set[Watcher]]] = defaultdict(
            lambda: defaultdict(set)
        )

    def publish(self, event: Event) -> None:
        hist = self._history[event.plural]
        if hist.maxlen is not None and len(hist) == hist.maxlen:
            self._compacted[event.plural] = hist[0].rv
        hist.append(event)
        by_ns = self._watchers.get(event.plural)
        if not by_ns:
            return
        for w in by_ns.get(event.namespace, ()):
            w.offer(event)
        if event.namespace:
            for w in by_ns.get(None, ()):
                w.offer(event)

    def open(self, watcher: Watcher, *, since: int | None,
             current: Callable[[], Iterable[dict[str, Any]]]) -> None:
        """Register ``watcher``, first queueing what it missed: every current object as
        ADDED when ``since`` is None, else the history newer than ``since``."""
        if since is None:
            for obj in current():
                if watcher.matches(obj):
                    frame = {"type": "ADDED", "object": obj}
                    watcher.queue.put_nowait(json.dumps(frame).encode() + b"\n")
        elif since < self._compacted[watcher.plural]:
            watcher.queue.put_nowait(expired_frame(since, self._compacted[watcher.plural]))
            watcher.queue.put_nowait(None)
            return
        else:
            for event in self._since(watcher.plural, since):
                if watcher.namespace is None or event.namespace == watcher.namespace:
                    watcher.offer(event)
        self._watchers[watcher.plural][watcher.namespace].add(watcher)

    def _since(self, plural: str, rv: int) -> list[Event]:
        newer: list[Event] = []
        for event in reversed(self._history[plural]):
            if event.rv <= rv:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def close(self, watcher: Watcher) -> None:
        self._watchers[watcher.plural][watcher.namespace].discard(watcher)

    def close_all(self) -> None:
        """End every stream (server shutdown): a None in the queue ends the response."""
        for by_ns in self._watchers.values():
            for watchers in by_ns.values():
                for w in watchers:
                    w.queue.put_nowait(None)

    def count(self) -> int:
        return sum(len(ws) for by_ns in self._watchers.values() for ws in by_ns.values())
