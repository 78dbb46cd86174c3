"""What pods say through the API server: container logs and proxied HTTP.

``/pods/NAME[:PORT]/proxy/api/health`` and ``/api/ready`` answer as the app would, and
``/pods/NAME/log`` prints request lines whose ERROR share is the pod's error rate.
Services proxy to one of their ready pods, so a blue-green switch can be checked.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sim.kube import pods
from sim.kube.behaviours import Behaviours, log_lines, pod_image
from sim.kube.objects import image_tag
from sim.kube.resources import BY_PLURAL, ApiError, Resource, bad_request
from sim.kube.store import Store

PODS, SERVICES = BY_PLURAL["pods"], BY_PLURAL["services"]


def _json(body: Any, status: int) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class PodApi:
    def __init__(self, store: Store, behaviours: Behaviours) -> None:
        self.store, self.behaviours = store, behaviours

    async def handle(self, request: web.Request, res: Resource, *, ns: str, name: str,
                     sub: str, tail: str) -> web.Response:
        if sub == "log" and res is PODS:
            return self.logs(ns, name, request.query)
        if sub == "proxy" and res in (PODS, SERVICES):
            parts = name.split(":")  # NAME, NAME:PORT or SCHEME:NAME:PORT
            bare = parts[1] if len(parts) == 3 else parts[0]
            pod = self._pod(ns, bare) if res is PODS else self._backend(ns, bare)
            return self.proxy(pod, tail)
        raise ApiError(404, "NotFound", f"{res.plural}/{sub} is not served")

    def _pod(self, ns: str, name: str) -> dict[str, Any]:
        return self.store.get(PODS, ns, name)

    def _backend(self, ns: str, name: str) -> dict[str, Any]:
        svc = self.store.get(SERVICES, ns, name)
        selector = svc["spec"].get("selector") or {}
        for pod in self.store.items(PODS, ns):
            labels = pod["metadata"].get("labels") or {}
            if selector and all(labels.get(k) == v for k, v in selector.items()) and (
                    pods.is_ready(pod)):
                return pod
        raise ApiError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')

    def proxy(self, pod: dict[str, Any], path: str) -> web.Response:
        """The app's answer, or the API server's 503 when nothing listens."""
        if not pods.is_running(pod):
            ip = (pod.get("status") or {}).get("podIP", "")
            raise ApiError(503, "ServiceUnavailable", f"error trying to reach service: dial tcp "
                           f"{ip or '<none>'}:3000: connect: connection refused")
        b = self.behaviours.for_pod(pod)
        tag = image_tag(pod_image(pod))
        path = path.strip("/")
        if path == "api/health":
            if b.mode == "unhealthy":
                return _json({"status": "error", "version": tag,
                              "error": "dependency check failed"}, 500)
            return _json({"status": "ok", "version": tag}, 200)
        if path == "api/ready":
            ready = pods.is_ready(pod)
            return _json({"ready": ready}, 200 if ready else 503)
        if path in ("", "api/version"):
            return _json({"app": pod["metadata"].get("labels", {}).get("app", ""),
                          "version": tag}, 200)
        return _json({"error": "not found", "path": "/" + path}, 404)

    def logs(self, ns: str, name: str, query: Any) -> web.Response:
        pod = self._pod(ns, name)
        containers = [c.get("name") for c in pod["spec"].get("containers") or []]
        container = query.get("container") or containers[0]
        if container not in containers:
            raise bad_request(f"container {container} is not valid for pod {name}")
        started = pods.started_at(pod)
        if started is None:
            raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                              "ContainerCreating")
        since = float(query["sinceSeconds"]) if query.get("sinceSeconds") else None
        if query.get("sinceTime"):
            since = (datetime.now(UTC) - _parse_time(query["sinceTime"])).total_seconds()
        b = self.behaviours.for_pod(pod, container)
        lines = log_lines(started=_parse_time(started), now=datetime.now(UTC), behaviour=b,
                          version=image_tag(pod_image(pod, container)), since=since)
        if query.get("tailLines"):
            lines = lines[-int(query["tailLines"]):] if int(query["tailLines"]) else []
        stamped = query.get("timestamps") in ("1", "true")
        text = "".join(
            (when.strftime("%Y-%m-%dT%H:%M:%S.%f000Z ") if stamped else "") + line + "\n"
            for when, line in lines)
        return web.Response(text=text, content_type="text/plain")
