"""Blue-green sides: Deployments labelled ``app`` + ``version`` behind one Service.

A side is a ConfigMap copy plus a clone of the running Deployment with new labels, a new
image and ``envFrom`` pointed at the new ConfigMap; traffic moves by changing the
Service selector's ``version``. Every step is idempotent (an existing object is accepted
and converged), so a retry after a lost answer, or a restart mid-way, is harmless.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from bot.kube.client import Kube
from bot.kube.deployments import (
    MERGE,
    deployment_path,
    dig,
    get_deployment,
    labels_of,
    list_all,
    name_of,
    set_image,
    to_info,
)
from bot.kube.wire import namespaced
from rollout.errors import Conflict, NotFound
from rollout.ports import BlueGreenState, NewSide

# Metadata that belongs to the source object, never to a copy.
SERVER_FIELDS = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "ownerReferences",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
SKIPPED_ANNOTATIONS = (
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/last-applied-configuration",
)


def blue_green_state(k: Kube, namespace: str, *, service: str, app_label: str) -> BlueGreenState:
    svc = k.retry.call(
        f"read service {namespace}/{service}",
        lambda: k.wire.get(namespaced("", namespace, "services", service), timeout=k.timeout),
        kind="read",
    )
    selector = dig(svc, "spec", "selector") or {}
    deployments = list_all(
        k,
        f"list deployments of {app_label} in {namespace}",
        deployment_path(namespace),
        query=[("labelSelector", f"app={app_label}")],
    )
    sides = {
        labels["version"]: name_of(d) for d in deployments if "version" in (labels := labels_of(d))
    }
    return BlueGreenState(live_version=selector.get("version"), sides=dict(sorted(sides.items())))


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    md = obj.setdefault("metadata", {})
    for key in SERVER_FIELDS:
        md.pop(key, None)
    annotations = md.get("annotations") or {}
    for key in SKIPPED_ANNOTATIONS:
        annotations.pop(key, None)
    obj.pop("status", None)
    return obj


def _create_config_map(
    k: Kube, namespace: str, *, name: str, source: str | None, labels: dict[str, str]
) -> None:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
    }
    if source is not None:
        src = k.retry.call(
            f"read config map {namespace}/{source}",
            lambda: k.wire.get(namespaced("", namespace, "configmaps", source), timeout=k.timeout),
            kind="read",
        )
        body["data"] = dict(src.get("data") or {})
        if src.get("binaryData"):
            body["binaryData"] = dict(src["binaryData"])
    # AlreadyExists: made by an earlier attempt, with the data we copied then.
    with contextlib.suppress(Conflict):
        k.retry.call(
            f"create config map {namespace}/{name}",
            lambda: k.wire.json(
                "POST",
                namespaced("", namespace, "configmaps"),
                body=body,
                content_type="application/json",
                timeout=k.timeout,
            ),
            kind="create",
        )


def _point_env_from(container: dict[str, Any], *, source: str | None, target: str) -> None:
    refs = container.setdefault("envFrom", [])
    pointed = False
    for ref in refs:
        cm = ref.get("configMapRef")
        if isinstance(cm, dict) and cm.get("name") in (source, target):
            cm["name"] = target
            pointed = True
    if not pointed:
        refs.append({"configMapRef": {"name": target}})


def _clone(template: dict[str, Any], side: NewSide) -> dict[str, Any]:
    version, source, config_map = side.version, side.config_map_source, side.config_map
    body = _strip(copy.deepcopy(template))
    md = body["metadata"]
    app = (md.get("labels") or {}).get("app") or md.get("name")
    md["name"] = side.name
    md["labels"] = {**(md.get("labels") or {}), "app": app, "version": version}
    spec = body["spec"]
    match = spec.get("selector", {}).get("matchLabels", {})
    spec["selector"] = {"matchLabels": {**match, "app": app, "version": version}}
    pod_md = spec["template"].setdefault("metadata", {})
    pod_md["labels"] = {**(pod_md.get("labels") or {}), "app": app, "version": version}
    for item in spec["template"]["spec"]["containers"]:
        if item.get("name") == side.container:
            item["image"] = side.image
            _point_env_from(item, source=source, target=config_map)
            break
    else:
        source_name = template["metadata"]["name"]
        raise NotFound(f"deployment {source_name} has no container named {side.container!r}")
    for volume in spec["template"]["spec"].get("volumes") or []:
        cm = volume.get("configMap")
        if source is not None and isinstance(cm, dict) and cm.get("name") == source:
            cm["name"] = config_map
    return body


def _converge(k: Kube, namespace: str, name: str, *, container: str, image: str) -> None:
    existing = to_info(get_deployment(k, namespace, name), container=container)
    if existing.image != image:
        set_image(k, namespace, name, container=container, image=image)


def create_side(k: Kube, namespace: str, side: NewSide) -> None:
    name, container, image = side.name, side.container, side.image
    template = copy.deepcopy(get_deployment(k, namespace, side.template_deployment))
    template.update(apiVersion="apps/v1", kind="Deployment")
    body = _clone(template, side)
    labels = {"app": body["metadata"]["labels"]["app"], "version": side.version}
    _create_config_map(
        k, namespace, name=side.config_map, source=side.config_map_source, labels=labels
    )
    try:
        get_deployment(k, namespace, name)
    except NotFound:
        pass
    else:
        _converge(k, namespace, name, container=container, image=image)
        return
    try:
        k.retry.call(
            f"create deployment {namespace}/{name}",
            lambda: k.wire.json(
                "POST",
                deployment_path(namespace),
                body=body,
                content_type="application/json",
                timeout=k.timeout,
            ),
            kind="create",
        )
    except Conflict:
        _converge(k, namespace, name, container=container, image=image)


def switch_service(k: Kube, namespace: str, service: str, *, version: str) -> None:
    patch = {"spec": {"selector": {"version": version}}}
    k.retry.call(
        f"switch service {namespace}/{service} to {version}",
        lambda: k.wire.json(
            "PATCH",
            namespaced("", namespace, "services", service),
            body=patch,
            content_type=MERGE,
            timeout=k.timeout,
        ),
        kind="patch",
    )


def delete_side(k: Kube, namespace: str, *, deployment: str, config_map: str | None) -> None:
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
    k.seen.forget(namespace, deployment)
    with contextlib.suppress(NotFound):  # already gone is what we wanted
        k.retry.call(
            f"delete deployment {namespace}/{deployment}",
            lambda: k.wire.json(
                "DELETE",
                deployment_path(namespace, deployment),
                body=options,
                content_type="application/json",
                timeout=k.timeout,
            ),
            kind="delete",
        )
    if config_map is None:
        return
    with contextlib.suppress(NotFound):
        k.retry.call(
            f"delete config map {namespace}/{config_map}",
            lambda: k.wire.json(
                "DELETE",
                namespaced("", namespace, "configmaps", config_map),
                timeout=k.timeout,
            ),
            kind="delete",
        )
