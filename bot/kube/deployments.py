"""Deployments and their pods: read, set an image, list pods, page through lists.

Reads and the set-image patch are idempotent, so they go through the retrier. The
container must exist before its image is set, because a strategic merge on an unknown
name would quietly add a new container instead of failing (``kubectl set image`` refuses
it the same way): a deployment this adapter has seen is patched at once with a JSON patch
that tests the container's name where it was seen, one it has not is read first.

Objects are the server's JSON (see :mod:`bot.kube.wire`); the accessors below read it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from bot.kube.client import Kube
from bot.kube.parts import SHARED, text
from bot.kube.seen import selector_string
from bot.kube.wire import Json, Query, namespaced, path
from rollout.errors import ClusterError, NotFound
from rollout.ports import DeploymentInfo, PodState

REVISION = "deployment.kubernetes.io/revision"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PAGE = 500  # items a list call asks for at a time: the most whole objects a listing holds
T = TypeVar("T")
UNPROCESSABLE = 422  # how the API server refuses a JSON patch whose test fails


def dig(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]...``, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def meta(obj: Any) -> Json:
    """The object's metadata, never None."""
    found = dig(obj, "metadata")
    return found if isinstance(found, dict) else {}


def name_of(obj: Any) -> str:
    return str(meta(obj).get("name") or "")


def number(obj: Any, *keys: str) -> int:
    value = dig(obj, *keys)
    return value if isinstance(value, int) else 0


def items_of(obj: Any, *keys: str) -> list[Json]:
    found = dig(obj, *keys)
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def labels_of(obj: Any) -> dict[str, str]:
    found = meta(obj).get("labels")
    return dict(found) if isinstance(found, dict) else {}


def annotations_of(obj: Any) -> dict[str, str]:
    found = meta(obj).get("annotations")
    return dict(found) if isinstance(found, dict) else {}


def revision_of(obj: Any) -> int:
    raw = annotations_of(obj).get(REVISION, "")
    return int(raw) if raw.isdigit() else 0


def deployment_path(namespace: str, name: str = "") -> str:
    return namespaced("apps/v1", namespace, "deployments", name)


def list_all(k: Kube, what: str, resource: str, *, query: Query = ()) -> list[Json]:
    """Every item of a list call, page by page, each page retried on its own. Whole
    objects: for lists that stay small (one namespace's pods, one app's ReplicaSets); a
    list across the fleet keeps only what it reads of each, with :func:`list_versioned`."""
    return list_versioned(k, what, resource, query=query, keep=_whole)[0]


def _whole(item: Json) -> Json:
    return item


def list_versioned(
    k: Kube, what: str, resource: str, *, query: Query = (), page_size: int = PAGE,
    keep: Callable[[Json], T | None],
) -> tuple[list[T], str]:
    """What `keep` makes of every item of a list call (None drops it), and the
    resourceVersion the list was read at (the first page's: later pages continue the same
    snapshot); `page_size` 0 asks for all in one. Each item is kept as its page arrives,
    so a listing of a large fleet never holds more than one page of whole objects."""
    items: list[T] = []
    token = version = ""
    while True:
        paged = [*query, *([("limit", page_size)] if page_size > 0 else [])]
        paged += [("continue", token)] if token else []

        def page(paged: Query = paged) -> Json:
            return k.wire.get(resource, query=paged, timeout=k.timeout)

        result = k.retry.call(what, page, kind="read")
        items.extend(kept for item in items_of(result, "items") if (kept := keep(item)) is not None)
        version = version or str(dig(result, "metadata", "resourceVersion") or "")
        token = str(dig(result, "metadata", "continue") or "")
        if not token:
            return items, version


def get_deployment(k: Kube, namespace: str, name: str) -> Json:
    try:
        dep = k.retry.call(
            f"read deployment {namespace}/{name}",
            lambda: k.wire.get(deployment_path(namespace, name), timeout=k.timeout),
            kind="read",
        )
    except NotFound:
        k.seen.forget(namespace, name)
        raise
    k.seen.note(dep)
    return dep


def deployments_named(k: Kube, name: str, *, container: str) -> dict[str, DeploymentInfo]:
    """Every deployment called `name` in the cluster, by namespace, page by page; of
    each, only its DeploymentInfo is kept (and its shape, in `k.seen`)."""

    def keep(dep: Json) -> DeploymentInfo | None:
        if name_of(dep) != name:  # a server that ignores the field selector
            return None
        k.seen.note(dep)
        return to_info(dep, container=container)

    found, _ = list_versioned(
        k,
        f"list deployments named {name}",
        path("apis", "apps", "v1", "deployments"),
        query=[("fieldSelector", f"metadata.name={name}")],
        keep=keep,
    )
    by_namespace = {info.namespace: info for info in found}
    if k.pod_views is not None:  # a rollout of these is coming: views may serve it
        k.pod_views.expect(name, list(by_namespace))
    return by_namespace


def containers_of(dep: Json) -> list[Json]:
    return items_of(dep, "spec", "template", "spec", "containers")


def to_info(dep: Json, *, container: str) -> DeploymentInfo:
    md = meta(dep)
    containers = containers_of(dep)
    wanted = container or next((c.get("name") for c in containers), "")  # "": the first
    image = next((str(c.get("image") or "") for c in containers if c.get("name") == wanted), "")
    replicas = dig(dep, "spec", "replicas")
    # Kept for each tenant from preflight to its update: the parts tenants have alike
    # (image, container names, labels) are one copy (see bot/kube/parts.py).
    return DeploymentInfo(
        namespace=str(md.get("namespace") or ""),
        name=text(str(md.get("name") or "")),
        image=text(image),
        containers=SHARED.one(tuple(str(c.get("name") or "") for c in containers)),
        revision=revision_of(dep),
        generation=number(md, "generation"),
        observed_generation=number(dep, "status", "observedGeneration"),
        replicas=replicas if isinstance(replicas, int) else 1,
        updated_replicas=number(dep, "status", "updatedReplicas"),
        ready_replicas=number(dep, "status", "readyReplicas"),
        available_replicas=number(dep, "status", "availableReplicas"),
        labels=SHARED.one(labels_of(dep)),
    )


def read_deployment(k: Kube, namespace: str, name: str, *, container: str) -> DeploymentInfo:
    return to_info(get_deployment(k, namespace, name), container=container)


def patch_deployment(
    k: Kube, namespace: str, name: str, body: object, *, content_type: str, what: str
) -> Json:
    """One patch of the deployment, retried; what it answers is kept for the wait that
    follows, which starts from it."""
    patched = k.retry.call(
        what,
        lambda: k.wire.json(
            "PATCH",
            deployment_path(namespace, name),
            body=body,
            content_type=content_type,
            timeout=k.timeout,
        ),
        kind="patch",
    )
    k.seen.keep(patched)
    return patched


def set_image(k: Kube, namespace: str, name: str, *, container: str, image: str) -> int:
    shape = k.seen.shape(namespace, name)
    what = f"set image of {namespace}/{name}"
    if shape is not None and container in shape.containers:
        # One JSON patch: the server checks the container is still where it was seen and
        # sets its image in the same step, or refuses both (422).
        at = f"/spec/template/spec/containers/{shape.containers.index(container)}"
        ops = [
            {"op": "test", "path": f"{at}/name", "value": container},
            {"op": "replace", "path": f"{at}/image", "value": image},
        ]
        try:
            patched = patch_deployment(k, namespace, name, ops, content_type=JSON_PATCH, what=what)
            return number(patched, "metadata", "generation")
        except ClusterError as err:
            k.seen.forget(namespace, name)  # not as it was seen: look before patching
            if err.status != UNPROCESSABLE:
                raise
    current = get_deployment(k, namespace, name)
    if container not in {c.get("name") for c in containers_of(current)}:
        raise NotFound(f"deployment {namespace}/{name} has no container named {container!r}")
    body = {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
    patched = patch_deployment(k, namespace, name, body, content_type=STRATEGIC, what=what)
    return number(patched, "metadata", "generation")


def live_pods(k: Kube, namespace: str, deployment: str) -> list[Json]:
    """The deployment's pods (by its selector) that are not being deleted, by name. The
    selector of a deployment seen before is known: apps/v1 never changes it. In a large
    batch they come from the shared view of pods when it is as new as a list would be."""
    shape = k.seen.shape(namespace, deployment)
    if shape is None:
        dep = get_deployment(k, namespace, deployment)
        selector = selector_string(dig(dep, "spec", "selector"))
    else:
        selector = shape.selector
    if k.pod_views is not None:
        at_least = k.seen.version(namespace, deployment)
        shared = k.pod_views.pods(namespace, selector, at_least=at_least)
        if shared is not None:
            return shared
    return pods_matching(k, namespace, selector, what=f"list pods of {namespace}/{deployment}")


def pods_matching(k: Kube, namespace: str, selector: str, *, what: str) -> list[Json]:
    pods = list_all(k, what, namespaced("", namespace, "pods"), query=[("labelSelector", selector)])
    alive = [p for p in pods if not meta(p).get("deletionTimestamp")]
    return sorted(alive, key=name_of)


def container_statuses(pod: Json) -> list[Json]:
    return [*items_of(pod, "status", "initContainerStatuses"),
            *items_of(pod, "status", "containerStatuses")]  # fmt: skip


def _waiting_reason(pod: Json) -> str:
    for cs in items_of(pod, "status", "initContainerStatuses"):
        if reason := dig(cs, "state", "waiting", "reason"):
            return str(reason)
    for cs in items_of(pod, "status", "containerStatuses"):
        if reason := dig(cs, "state", "waiting", "reason"):
            return str(reason)  # CrashLoopBackOff, ImagePullBackOff, ...
        if reason := dig(cs, "state", "terminated", "reason"):
            return str(reason)  # Error, OOMKilled, ...
    return str(dig(pod, "status", "reason") or "")  # Evicted and other pod-level reasons


def pod_state(pod: Json) -> PodState:
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in items_of(pod, "status", "conditions")
    )
    restarts = sum(
        number(cs, "restartCount") for cs in items_of(pod, "status", "containerStatuses")
    )
    return PodState(
        name=name_of(pod),
        phase=str(dig(pod, "status", "phase") or "Unknown"),
        ready=ready,
        restarts=restarts,
        reason=_waiting_reason(pod),
    )


def pods(k: Kube, namespace: str, deployment: str) -> list[PodState]:
    return [pod_state(p) for p in live_pods(k, namespace, deployment)]
