"""What the adapter last saw of each deployment, so that it need not ask the server again.

A rollout touches each tenant's deployment several times within minutes: preflight reads
it, the update patches it, the wait follows it, health checks list its pods. Reading it
again before each step costs requests and tells little, so three things are remembered,
each chosen because acting on it without a fresh read is still safe:

- its label selector, to list its pods: apps/v1 makes a Deployment's selector immutable;
- the order of its containers, so `set_image` can patch at once: the JSON patch tests the
  container's name at the index it was seen at, and the server refuses the whole patch
  if the container moved or went, after which the adapter reads afresh;
- the state a patch left it in, which the wait that follows starts from (and watches
  from its resourceVersion) exactly as it would from a fresh read: it was seen after the
  change being waited for. It is handed out once and only for that change or a later one.

Bounded (least recently used go first) and thread-safe; it lives as long as the adapter.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, TypeVar

from kubernetes import client

DEFAULT_LIMIT = 20_000  # deployments remembered; a fleet of thousands fits
Key = tuple[str, str]
V = TypeVar("V")


@dataclass(frozen=True)
class Shape:
    """What does not change while a deployment lives, or changes only by someone's edit."""

    selector: str  # as the labelSelector query string
    containers: tuple[str, ...]  # names, in spec order


def _meta(obj: Any) -> client.V1ObjectMeta:
    found = getattr(obj, "metadata", None)
    return found if isinstance(found, client.V1ObjectMeta) else client.V1ObjectMeta()


def _key(dep: client.V1Deployment) -> Key | None:
    md = _meta(dep)
    return (md.namespace, md.name) if md.namespace and md.name else None


def selector_string(selector: client.V1LabelSelector | None) -> str:
    """A LabelSelector as the ``labelSelector`` query string."""
    if selector is None:
        return ""
    parts = [f"{key}={value}" for key, value in sorted((selector.match_labels or {}).items())]
    for expr in selector.match_expressions or []:
        values = ",".join(expr.values or [])
        parts.append(
            {
                "In": f"{expr.key} in ({values})",
                "NotIn": f"{expr.key} notin ({values})",
                "Exists": expr.key,
                "DoesNotExist": f"!{expr.key}",
            }.get(expr.operator, expr.key)
        )
    return ",".join(parts)


def shape_of(dep: client.V1Deployment) -> Shape:
    spec = dep.spec
    template = spec.template.spec if spec and spec.template else None
    containers = tuple(c.name for c in (template.containers or [])) if template else ()
    return Shape(selector=selector_string(spec.selector if spec else None), containers=containers)


class Seen:
    """Shapes and post-patch states of deployments, by (namespace, name)."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._lock = threading.Lock()
        self._limit = max(1, limit)
        self._shapes: OrderedDict[Key, Shape] = OrderedDict()
        self._states: OrderedDict[Key, client.V1Deployment] = OrderedDict()

    def note(self, dep: client.V1Deployment) -> None:
        """Remember the shape of a deployment just read, patched or watched."""
        key = _key(dep)
        if key is not None:
            with self._lock:
                self._put(self._shapes, key, shape_of(dep))

    def shape(self, namespace: str, name: str) -> Shape | None:
        with self._lock:
            found = self._shapes.get((namespace, name))
            if found is not None:
                self._shapes.move_to_end((namespace, name))
            return found

    def keep(self, dep: client.V1Deployment) -> None:
        """Remember a state seen after a change (a patch's answer, the last state a wait
        saw) for the next wait on that change."""
        key = _key(dep)
        if key is not None:
            with self._lock:
                self._put(self._shapes, key, shape_of(dep))
                self._put(self._states, key, dep)

    def take(self, namespace: str, name: str, *, min_generation: int) -> client.V1Deployment | None:
        """The kept state, once, if it was seen after the change that made `min_generation`
        (its generation is at least that). Without a generation nothing is known about
        when the change was made, so the caller reads afresh."""
        with self._lock:
            found = self._states.pop((namespace, name), None)
        if found is None or min_generation <= 0:
            return None
        return found if (_meta(found).generation or 0) >= min_generation else None

    def forget(self, namespace: str, name: str) -> None:
        """The deployment is gone, or not as it was seen: the next step reads it."""
        with self._lock:
            self._shapes.pop((namespace, name), None)
            self._states.pop((namespace, name), None)

    def _put(self, table: OrderedDict[Key, V], key: Key, value: V) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._limit:
            table.popitem(last=False)
