"""One copy of each part that what the adapter keeps of every tenant has alike.

A shared view keeps one object per tenant, and most of each is the same in every tenant:
a healthy pod's conditions and container statuses, a deployment's selector and template,
its revision annotation. Parsed from JSON, every object carries its own copy of them, and
in a view of 10,000 pods those copies are most of its memory. :class:`Parts` hands out
one copy for equal parts instead (and one string for equal names), so each object holds
little more than what is its own: its name and resourceVersion. What preflight keeps of
each tenant until its update (its DeploymentInfo) and the shapes :mod:`bot.kube.seen`
remembers share their parts the same way, through the one table, :data:`SHARED`.

Shared parts must never be changed in place. Nothing does: a view replaces an object
whole on every event, and its readers only read.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Hashable
from typing import TypeVar, cast

LIMIT = 4096  # parts kept; past it the table starts afresh (objects keep their copies)

P = TypeVar("P")


class Parts:
    """A table of parts by their value (JSON text for dicts and lists); safe to use from
    any thread."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = max(1, limit)
        self._lock = threading.Lock()
        self._parts: dict[Hashable, object] = {}

    def one(self, part: P) -> P:
        """The copy of `part` handed out first (`part` itself if none was); a part that
        can be told equal by neither JSON nor hash is handed back as it is."""
        key = _key(part)
        if key is None:
            return part
        with self._lock:
            found = self._parts.get(key)
            if found is not None:
                return cast(P, found)  # stored under this key, whose type is P's
            if len(self._parts) >= self._limit:
                self._parts.clear()
            self._parts[key] = part
        return part

    def __len__(self) -> int:
        with self._lock:
            return len(self._parts)


def _key(part: object) -> Hashable | None:
    """What equal parts of one type have alike: the JSON text of a dict or list, the
    value itself of anything hashable (a tuple, a frozen dataclass)."""
    if isinstance(part, (dict, list)):
        try:
            return type(part).__name__, json.dumps(part, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return None
    try:
        hash(part)
    except TypeError:
        return None
    return type(part).__name__, part


SHARED = Parts()  # what the objects the adapter keeps of a fleet have alike, kept once


def text(value: P) -> P:
    """One string object for equal names (a namespace, an image); anything other than a
    string as it is."""
    return cast(P, sys.intern(value)) if isinstance(value, str) else value
