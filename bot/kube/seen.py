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
  change being waited for. It is handed out once and only for that change or a later one;
- the newest resourceVersion seen of it, which a shared view of pods must have caught up
  with before it answers for this deployment's pods (see :mod:`bot.kube.pod_view`).

Bounded (least recently used go first) and thread-safe; it lives as long as the adapter.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.kube.parts import SHARED

Json = dict[str, Any]
DEFAULT_LIMIT = 20_000  # deployments remembered; a fleet of thousands fits
Key = tuple[str, str]
V = TypeVar("V")


@dataclass(frozen=True)
class Shape:
    """What does not change while a deployment lives, or changes only by someone's edit."""

    selector: str  # as the labelSelector query string
    containers: tuple[str, ...]  # names, in spec order


def _key(dep: Json) -> Key | None:
    md = dep.get("metadata")
    if not isinstance(md, dict):
        return None
    namespace, name = md.get("namespace"), md.get("name")
    return (namespace, name) if namespace and name else None


def selector_string(selector: object) -> str:
    """A LabelSelector (JSON) as the ``labelSelector`` query string."""
    if not isinstance(selector, dict):
        return ""
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key = expr.get("key", "")
        values = ",".join(expr.get("values") or [])
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }.get(expr.get("operator", ""), key)
        )
    return ",".join(parts)


def version_of(obj: object) -> int:
    """An object's (or a list's) resourceVersion as a number; 0 when it is not one.
    Kubernetes calls versions opaque, but every API server in use numbers them from one
    counter (etcd's revision); a server that does not is simply never compared."""
    md = obj.get("metadata") if isinstance(obj, dict) else None
    raw = md.get("resourceVersion") if isinstance(md, dict) else None
    return int(raw) if isinstance(raw, str) and raw.isdigit() else 0


def shape_of(dep: Json) -> Shape:
    """The deployment's shape; one copy for every deployment of that shape, as a fleet's
    tenants mostly are (see :mod:`bot.kube.parts`)."""
    spec = dep.get("spec") or {}
    template = (spec.get("template") or {}).get("spec") or {}
    containers = tuple(str(c.get("name") or "") for c in template.get("containers") or [])
    return SHARED.one(Shape(selector=selector_string(spec.get("selector")), containers=containers))


class Seen:
    """Shapes and post-patch states of deployments, by (namespace, name)."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._lock = threading.Lock()
        self._limit = max(1, limit)
        self._shapes: OrderedDict[Key, Shape] = OrderedDict()
        self._states: OrderedDict[Key, Json] = OrderedDict()
        self._versions: OrderedDict[Key, int] = OrderedDict()

    def note(self, dep: Json) -> None:
        """Remember the shape of a deployment just read, patched or watched."""
        key = _key(dep)
        if key is not None:
            with self._lock:
                self._put(self._shapes, key, shape_of(dep))
                self._saw(key, dep)

    def shape(self, namespace: str, name: str) -> Shape | None:
        with self._lock:
            found = self._shapes.get((namespace, name))
            if found is not None:
                self._shapes.move_to_end((namespace, name))
            return found

    def keep(self, dep: Json) -> None:
        """Remember a state seen after a change (a patch's answer, the last state a wait
        saw) for the next wait on that change."""
        key = _key(dep)
        if key is not None:
            with self._lock:
                self._put(self._shapes, key, shape_of(dep))
                self._put(self._states, key, dep)
                self._saw(key, dep)

    def version(self, namespace: str, name: str) -> int:
        """The newest resourceVersion seen of the deployment; 0 when none was."""
        with self._lock:
            return self._versions.get((namespace, name), 0)

    def take(self, namespace: str, name: str, *, min_generation: int) -> Json | None:
        """The kept state, once, if it was seen after the change that made `min_generation`
        (its generation is at least that). Without a generation nothing is known about
        when the change was made, so the caller reads afresh."""
        with self._lock:
            found = self._states.pop((namespace, name), None)
        if found is None or min_generation <= 0:
            return None
        generation = (found.get("metadata") or {}).get("generation") or 0
        return found if generation >= min_generation else None

    def forget(self, namespace: str, name: str) -> None:
        """The deployment is gone, or not as it was seen: the next step reads it."""
        with self._lock:
            self._shapes.pop((namespace, name), None)
            self._states.pop((namespace, name), None)
            self._versions.pop((namespace, name), None)

    def _saw(self, key: Key, dep: Json) -> None:
        self._put(self._versions, key, max(self._versions.get(key, 0), version_of(dep)))

    def _put(self, table: OrderedDict[Key, V], key: Key, value: V) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._limit:
            table.popitem(last=False)
