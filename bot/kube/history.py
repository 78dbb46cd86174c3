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

from bot.kube.client import Kube
from bot.kube.deployments import (
    JSON_PATCH,
    annotations_of,
    dig,
    get_deployment,
    list_all,
    meta,
    name_of,
    number,
    patch_deployment,
    revision_of,
)
from bot.kube.seen import selector_string
from bot.kube.wire import Json, namespaced
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


def owned_replica_sets(k: Kube, dep: Json) -> list[Json]:
    md = meta(dep)
    namespace = str(md.get("namespace") or "")
    candidates = list_all(
        k,
        f"list replica sets of {namespace}/{md.get('name')}",
        namespaced("apps/v1", namespace, "replicasets"),
        query=[("labelSelector", selector_string(dig(dep, "spec", "selector")))],
    )
    return [
        rs
        for rs in candidates
        if any(
            ref.get("uid") == md.get("uid") and ref.get("controller") is not False
            for ref in meta(rs).get("ownerReferences") or []
        )
    ]


def previous_revision(dep: Json, owned: list[Json]) -> Json:
    """The ReplicaSet with the second-highest revision, as kubectl picks it."""
    ranked = sorted((rs for rs in owned if revision_of(rs) > 0), key=revision_of, reverse=True)
    if len(ranked) < 2:
        where = f"{meta(dep).get('namespace')}/{name_of(dep)}"
        raise NotFound(f"no rollout history found for deployment {where}")
    return ranked[1]


def _template(obj: Json) -> dict[str, Any]:
    """The object's pod template, without the ReplicaSet hash label."""
    found = dig(obj, "spec", "template")
    template = copy.deepcopy(found) if isinstance(found, dict) else {}
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return template


def _annotations(dep: Json, rs: Json) -> dict[str, str]:
    kept = {k: v for k, v in annotations_of(dep).items() if k in SKIPPED_ANNOTATIONS}
    copied = {k: v for k, v in annotations_of(rs).items() if k not in SKIPPED_ANNOTATIONS}
    return {**kept, **copied}


def _target(k: Kube, dep: Json, pinned: str | None) -> Json:
    owned = owned_replica_sets(k, dep)
    if pinned is None:
        return previous_revision(dep, owned)
    for rs in owned:
        if name_of(rs) == pinned:
            return rs
    raise NotFound(f"replica set {pinned} of {meta(dep).get('namespace')}/{name_of(dep)} is gone")


def undo(k: Kube, namespace: str, name: str) -> int:
    pinned: str | None = None
    for attempt in range(max(1, k.policy.attempts)):
        dep = get_deployment(k, namespace, name)
        target = _target(k, dep, pinned)
        pinned = name_of(target)
        template = _template(target)
        if template == _template(dep):
            return number(dep, "metadata", "generation")  # already there: an earlier patch landed
        ops: list[dict[str, Any]] = [
            {
                "op": "replace",
                "path": "/metadata/resourceVersion",
                "value": meta(dep).get("resourceVersion"),
            },
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "add", "path": "/metadata/annotations", "value": _annotations(dep, target)},
        ]
        try:
            patched = patch_deployment(
                k,
                namespace,
                name,
                ops,
                content_type=JSON_PATCH,
                what=f"undo deployment {namespace}/{name}",
            )
        except Conflict:
            if attempt + 1 >= max(1, k.policy.attempts):
                raise
            k.retry.pause(k.policy.backoff(attempt))
            continue
        return number(patched, "metadata", "generation")
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
