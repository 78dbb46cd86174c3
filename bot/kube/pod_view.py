"""Shared views of an app's pods and deployments across namespaces, for large batches.

Each tenant's health check reads its deployment's pods twice (the latency baseline before
the patch, the health snapshot after the wait), one LIST per namespace each time. In a
batch of hundreds of tenants those lists are a quarter of rollbot's requests and much of
its CPU. An informer does better: one LIST of the pods with the deployments' selector in
every namespace, then one WATCH that keeps it current; each tenant reads its own
namespace's pods from it. A view is kept per selector string, so deployments whose
selectors differ never see each other's pods, and a read returns the pods of the one
namespace asked about, so pods of the same app in namespaces of other rollouts are
ignored.

When. A view is only worth its LIST when many tenants ask. The preflight's listing of a
deployment in at least ``min_namespaces`` namespaces starts the views of its pods and of
the deployments themselves, so their LISTs are done before the batch's reads arrive; a
pod view also starts once pods with one selector were asked for in ``min_namespaces``
namespaces within ``window`` seconds. A small rollout never gets there and reads per
namespace, as before. A view starts only if rollbot may list and watch that kind in every
namespace (two access reviews, their answer kept a few minutes), as a namespaced service
account may not.

Freshness. A check must not act on pods older than what a per-namespace list would have
returned. A list answers with the pods as of some resourceVersion at least as new as
everything rollbot had already seen of that deployment: its patch, the state its rollout
wait ended on. So a read of namespace N for deployment D is answered from the view only
when (1) its watch is connected now, and (2) the view has applied every pod event up to
a resourceVersion at least as new as the newest state of D this adapter has seen (see
:meth:`bot.kube.seen.Seen.version`). The state the wait ended on is the deployment
controller's account of the pods (ready, old ones gone), written after the pod changes
that led to it; (2) puts all of those in the view. A pod change after it reaches the view
within the watch's delivery time, the same few milliseconds by which a list sent a moment
earlier would have missed it. resourceVersions are compared as numbers: Kubernetes calls
them opaque, but every server numbers them from one counter (etcd's revision); a server
whose versions are not numbers is never answered from the view. The view's version moves
with pod events only, so a read whose deployment is newer than the last pod event waits
for one, up to ``patience`` seconds and only while events keep coming (a watch quiet for
a few milliseconds has most likely nothing newer to say), and otherwise lists its
namespace, as before. How long it waits decides only the cost, never the answer.

Deployments. Each tenant's rollout wait watched its own deployment, one watch request
and one open stream per tenant. When the preflight finds the deployment in many
namespaces, one view of every deployment of that name (a field selector on the name)
serves the waits instead (see :func:`bot.kube.rollout_wait.wait_rollout`): a wait that
holds a state of version v asks the view for a newer one, and gets it once the view has
applied every event up to v at least and holds a newer state, which is what a watch from
v would have shown last; the wait judges the newest state, as ``kubectl rollout status``
does. A deployment missing from a view that has reached v was deleted.

Expiry and reconnects are the reflector's (see :mod:`bot.kube.shared_view`): no event is
missed across watch sessions, 410 Gone relists, and a view whose watch is not connected
answers nobody, so callers list or watch on their own, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Collection
from typing import TYPE_CHECKING

from bot.kube.access import can_i
from bot.kube.deployments import REVISION, annotations_of, dig, items_of, meta, name_of
from bot.kube.parts import SHARED, text
from bot.kube.shared_view import SharedView
from bot.kube.wire import Json, path
from rollout.errors import RollbotError

if TYPE_CHECKING:
    from bot.kube.client import Kube

log = logging.getLogger("rollbot.kube")

# Namespaces of one rollout, or asking for pods within WINDOW_SECONDS, that make a view
# worth its cost: two access reviews, a LIST of the fleet's matching objects, an open watch.
MIN_NAMESPACES = 64
WINDOW_SECONDS = 1.0
PATIENCE_SECONDS = 0.2  # how long a read waits for the view to catch up before listing
ACCESS_SECONDS = 300.0  # how long an access review's answer is kept
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
PODS = path("api", "v1", "pods")
DEPLOYMENTS = path("apis", "apps", "v1", "deployments")
ViewKey = tuple[str, str]  # ("pods", selector) or ("deployments", name)


def slim_pod(pod: Json) -> Json:
    """What the checks read of a pod (name, namespace, the default log container, the
    containers' names, and of its status what :func:`bot.kube.deployments.pod_state`
    reads), so a view of thousands of pods stays small: the parts most pods have alike
    are one copy, shared (see :mod:`bot.kube.parts`)."""
    md = meta(pod)
    kept: Json = {
        k: text(md[k]) if k == "namespace" else md[k]
        for k in ("name", "namespace", "resourceVersion")
        if k in md
    }
    default = annotations_of(pod).get(DEFAULT_CONTAINER)
    if default:
        kept["annotations"] = SHARED.one({DEFAULT_CONTAINER: default})
    containers = [{"name": c.get("name")} for c in items_of(pod, "spec", "containers")]
    status: Json = {
        k: text(v) for k, v in (dig(pod, "status") or {}).items() if k in ("phase", "reason")
    }
    status["conditions"] = SHARED.one([
        {"type": c.get("type"), "status": c.get("status")}
        for c in items_of(pod, "status", "conditions")
    ])  # fmt: skip
    for key in ("initContainerStatuses", "containerStatuses"):
        status[key] = SHARED.one([_container_status(cs) for cs in items_of(pod, "status", key)])
    return {
        "metadata": kept,
        "spec": SHARED.one({"containers": containers}),
        "status": SHARED.one(status),
    }


def _container_status(cs: Json) -> Json:
    waiting, terminated = (
        dig(cs, "state", "waiting", "reason"),
        dig(cs, "state", "terminated", "reason"),
    )
    state: Json = {}
    if waiting:
        state["waiting"] = {"reason": waiting}
    if terminated:
        state["terminated"] = {"reason": terminated}
    return {"name": cs.get("name"), "restartCount": cs.get("restartCount"), "state": state}


def slim_deployment(dep: Json) -> Json:
    """What a rollout wait reads of a deployment (its verdict, its selector, the shape
    :mod:`bot.kube.seen` keeps, the uid its ReplicaSets name), so a view of a fleet of
    thousands stays small: of its conditions only type, status and reason, which the
    verdict reads, and the parts most deployments have alike one copy, shared."""
    md = meta(dep)
    kept: Json = {
        k: text(md[k]) if k in ("name", "namespace") else md[k]
        for k in ("name", "namespace", "uid", "generation", "resourceVersion")
        if k in md
    }
    if REVISION in annotations_of(dep):
        kept["annotations"] = SHARED.one({REVISION: annotations_of(dep)[REVISION]})
    containers = [
        {"name": c.get("name"), "image": c.get("image")}
        for c in items_of(dep, "spec", "template", "spec", "containers")
    ]
    spec: Json = {
        "selector": SHARED.one(dig(dep, "spec", "selector")),
        "template": SHARED.one({"spec": {"containers": containers}}),
    }
    if "replicas" in (dig(dep, "spec") or {}):
        spec["replicas"] = dig(dep, "spec", "replicas")
    status = dig(dep, "status")
    kept_status: Json = dict(status) if isinstance(status, dict) else {}
    if "conditions" in kept_status:
        kept_status["conditions"] = SHARED.one([
            {k: c[k] for k in ("type", "status", "reason") if k in c}
            for c in items_of(dep, "status", "conditions")
        ])  # fmt: skip
    return {"metadata": kept, "spec": spec, "status": SHARED.one(kept_status)}


class PodViews:
    """An adapter's shared views: of pods by selector, of deployments by name."""

    def __init__(
        self,
        k: Kube,
        *,
        min_namespaces: int = MIN_NAMESPACES,
        window: float = WINDOW_SECONDS,
        patience: float = PATIENCE_SECONDS,
    ) -> None:
        self._k = k
        self.min_namespaces = max(1, min_namespaces)
        self.window = window
        self.patience = patience
        self._lock = threading.Lock()
        self._views: dict[ViewKey, SharedView] = {}
        self._asked: dict[str, OrderedDict[str, float]] = {}  # selector -> namespace -> when
        self._access: dict[str, tuple[bool, float]] = {}  # resource -> (allowed, checked at)
        self._checking: set[str] = set()

    def pods(self, namespace: str, selector: str, *, at_least: int) -> list[Json] | None:
        """The namespace's pods (not being deleted, by name) from the view, as fresh as
        this module says; None when there is no view to ask (the caller lists them)."""
        if at_least <= 0 or not selector:
            return None  # nothing seen of the deployment to be as new as: list it
        view = self._pod_view(namespace, selector)
        if view is None:
            return None
        found = view.read(
            lambda objects: list(objects.get(namespace, {}).values()),
            at_least=at_least,
            patience=self.patience,
        )
        return None if found is None else sorted(found, key=name_of)

    def deployments(self, name: str) -> SharedView | None:
        """The running view of every deployment called `name`, if there is one."""
        with self._lock:
            view = self._views.get(("deployments", name))
        return view if view is not None and view.running else None

    def expect(self, name: str, namespaces: Collection[str]) -> None:
        """The preflight found deployment `name` in these namespaces: with enough of them,
        start the views of their pods and of the deployments now."""
        selectors: Counter[str] = Counter()
        for namespace in namespaces:
            shape = self._k.seen.shape(namespace, name)
            if shape is not None and shape.selector:
                selectors[shape.selector] += 1
        if len(namespaces) >= self.min_namespaces and self._may_watch("deployments", "apps"):
            self._start(("deployments", name))
        for selector, count in selectors.items():
            if count >= self.min_namespaces and self._may_watch("pods", ""):
                self._start(("pods", selector))

    def _pod_view(self, namespace: str, selector: str) -> SharedView | None:
        now = time.monotonic()
        with self._lock:
            view = self._views.get(("pods", selector))
            if view is not None and view.running:
                return view
            asked = self._asked.setdefault(selector, OrderedDict())
            asked[namespace] = now
            asked.move_to_end(namespace)
            while asked and now - next(iter(asked.values())) > self.window:
                asked.popitem(last=False)
            if len(asked) < self.min_namespaces:
                return None
        return self._start(("pods", selector)) if self._may_watch("pods", "") else None

    def _start(self, key: ViewKey) -> SharedView:
        with self._lock:
            view = self._views.get(key)
            if view is None or not view.running:
                view = self._views[key] = self._new_view(key)
                if key[0] == "pods":
                    self._asked.pop(key[1], None)
                view.start()
            return view

    def _new_view(self, key: ViewKey) -> SharedView:
        kind, which = key
        if kind == "pods":
            return SharedView(
                self._k, resource=PODS, what=f"pods matching {which}",
                query=[("labelSelector", which)], slim=slim_pod,
            )  # fmt: skip
        return SharedView(
            self._k, resource=DEPLOYMENTS, what=f"deployments named {which}",
            query=[("fieldSelector", f"metadata.name={which}")], slim=slim_deployment,
        )  # fmt: skip

    def _may_watch(self, resource: str, group: str) -> bool:
        """May rollbot list and watch `resource` in every namespace? Asked by one caller
        at a time (the others go without a view meanwhile), the answer kept a while."""
        with self._lock:
            known = self._access.get(resource)
            if known is not None and time.monotonic() - known[1] < ACCESS_SECONDS:
                return known[0]
            if resource in self._checking:
                return False
            self._checking.add(resource)
        allowed = False
        try:
            allowed = all(
                can_i(self._k, verb=verb, resource=resource, namespace="", group=group)
                for verb in ("list", "watch")
            )
        except RollbotError as err:
            log.info("cannot tell whether %s may be watched everywhere: %s", resource, err)
        finally:
            with self._lock:
                self._access[resource] = (allowed, time.monotonic())
                self._checking.discard(resource)
        return allowed

    def close(self) -> None:
        with self._lock:
            views = list(self._views.values())
            self._views.clear()
        for view in views:
            view.stop()
