"""Deployments and their pods: read, set an image, list pods, page through lists.

Reads and the set-image patch are idempotent, so they go through the retrier. The
container must exist before its image is set, because a strategic merge on an unknown
name would quietly add a new container instead of failing (``kubectl set image`` refuses
it the same way): a deployment this adapter has seen is patched at once with a JSON patch
that tests the container's name where it was seen, one it has not is read first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client

from bot.kube.client import Kube
from bot.kube.seen import selector_string
from rollout.errors import ClusterError, NotFound
from rollout.ports import DeploymentInfo, PodState

REVISION = "deployment.kubernetes.io/revision"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PAGE = 500
UNPROCESSABLE = 422  # how the API server refuses a JSON patch whose test fails


def meta(obj: Any) -> client.V1ObjectMeta:
    """The object's metadata, never None."""
    found = getattr(obj, "metadata", None)
    return found if isinstance(found, client.V1ObjectMeta) else client.V1ObjectMeta()


def revision_of(obj: Any) -> int:
    raw = (meta(obj).annotations or {}).get(REVISION, "")
    return int(raw) if raw.isdigit() else 0


def to_json(k: Kube, obj: Any) -> dict[str, Any]:
    """A model as the plain JSON the API server speaks (camelCase keys, no None values)."""
    data = k.api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return dict(data) if isinstance(data, dict) else {}


def list_all(k: Kube, what: str, fn: Callable[..., Any], **kwargs: Any) -> list[Any]:
    """Every item of a list call, page by page, each page retried on its own."""
    items: list[Any] = []
    token: str | None = None
    while True:

        def page(token: str | None = token) -> Any:
            return fn(**kwargs, limit=PAGE, _continue=token, _request_timeout=k.timeout)

        result = k.retry.call(what, page, kind="read")
        items.extend(result.items or [])
        token = result.metadata.var_continue if result.metadata else None
        if not token:
            return items


def get_deployment(k: Kube, namespace: str, name: str) -> client.V1Deployment:
    try:
        dep: client.V1Deployment = k.retry.call(
            f"read deployment {namespace}/{name}",
            lambda: k.apps.read_namespaced_deployment(name, namespace, _request_timeout=k.timeout),
            kind="read",
        )
    except NotFound:
        k.seen.forget(namespace, name)
        raise
    k.seen.note(dep)
    return dep


def containers_of(dep: client.V1Deployment) -> list[client.V1Container]:
    spec = dep.spec.template.spec if dep.spec and dep.spec.template else None
    return list(spec.containers or []) if spec else []


def to_info(dep: client.V1Deployment, *, container: str) -> DeploymentInfo:
    md = meta(dep)
    status = dep.status or client.V1DeploymentStatus()
    containers = containers_of(dep)
    image = next((c.image or "" for c in containers if c.name == container), "")
    replicas = dep.spec.replicas if dep.spec and dep.spec.replicas is not None else 1
    return DeploymentInfo(
        namespace=md.namespace or "",
        name=md.name or "",
        image=image,
        containers=tuple(c.name for c in containers),
        revision=revision_of(dep),
        generation=md.generation or 0,
        observed_generation=status.observed_generation or 0,
        replicas=replicas,
        updated_replicas=status.updated_replicas or 0,
        ready_replicas=status.ready_replicas or 0,
        available_replicas=status.available_replicas or 0,
        labels=dict(md.labels or {}),
    )


def read_deployment(k: Kube, namespace: str, name: str, *, container: str) -> DeploymentInfo:
    return to_info(get_deployment(k, namespace, name), container=container)


def set_image(k: Kube, namespace: str, name: str, *, container: str, image: str) -> int:
    shape = k.seen.shape(namespace, name)
    if shape is not None and container in shape.containers:
        try:
            return _set_image_at(
                k, namespace, name, index=shape.containers.index(container),
                container=container, image=image,
            )  # fmt: skip
        except ClusterError as err:
            k.seen.forget(namespace, name)  # not as it was seen: look before patching
            if err.status != UNPROCESSABLE:
                raise
    current = get_deployment(k, namespace, name)
    if container not in {c.name for c in containers_of(current)}:
        raise NotFound(f"deployment {namespace}/{name} has no container named {container!r}")
    body = {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
    patched = k.retry.call(
        f"set image of {namespace}/{name}",
        lambda: k.apps.patch_namespaced_deployment(
            name, namespace, body, _content_type=STRATEGIC, _request_timeout=k.timeout
        ),
        kind="patch",
    )
    k.seen.keep(patched)  # the wait that follows starts here
    return meta(patched).generation or 0


def _set_image_at(
    k: Kube, namespace: str, name: str, *, index: int, container: str, image: str
) -> int:
    """One JSON patch: the server checks the container is still at `index` and sets its
    image in the same step, or refuses both (422)."""
    at = f"/spec/template/spec/containers/{index}"
    ops = [
        {"op": "test", "path": f"{at}/name", "value": container},
        {"op": "replace", "path": f"{at}/image", "value": image},
    ]
    patched = k.retry.call(
        f"set image of {namespace}/{name}",
        lambda: k.apps.patch_namespaced_deployment(
            name, namespace, ops, _content_type=JSON_PATCH, _request_timeout=k.timeout
        ),
        kind="patch",
    )
    k.seen.keep(patched)
    return meta(patched).generation or 0


def live_pods(k: Kube, namespace: str, deployment: str) -> list[client.V1Pod]:
    """The deployment's pods (by its selector) that are not being deleted, by name. The
    selector of a deployment seen before is known: apps/v1 never changes it."""
    shape = k.seen.shape(namespace, deployment)
    if shape is None:
        dep = get_deployment(k, namespace, deployment)
        selector = selector_string(dep.spec.selector if dep.spec else None)
    else:
        selector = shape.selector
    pods = list_all(
        k,
        f"list pods of {namespace}/{deployment}",
        k.core.list_namespaced_pod,
        namespace=namespace,
        label_selector=selector,
    )
    alive = [p for p in pods if meta(p).deletion_timestamp is None]
    return sorted(alive, key=lambda p: meta(p).name or "")


def _waiting_reason(pod: client.V1Pod) -> str:
    status = pod.status or client.V1PodStatus()
    for cs in status.init_container_statuses or []:
        if cs.state and cs.state.waiting and cs.state.waiting.reason:
            return str(cs.state.waiting.reason)
    for cs in status.container_statuses or []:
        state = cs.state
        if state and state.waiting and state.waiting.reason:
            return str(state.waiting.reason)  # CrashLoopBackOff, ImagePullBackOff, ...
        if state and state.terminated and state.terminated.reason:
            return str(state.terminated.reason)  # Error, OOMKilled, ...
    return str(status.reason or "")  # Evicted and other pod-level reasons


def pod_state(pod: client.V1Pod) -> PodState:
    status = pod.status or client.V1PodStatus()
    ready = any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])
    restarts = sum(cs.restart_count or 0 for cs in status.container_statuses or [])
    return PodState(
        name=meta(pod).name or "",
        phase=status.phase or "Unknown",
        ready=ready,
        restarts=restarts,
        reason=_waiting_reason(pod),
    )


def pods(k: Kube, namespace: str, deployment: str) -> list[PodState]:
    return [pod_state(p) for p in live_pods(k, namespace, deployment)]
