"""``kubectl rollout undo``: put the previous revision's pod template back.

The previous revision is the ReplicaSet owned by the deployment with the second-highest
``deployment.kubernetes.io/revision``. Its template (minus the ``pod-template-hash``
label) replaces ``/spec/template`` in one JSON patch that also carries the
``resourceVersion`` we read, so a concurrent change makes the server answer 409 instead of
silently mixing the two; on 409 we read again and retry, keeping the same target so that a
patch which landed before its answer got lost is recognised rather than undone twice.
"""

from __future__ import annotations

import copy
from typing import Any

from kubernetes import client

from bot.kube.client import Kube
from bot.kube.deployments import (
    JSON_PATCH,
    get_deployment,
    list_all,
    meta,
    revision_of,
    to_json,
)
from bot.kube.seen import selector_string
from rollout.errors import Conflict, NotFound

HASH_LABEL = "pod-template-hash"
# Annotations that describe the deployment itself, never copied back from a ReplicaSet.
SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


def owned_replica_sets(k: Kube, dep: client.V1Deployment) -> list[client.V1ReplicaSet]:
    md = meta(dep)
    namespace = md.namespace or ""
    candidates = list_all(
        k,
        f"list replica sets of {namespace}/{md.name}",
        k.apps.list_namespaced_replica_set,
        namespace=namespace,
        label_selector=selector_string(dep.spec.selector if dep.spec else None),
    )
    return [
        rs
        for rs in candidates
        if any(
            ref.uid == md.uid and ref.controller is not False
            for ref in meta(rs).owner_references or []
        )
    ]


def previous_revision(
    dep: client.V1Deployment, owned: list[client.V1ReplicaSet]
) -> client.V1ReplicaSet:
    """The ReplicaSet with the second-highest revision, as kubectl picks it."""
    ranked = sorted((rs for rs in owned if revision_of(rs) > 0), key=revision_of, reverse=True)
    if len(ranked) < 2:
        md = meta(dep)
        raise NotFound(f"no rollout history found for deployment {md.namespace}/{md.name}")
    return ranked[1]


def _template(k: Kube, obj: Any) -> dict[str, Any]:
    """The object's pod template as plain JSON, without the ReplicaSet hash label."""
    template = copy.deepcopy(to_json(k, obj.spec.template) if obj.spec else {})
    labels = template.get("metadata", {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return template


def _annotations(dep: client.V1Deployment, rs: client.V1ReplicaSet) -> dict[str, str]:
    kept = {k: v for k, v in (meta(dep).annotations or {}).items() if k in SKIPPED_ANNOTATIONS}
    copied = {k: v for k, v in (meta(rs).annotations or {}).items() if k not in SKIPPED_ANNOTATIONS}
    return {**kept, **copied}


def _target(k: Kube, dep: client.V1Deployment, pinned: str | None) -> client.V1ReplicaSet:
    owned = owned_replica_sets(k, dep)
    if pinned is None:
        return previous_revision(dep, owned)
    for rs in owned:
        if meta(rs).name == pinned:
            return rs
    md = meta(dep)
    raise NotFound(f"replica set {pinned} of {md.namespace}/{md.name} is gone")


def undo(k: Kube, namespace: str, name: str) -> int:
    pinned: str | None = None
    for attempt in range(max(1, k.policy.attempts)):
        dep = get_deployment(k, namespace, name)
        target = _target(k, dep, pinned)
        pinned = meta(target).name
        template = _template(k, target)
        if template == _template(k, dep):
            return meta(dep).generation or 0  # already there: an earlier patch landed
        ops: list[dict[str, Any]] = [
            {
                "op": "replace",
                "path": "/metadata/resourceVersion",
                "value": meta(dep).resource_version,
            },
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "add", "path": "/metadata/annotations", "value": _annotations(dep, target)},
        ]

        def restore(ops: list[dict[str, Any]] = ops) -> client.V1Deployment:
            return k.apps.patch_namespaced_deployment(
                name, namespace, ops, _content_type=JSON_PATCH, _request_timeout=k.timeout
            )

        try:
            patched = k.retry.call(f"undo deployment {namespace}/{name}", restore, kind="patch")
        except Conflict:
            if attempt + 1 >= max(1, k.policy.attempts):
                raise
            k.retry.pause(k.policy.backoff(attempt))
            continue
        k.seen.keep(patched)  # the wait that follows starts here
        return meta(patched).generation or 0
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
