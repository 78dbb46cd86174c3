"""The simulated cluster's state: every object, its resourceVersion, and change events.

All access happens on the sim's event loop, so no locks. Stored dicts are never mutated
once committed: a write builds a new dict. That lets list answers and watch events share
objects without copying, and makes "did anything change?" a plain comparison.
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sim.kube import objects
from sim.kube.resources import (
    BY_PLURAL,
    Resource,
    already_exists,
    bad_request,
    conflict,
    not_found,
)
from sim.kube.selectors import Matcher
from sim.kube.watch import Event, FieldMatcher, Watcher, WatchHub

Observer = Callable[[Event], None]


@dataclass(frozen=True)
class Snapshot:
    """A store's objects (by resource, namespace and name) and its resourceVersion."""

    objects: dict[str, dict[str, dict[str, dict[str, Any]]]]
    rv: int


NAMESPACES = BY_PLURAL["namespaces"]
# Kinds whose status is written through the status subresource only.
_STATUS_KINDS = {"deployments", "replicasets", "pods", "namespaces", "services"}
_GENERATION_KINDS = {"deployments", "replicasets"}


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


def _tombstone(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as its DELETED event shows it (own metadata, for the final rv)."""
    return {**obj, "metadata": dict(obj["metadata"])}


class Store:
    """Objects by resource, namespace and name, with watches and change observers.

    Callers of ``update`` may build bodies by spreading stored objects
    (``{**rs, "spec": {...}}``): the store never mutates what it has committed."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[str, dict[str, dict[str, Any]]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        self.rv = 0
        self.hub = WatchHub()
        self.observers: list[Observer] = []

    # -- reading ---------------------------------------------------------------------
    def find(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._objects[res.plural].get(namespace or "", {}).get(name)

    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self.find(res, namespace, name)
        if obj is None:
            raise not_found(res, name)
        return obj

    def items(self, res: Resource, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """Objects in name order; every namespace (in order) when ``namespace`` is None."""
        by_ns = self._objects[res.plural]
        spaces = sorted(by_ns) if namespace is None else [namespace]
        for ns in spaces:
            bucket = by_ns.get(ns) or {}
            for name in sorted(bucket):
                yield bucket[name]

    def select(self, res: Resource, namespace: str | None, *, labels: Matcher | None = None,
               fields: FieldMatcher | None = None, name: str | None = None,
               ) -> list[dict[str, Any]]:
        if name is not None and namespace is not None:
            found = self.find(res, namespace, name)
            candidates: list[dict[str, Any]] = [found] if found else []
        else:
            candidates = list(self.items(res, namespace))
        out = []
        for obj in candidates:
            meta = obj["metadata"]
            if labels is not None and not labels(meta.get("labels") or {}):
                continue
            if fields is not None and not fields(obj):
                continue
            out.append(obj)
        return out

    def count(self, res: Resource) -> int:
        return sum(len(b) for b in self._objects[res.plural].values())

    # -- writing ---------------------------------------------------------------------
    def _commit(self, res: Resource, ns: str, obj: dict[str, Any], type_: str,
                old: dict[str, Any] | None) -> dict[str, Any]:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        bucket = self._objects[res.plural][ns]
        if type_ == "DELETED":
            bucket.pop(obj["metadata"]["name"], None)
        else:
            bucket[obj["metadata"]["name"]] = obj
        event = Event(type_, res.plural, ns, self.rv, obj, old)
        self.hub.publish(event)
        for observer in self.observers:
            observer(event)
        return obj

    def create(self, res: Resource, namespace: str | None, body: dict[str, Any], *,
               dry_run: bool = False) -> dict[str, Any]:
        """Store a new object. The store owns ``body`` from here on (it is defaulted in
        place, not copied): pass fresh data, and do not touch it afterwards. A `dry_run`
        (``?dryRun=All``) checks and defaults it as a create would, and stores nothing."""
        obj = {**body, "metadata": dict(body.get("metadata") or {})}
        meta = obj["metadata"]
        ns = (namespace or "") if res.namespaced else ""
        if res.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match "
                                  "the namespace sent on the request")
            if self.find(NAMESPACES, None, ns) is None:
                raise not_found(NAMESPACES, ns)
            meta["namespace"] = ns
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + random_suffix()
        objects.apply_defaults(res, obj)
        objects.validate(res, obj)
        if self.find(res, ns, meta["name"]) is not None:
            raise already_exists(res, meta["name"])
        meta.pop("resourceVersion", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = objects.timestamp()
        if res.plural in _GENERATION_KINDS:
            meta["generation"] = 1
        if dry_run:
            return obj
        return self._commit(res, ns, obj, "ADDED", None)

    def update(self, res: Resource, namespace: str | None, name: str, body: dict[str, Any], *,
               subresource: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        """Replace an object (PUT). The main resource keeps the stored status and the
        status subresource keeps everything else; a no-op write, or a `dry_run`, changes
        nothing."""
        ns = (namespace or "") if res.namespaced else ""
        old = self.get(res, ns, name)
        # Nested values may be shared with stored objects (never mutated; defaulting
        # them again is a no-op); metadata is copied because it is written below.
        obj = {**body, "metadata": dict(body.get("metadata") or {})}
        meta = obj["metadata"]
        if meta.get("name", name) != name:
            raise bad_request("the name of the object does not match the name on the URL")
        sent_rv = meta.get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(res, name)
        if subresource == "status":
            obj = {**old, "metadata": dict(old["metadata"]), "status": obj.get("status", {})}
            meta = obj["metadata"]
        elif res.plural in _STATUS_KINDS and "status" in old:
            obj["status"] = old["status"]  # shared: stored objects are immutable
        for key in ("name", "uid", "creationTimestamp", "generation"):
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
        if res.namespaced:
            meta["namespace"] = ns
        objects.apply_defaults(res, obj)
        objects.validate(res, obj)
        if res.plural in _GENERATION_KINDS and obj.get("spec") != old.get("spec"):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if obj == old:
            return old
        if dry_run:
            return obj
        return self._commit(res, ns, obj, "MODIFIED", old)

    def delete(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        """Delete at once, then the dependents: owned objects (by owner uid) and, for a
        namespace, everything in it. The real server does this in the background."""
        ns = (namespace or "") if res.namespaced else ""
        old = self.get(res, ns, name)
        if res.plural == "namespaces":
            for other in BY_PLURAL.values():
                if other.namespaced:
                    for obj in list(self.items(other, name)):
                        self._commit(other, name, _tombstone(obj), "DELETED", None)
        gone = self._commit(res, ns, _tombstone(old), "DELETED", None)
        uid = old["metadata"].get("uid")
        if res.namespaced and uid:
            for plural in ("replicasets", "pods"):
                dep = BY_PLURAL[plural]
                for obj in list(self.items(dep, ns)):
                    owners = obj["metadata"].get("ownerReferences") or []
                    if any(o.get("uid") == uid for o in owners):
                        self.delete(dep, ns, obj["metadata"]["name"])
        return gone

    # -- copies ----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Every object and the resourceVersion, to start another store from. Committed
        objects are never mutated, so the copy shares them."""
        objects = {plural: {ns: dict(bucket) for ns, bucket in spaces.items()}
                   for plural, spaces in self._objects.items()}
        return Snapshot(objects, self.rv)

    def restore(self, snapshot: Snapshot) -> None:
        """Become `snapshot`, before anyone watches; observers hear each object as ADDED
        (the controller queues every deployment, finding them settled)."""
        self.rv = snapshot.rv
        for plural, spaces in snapshot.objects.items():
            for ns, bucket in spaces.items():
                self._objects[plural][ns] = dict(bucket)
                for obj in bucket.values():
                    event = Event("ADDED", plural, ns, self.rv, obj, None)
                    for observer in self.observers:
                        observer(event)

    # -- watching --------------------------------------------------------------------
    def watch(self, res: Resource, namespace: str | None, *, labels: Matcher | None,
              fields: FieldMatcher | None, since: int | None) -> Watcher:
        watcher = Watcher(res.plural, namespace if res.namespaced else None, labels, fields)
        self.hub.open(watcher, since=since, current=lambda: self.items(res, namespace))
        return watcher
