"""Server-side printing: the ``Table`` answers ``kubectl get`` asks for, so its default
output shows READY, STATUS and friends instead of only NAME and AGE."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sim.kube import pods
from sim.kube.resources import Resource

Row = Callable[[dict[str, Any]], list[Any]]


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def age(obj: dict[str, Any], now: datetime | None = None) -> str:
    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return "<unknown>"
    then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    secs = int(((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= 2 * size:
            return f"{secs // size}{unit}"
    return f"{max(secs, 0)}s"


def _pod_row(p: dict[str, Any]) -> list[Any]:
    statuses = (p.get("status") or {}).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    waiting = ((statuses[0].get("state") or {}).get("waiting") or {}) if statuses else {}
    state = waiting.get("reason") or (p.get("status") or {}).get("phase", "Pending")
    return [f"{ready}/{len(p['spec'].get('containers') or [])}", state,
            pods.restart_count(p)]


def _deploy_row(d: dict[str, Any]) -> list[Any]:
    s = d.get("status") or {}
    return [f"{s.get('readyReplicas', 0)}/{d['spec'].get('replicas', 0)}",
            s.get("updatedReplicas", 0), s.get("availableReplicas", 0)]


def _rs_row(rs: dict[str, Any]) -> list[Any]:
    s = rs.get("status") or {}
    return [rs["spec"].get("replicas", 0), s.get("replicas", 0), s.get("readyReplicas", 0)]


def _svc_row(svc: dict[str, Any]) -> list[Any]:
    spec = svc["spec"]
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    return [spec.get("type", "ClusterIP"), spec.get("clusterIP", ""), "<none>", ports]


COLUMNS: dict[str, tuple[list[str], Row]] = {
    "pods": (["Ready", "Status", "Restarts"], _pod_row),
    "deployments": (["Ready", "Up-to-date", "Available"], _deploy_row),
    "replicasets": (["Desired", "Current", "Ready"], _rs_row),
    "services": (["Type", "Cluster-IP", "External-IP", "Port(s)"], _svc_row),
    "namespaces": (["Status"], lambda n: [(n.get("status") or {}).get("phase", "Active")]),
    "configmaps": (["Data"], lambda c: [len(c.get("data") or {})]),
    "events": (["Type", "Reason", "Object", "Message"], lambda e: [
        e.get("type", ""), e.get("reason", ""),
        f"{e['involvedObject'].get('kind', '').lower()}/{e['involvedObject'].get('name', '')}",
        e.get("message", "")]),
}


def table(res: Resource, items: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    names, row = COLUMNS.get(res.plural, ([], lambda _: []))
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "",
                "priority": 0}]
    columns += [{"name": n, "type": "string", "format": "", "description": "", "priority": 0}
                for n in names]
    columns.append({"name": "Age", "type": "string", "format": "", "description": "",
                    "priority": 0})
    now = datetime.now(UTC)
    rows = [{"cells": [o["metadata"]["name"], *row(o), age(o, now)],
             "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                        "metadata": o["metadata"]}} for o in items]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": columns, "rows": rows}
