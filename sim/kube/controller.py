"""The Deployment and ReplicaSet controllers, and the kubelet's part for pods.

Like the real controllers it is level-based: any change to a deployment, one of its
ReplicaSets or their pods queues the deployment, and ``sync`` moves the world one step
toward the spec, writing only what differs (so its own writes settle instead of looping).
Pod start-up, crash restarts and progress deadlines are timers on the sim's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
from typing import Any

from sim.kube import pods
from sim.kube.behaviours import Behaviours
from sim.kube.objects import clone, timestamp
from sim.kube.resources import BY_PLURAL
from sim.kube.store import Store, random_suffix
from sim.kube.watch import Event

DEPLOYS, RSS, PODS, EVENTS = (BY_PLURAL[p] for p in
                              ("deployments", "replicasets", "pods", "events"))
REVISION = "deployment.kubernetes.io/revision"
HASH = "pod-template-hash"
_SKIP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",
                     "deployment.kubernetes.io/")
Key = tuple[str, str]


def _owner(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    refs = obj["metadata"].get("ownerReferences") or []
    return next((r for r in refs if r.get("kind") == kind and r.get("controller")), None)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def strip_hash(template: dict[str, Any]) -> dict[str, Any]:
    """The template as compared across ReplicaSets: no hash label, and no nulls (kubectl
    sends ``creationTimestamp: null`` in templates, which the real server drops)."""
    out: dict[str, Any] = _without_nulls(template)
    labels = (out.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH, None)
    return out


def template_hash(template: dict[str, Any]) -> str:
    raw = json.dumps(strip_hash(template), sort_keys=True).encode()
    digest = int.from_bytes(hashlib.sha256(raw).digest()[:8], "big")
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    chars = []
    for _ in range(10):
        digest, r = divmod(digest, len(alphabet))
        chars.append(alphabet[r])
    return "".join(chars)


def revision(obj: dict[str, Any]) -> int:
    raw = (obj["metadata"].get("annotations") or {}).get(REVISION, "0")
    return int(raw) if str(raw).isdigit() else 0


class Controller:
    """Drives deployments toward their spec; ``instant`` skips the start-up delay."""

    def __init__(self, store: Store, behaviours: Behaviours, *, ready_delay: float = 0.05,
                 deadline_scale: float = 1.0) -> None:
        self.store = store
        self.behaviours = behaviours
        self.ready_delay = ready_delay
        self.deadline_scale = deadline_scale
        self.instant = False
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._deadlines: dict[Key, asyncio.TimerHandle] = {}
        self._progress: dict[Key, tuple[tuple[Any, ...], float]] = {}
        self._task: asyncio.Task[None] | None = None
        store.observers.append(self._observe)

    # -- plumbing --------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-controller")

    async def stop(self) -> None:
        for handle in self._deadlines.values():
            handle.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self.sync(*key)

    def enqueue(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _observe(self, event: Event) -> None:
        obj, ns = event.obj, event.namespace
        if event.plural == "deployments":
            self.enqueue(ns, obj["metadata"]["name"])
        elif event.plural == "replicasets":
            if ref := _owner(obj, "Deployment"):
                self.enqueue(ns, ref["name"])
        elif event.plural == "pods":
            if event.type == "ADDED" and not pods.is_running(obj):
                self._later(self.ready_delay, self._start_pod, ns, obj["metadata"]["name"])
            rs_ref = _owner(obj, "ReplicaSet")
            rs = self.store.find(RSS, ns, rs_ref["name"]) if rs_ref else None
            if rs is not None and (ref := _owner(rs, "Deployment")):
                self.enqueue(ns, ref["name"])

    def _later(self, delay: float, fn: Any, *args: Any) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(delay, 0.0), fn, *args)

    # -- the kubelet's part ----------------------------------------------------------
    def _start_pod(self, ns: str, name: str) -> None:
        pod = self.store.find(PODS, ns, name)
        if pod is not None and not pods.is_running(pod) and not pods.is_crashing(pod):
            self._refresh_pod(pod)

    def _refresh_pod(self, pod: dict[str, Any]) -> None:
        b = self.behaviours.for_pod(pod)
        meta = pod["metadata"]
        if b.starts:
            status = pods.running_status(pod, b)
        else:
            status = pods.crash_status(pod)
            backoff = min(max(self.ready_delay, 0.05) * 2 ** pods.restart_count(pod), 30.0)
            self._later(backoff, self._crash_again, meta["namespace"], meta["name"])
        self.store.update(PODS, meta["namespace"], meta["name"], {**pod, "status": status},
                          subresource="status")

    def _crash_again(self, ns: str, name: str) -> None:
        pod = self.store.find(PODS, ns, name)
        if pod is not None and pods.is_crashing(pod):
            self._refresh_pod(pod)

    def resync_pods(self) -> None:
        """Bring started pods in line with changed behaviour rules."""
        for pod in list(self.store.items(PODS)):
            if not (pods.is_running(pod) or pods.is_crashing(pod)):
                continue
            b = self.behaviours.for_pod(pod)
            if b.starts == pods.is_crashing(pod) or (b.starts and b.ready != pods.is_ready(pod)):
                self._refresh_pod(pod)

    # -- ReplicaSets -----------------------------------------------------------------
    def _owned(self, ns: str, owner: dict[str, Any], res: Any) -> list[dict[str, Any]]:
        uid = owner["metadata"]["uid"]
        return [o for o in self.store.items(res, ns)
                if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])]

    def _new_rs(self, d: dict[str, Any], rev: int) -> dict[str, Any]:
        meta, spec = d["metadata"], d["spec"]
        h = template_hash(spec["template"])
        template = strip_hash(spec["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH] = h
        selector = clone(spec["selector"])
        selector.setdefault("matchLabels", {})[HASH] = h
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                       if not k.startswith(_SKIP_ANNOTATIONS)}
        annotations.update({REVISION: str(rev),
                            "deployment.kubernetes.io/desired-replicas": str(spec["replicas"]),
                            "deployment.kubernetes.io/max-replicas": str(spec["replicas"] + 1)})
        body = {
            "metadata": {
                "name": f"{meta['name']}-{h}", "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": meta["name"], "uid": meta["uid"],
                                     "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template,
                     "minReadySeconds": spec.get("minReadySeconds", 0)},
        }
        return self.store.create(RSS, meta["namespace"], body)

    def _scale(self, d: dict[str, Any], rs: dict[str, Any], replicas: int) -> dict[str, Any]:
        current = int(rs["spec"].get("replicas", 0))
        if current == replicas:
            return rs
        rs = self.store.update(RSS, rs["metadata"]["namespace"], rs["metadata"]["name"],
                               {**rs, "spec": {**rs["spec"], "replicas": replicas}})
        name = rs["metadata"]["name"]
        message = (f"Scaled up replica set {name} to {replicas}" if replicas > current
                   else f"Scaled down replica set {name} from {current} to {replicas}")
        self._event(d, "ScalingReplicaSet", message)
        return rs

    def _sync_pods(self, rs: dict[str, Any]) -> list[dict[str, Any]]:
        ns, name = rs["metadata"]["namespace"], rs["metadata"]["name"]
        owned = self._owned(ns, rs, PODS)
        want = int(rs["spec"].get("replicas", 0))
        while len(owned) < want:
            pod = pods.new_pod(rs, f"{name}-{random_suffix()}")
            if self.instant and (b := self.behaviours.for_pod(pod)).starts:
                pod["status"] = pods.running_status(pod, b)
            owned.append(self.store.create(PODS, ns, pod))
        # Surplus pods go not-ready first, newest first, as the ReplicaSet controller does.
        owned.sort(key=lambda p: (pods.is_ready(p), p["metadata"]["creationTimestamp"]))
        while len(owned) > want:
            self.store.delete(PODS, ns, owned.pop(0)["metadata"]["name"])
        rs_status = {
            "replicas": len(owned), "fullyLabeledReplicas": len(owned),
            "readyReplicas": sum(pods.is_ready(p) for p in owned),
            "availableReplicas": sum(pods.is_ready(p) for p in owned),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if rs.get("status") != rs_status:
            self.store.update(RSS, ns, name, {**rs, "status": rs_status}, subresource="status")
        return owned

    def _prune(self, d: dict[str, Any], old: list[dict[str, Any]]) -> None:
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        idle = sorted((rs for rs in old if not rs["spec"].get("replicas")), key=revision)
        for rs in idle[: max(len(idle) - limit, 0)]:
            self.store.delete(RSS, rs["metadata"]["namespace"], rs["metadata"]["name"])

    # -- Deployments -----------------------------------------------------------------
    def sync(self, ns: str, name: str) -> None:
        """One reconcile step for deployment ``ns/name``."""
        d = self.store.find(DEPLOYS, ns, name)
        if d is None:
            self._forget((ns, name))
            return
        all_rs = self._owned(ns, d, RSS)
        new = self._current_rs(d, all_rs)
        new_uid = new["metadata"]["uid"] if new else None
        old = [rs for rs in all_rs if rs["metadata"]["uid"] != new_uid]
        desired = int(d["spec"]["replicas"])
        pods_by_rs: dict[str, list[dict[str, Any]]] = {}
        if new is not None:
            new = self._scale(d, new, desired)
            new_pods = pods_by_rs[new["metadata"]["name"]] = self._sync_pods(new)
            if sum(pods.is_ready(p) for p in new_pods) >= desired:
                old = [self._scale(d, rs, 0) for rs in old]
            d = self._annotate(d, str(revision(new)))
        for rs in old:
            pods_by_rs[rs["metadata"]["name"]] = self._sync_pods(rs)
        self._prune(d, old)
        alive = [found for n in pods_by_rs if (found := self.store.find(RSS, ns, n)) is not None]
        self._write_status(d, new, alive, pods_by_rs)

    def _current_rs(self, d: dict[str, Any], all_rs: list[dict[str, Any]]
                    ) -> dict[str, Any] | None:
        """The ReplicaSet of the deployment's template: found (and, on a rollback, given
        the next revision) or created. None only while the deployment is paused."""
        wanted = strip_hash(d["spec"]["template"])
        new = next((rs for rs in all_rs if strip_hash(rs["spec"]["template"]) == wanted), None)
        if d["spec"].get("paused"):
            return new
        top = max((revision(rs) for rs in all_rs), default=0)
        if new is None:
            return self._new_rs(d, top + 1)
        if revision(new) < top:
            annotations = {**(new["metadata"].get("annotations") or {}), REVISION: str(top + 1)}
            meta = {**new["metadata"], "annotations": annotations}
            return self.store.update(RSS, meta["namespace"], meta["name"],
                                     {**new, "metadata": meta})
        return new

    def _annotate(self, d: dict[str, Any], rev: str) -> dict[str, Any]:
        annotations = d["metadata"].get("annotations") or {}
        if annotations.get(REVISION) == rev:
            return d
        meta = {**d["metadata"], "annotations": {**annotations, REVISION: rev}}
        return self.store.update(DEPLOYS, meta["namespace"], meta["name"], {**d, "metadata": meta})

    def _forget(self, key: Key) -> None:
        self._progress.pop(key, None)
        if handle := self._deadlines.pop(key, None):
            handle.cancel()

    def _write_status(self, d: dict[str, Any], new: dict[str, Any] | None,
                      rss: list[dict[str, Any]], pods_by_rs: dict[str, list[dict[str, Any]]]
                      ) -> None:
        desired = int(d["spec"]["replicas"])
        everyone = [p for group in pods_by_rs.values() for p in group]
        new_name = new["metadata"]["name"] if new else ""
        updated = len(pods_by_rs.get(new_name, []))
        available = sum(pods.is_ready(p) for p in everyone)
        spec_total = sum(int(rs["spec"].get("replicas", 0)) for rs in rss)
        counts = {"replicas": len(everyone), "updatedReplicas": updated,
                  "readyReplicas": available, "availableReplicas": available,
                  "unavailableReplicas": max(spec_total - available, 0)}
        complete = updated == desired and len(everyone) == desired and available >= desired
        key = (d["metadata"]["namespace"], d["metadata"]["name"])
        timed_out = not complete and self._timed_out(d, key, (new_name, *counts.values()))
        if complete:
            self._forget(key)
        max_unavailable = math.floor(desired * 0.25)
        conditions = [
            ("Available", available >= desired - max_unavailable,
             *(("MinimumReplicasAvailable", "Deployment has minimum availability.")
               if available >= desired - max_unavailable else
               ("MinimumReplicasUnavailable", "Deployment does not have minimum availability."))),
            ("Progressing", not timed_out, *(
                ("NewReplicaSetAvailable", f'ReplicaSet "{new_name}" has successfully progressed.')
                if complete else
                ("ProgressDeadlineExceeded", f'ReplicaSet "{new_name}" has timed out progressing.')
                if timed_out else
                ("ReplicaSetUpdated", f'ReplicaSet "{new_name}" is progressing.'))),
        ]
        status = {**counts, "observedGeneration": d["metadata"].get("generation", 1),
                  "conditions": self._conditions(d, conditions)}
        if d.get("status") != status:
            self.store.update(DEPLOYS, key[0], key[1], {**d, "status": status},
                              subresource="status")

    def _conditions(self, d: dict[str, Any], wanted: list[tuple[str, bool, str, str]]
                    ) -> list[dict[str, Any]]:
        old = {c.get("type"): c for c in (d.get("status") or {}).get("conditions") or []}
        now, out = timestamp(), []
        for type_, ok, reason, message in wanted:
            status = "True" if ok else "False"
            prev = old.get(type_) or {}
            same = (prev.get("status"), prev.get("reason"), prev.get("message")) == (
                status, reason, message)
            out.append({"type": type_, "status": status, "reason": reason, "message": message,
                        "lastUpdateTime": prev["lastUpdateTime"] if same else now,
                        "lastTransitionTime": prev["lastTransitionTime"]
                        if prev.get("status") == status else now})
        return out

    def _timed_out(self, d: dict[str, Any], key: Key, signature: tuple[Any, ...]) -> bool:
        """True once nothing has changed for progressDeadlineSeconds (times the scale)."""
        loop = asyncio.get_running_loop()
        previous = self._progress.get(key)
        if previous is None or previous[0] != signature:
            self._progress[key] = previous = (signature, loop.time())
        deadline = float(d["spec"].get("progressDeadlineSeconds", 600)) * self.deadline_scale
        left = previous[1] + deadline - loop.time()
        if left <= 0:
            return True
        if handle := self._deadlines.pop(key, None):
            handle.cancel()
        self._deadlines[key] = self._later(left + 0.001, self.enqueue, *key)
        return False

    def _event(self, d: dict[str, Any], reason: str, message: str) -> None:
        meta, now = d["metadata"], timestamp()
        self.store.create(EVENTS, meta["namespace"], {
            "metadata": {"name": f"{meta['name']}.{random_suffix(16)}"},
            "involvedObject": {"kind": "Deployment", "apiVersion": "apps/v1",
                               "namespace": meta["namespace"], "name": meta["name"],
                               "uid": meta["uid"], "resourceVersion": meta["resourceVersion"]},
            "reason": reason, "message": message, "type": "Normal", "count": 1,
            "source": {"component": "deployment-controller"},
            "reportingComponent": "deployment-controller", "reportingInstance": "",
            "firstTimestamp": now, "lastTimestamp": now, "eventTime": None,
        })
