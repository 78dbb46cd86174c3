"""Pods as the kubelet would report them: built from a ReplicaSet's template, then
Pending, Running (ready or not) or in CrashLoopBackOff, with schema-complete status
(the Python client's models refuse a container status without ``imageID``)."""

from __future__ import annotations

import hashlib
from typing import Any

from sim.kube.behaviours import Behaviour
from sim.kube.objects import clone, timestamp

NODE = "sim-node-1"
HOST_IP = "10.0.0.10"


def _condition(type_: str, ok: bool, now: str, reason: str = "", message: str = ""
               ) -> dict[str, Any]:
    cond: dict[str, Any] = {"type": type_, "status": "True" if ok else "False",
                            "lastProbeTime": None, "lastTransitionTime": now}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def pod_ip(name: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return f"10.244.{digest[0]}.{digest[1] or 1}"


def image_id(image: str) -> str:
    repo = image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def new_pod(rs: dict[str, Any], name: str) -> dict[str, Any]:
    """A pod for ``rs``: its template, owned by it, scheduled on the one node."""
    template = rs["spec"]["template"]
    meta = rs["metadata"]
    spec = clone(template.get("spec") or {})
    spec.setdefault("nodeName", NODE)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    return {
        "metadata": {
            "name": name,
            "generateName": f"{meta['name']}-",
            "namespace": meta["namespace"],
            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
            "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": meta["name"], "uid": meta["uid"],
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": spec,
    }


def _base(pod: dict[str, Any], phase: str, now: str) -> dict[str, Any]:
    old = pod.get("status") or {}
    status: dict[str, Any] = {"phase": phase, "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}],
                              "qosClass": "BestEffort", "startTime": old.get("startTime", now)}
    if phase == "Running":
        ip = pod_ip(pod["metadata"]["name"])
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    return status


def _container(c: dict[str, Any], *, ready: bool, restarts: int, state: dict[str, Any],
               last: dict[str, Any] | None = None, pulled: bool = True) -> dict[str, Any]:
    image = str(c.get("image", ""))
    out: dict[str, Any] = {
        "name": c.get("name", ""), "image": image, "imageID": image_id(image) if pulled else "",
        "ready": ready, "started": ready or "running" in state, "restartCount": restarts,
        "state": state, "lastState": last or {},
    }
    if pulled:
        out["containerID"] = f"containerd://{hashlib.sha256(image.encode()).hexdigest()[:32]}"
    return out


def pending_status(pod: dict[str, Any], now: str | None = None) -> dict[str, Any]:
    now = now or timestamp()
    status = _base(pod, "Pending", now)
    status["conditions"] = [_condition("PodScheduled", True, now)]
    waiting = {"waiting": {"reason": "ContainerCreating"}}
    status["containerStatuses"] = [
        _container(c, ready=False, restarts=0, state=waiting, pulled=False)
        for c in pod["spec"].get("containers") or []
    ]
    return status


def running_status(pod: dict[str, Any], b: Behaviour, now: str | None = None) -> dict[str, Any]:
    """Containers running since ``now``; ready when the behaviour says so."""
    now = now or timestamp()
    status = _base(pod, "Running", now)
    names = [c.get("name", "") for c in pod["spec"].get("containers") or []]
    why = "" if b.ready else "ContainersNotReady"
    msg = "" if b.ready else f"containers with unready status: [{' '.join(names)}]"
    status["conditions"] = [
        _condition("PodReadyToStartContainers", True, now),
        _condition("Initialized", True, now),
        _condition("Ready", b.ready, now, why, msg),
        _condition("ContainersReady", b.ready, now, why, msg),
        _condition("PodScheduled", True, now),
    ]
    restarts = restart_count(pod)
    status["containerStatuses"] = [
        _container(c, ready=b.ready, restarts=restarts, state={"running": {"startedAt": now}})
        for c in pod["spec"].get("containers") or []
    ]
    return status


def crash_status(pod: dict[str, Any], now: str | None = None) -> dict[str, Any]:
    """One more failed start: CrashLoopBackOff with a grown restartCount."""
    now = now or timestamp()
    status = _base(pod, "Running", now)
    names = [c.get("name", "") for c in pod["spec"].get("containers") or []]
    msg = f"containers with unready status: [{' '.join(names)}]"
    status["conditions"] = [
        _condition("PodReadyToStartContainers", True, now),
        _condition("Initialized", True, now),
        _condition("Ready", False, now, "ContainersNotReady", msg),
        _condition("ContainersReady", False, now, "ContainersNotReady", msg),
        _condition("PodScheduled", True, now),
    ]
    restarts = restart_count(pod) + 1
    meta = pod["metadata"]
    status["containerStatuses"] = [
        _container(
            c, ready=False, restarts=restarts,
            state={"waiting": {"reason": "CrashLoopBackOff", "message":
                               f"back-off 10s restarting failed container={c.get('name')} "
                               f"pod={meta['name']}_{meta['namespace']}({meta.get('uid', '')})"}},
            last={"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now,
                                 "finishedAt": now, "containerID": "containerd://crashed"}},
        )
        for c in pod["spec"].get("containers") or []
    ]
    return status


def restart_count(pod: dict[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return int(statuses[0].get("restartCount", 0))


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def is_crashing(pod: dict[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    waiting = (statuses[0].get("state") or {}).get("waiting") or {}
    return waiting.get("reason") == "CrashLoopBackOff"


def is_running(pod: dict[str, Any]) -> bool:
    """Some container is up (the log and proxy endpoints need one)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return "running" in (statuses[0].get("state") or {})


def started_at(pod: dict[str, Any]) -> str | None:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    state = statuses[0].get("state") or {}
    last = statuses[0].get("lastState") or {}
    running = state.get("running") or last.get("terminated") or {}
    return running.get("startedAt")
