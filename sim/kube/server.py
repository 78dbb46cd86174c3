"""``Sim``: one simulated cluster (state, controller, test knobs) and its HTTP server.

Everything here runs on one event loop; ``sim.kube.harness`` wraps a Sim for use from
other threads.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any, Self

from aiohttp import web

from sim.kube import control, discovery, openapi, pods
from sim.kube.behaviours import Behaviours, Rule
from sim.kube.controller import REVISION, Controller
from sim.kube.faults import Access, Counters, Deny, Faults
from sim.kube.objects import clone
from sim.kube.podapi import PodApi
from sim.kube.resources import BY_PLURAL, RESOURCES, ApiError, resource
from sim.kube.routes import Api, reply
from sim.kube.store import Snapshot, Store


class Sim:
    """A simulated Kubernetes API server with a Deployment controller."""

    def __init__(self, *, ready_delay: float = 0.05, deadline_scale: float = 1.0,
                 seed: int = 0) -> None:
        self.store = Store()
        self.behaviours = Behaviours()
        self.controller = Controller(self.store, self.behaviours, ready_delay=ready_delay,
                                     deadline_scale=deadline_scale)
        self.faults = Faults(seed)
        self.access = Access()
        self.counters = Counters()
        self.api = Api(self.store, PodApi(self.store, self.behaviours), access=self.access,
                       faults=self.faults, counters=self.counters)
        self.url = ""
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        control.register(app, self)
        app.router.add_get("/version", _version)
        app.router.add_get("/openapi/v3", _openapi_index)
        app.router.add_get("/openapi/v3/{tail:.*}", _openapi_document)
        for prefix in ("/api", "/apis"):
            app.router.add_route("*", prefix, self.api.handle)
            app.router.add_route("*", prefix + "/{tail:.*}", self.api.handle)
        return app

    async def start(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        self.controller.start()
        self._runner = web.AppRunner(self.app(), handler_cancellation=True, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound}"
        return self.url

    async def stop(self) -> None:
        self.store.hub.close_all()
        await self.controller.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        if not self.url:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the Python control API (call on the sim's loop) -----------------------------
    def seed(self, tenants: int = 0, *, apps: bool = True) -> None:
        from sim.kube.seed import seed

        seed(self, tenants, apps=apps)

    def set_behaviour(self, namespace_glob: str, tag_glob: str, behaviour: str,
                      **params: float) -> Rule:
        rule = self.behaviours.add(namespace_glob, tag_glob, behaviour, **params)
        self.controller.resync_pods()
        return rule

    def clear_behaviours(self) -> None:
        self.behaviours.clear()
        self.controller.resync_pods()

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        return self.faults.add(**spec).as_dict()

    def deny_access(self, *, namespace: str = "*", verb: str = "*", resource: str = "*"
                    ) -> Deny:
        return self.access.deny(namespace=namespace, verb=verb, resource=resource)

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        found = self.store.find(resource(kind), namespace, name)
        return clone(found) if found is not None else None

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return clone(list(self.store.items(resource(kind), namespace)))

    def rolled_out(self, namespace: str, name: str) -> bool:
        """``kubectl rollout status`` would say "successfully rolled out"."""
        d = self.store.find(BY_PLURAL["deployments"], namespace, name)
        if d is None:
            return False
        s, want = d.get("status") or {}, d["spec"].get("replicas", 1)
        return bool(s.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
                and s.get("updatedReplicas", 0) == want == s.get("replicas", 0)
                and s.get("availableReplicas", 0) >= want)

    def summary(self) -> dict[str, Any]:
        deployments = []
        for d in self.store.items(BY_PLURAL["deployments"]):
            containers = d["spec"]["template"]["spec"].get("containers") or [{}]
            meta = d["metadata"]
            deployments.append({
                "namespace": meta["namespace"], "name": meta["name"],
                "image": containers[0].get("image", ""),
                "revision": (meta.get("annotations") or {}).get(REVISION, ""),
                "ready": (d.get("status") or {}).get("readyReplicas", 0),
                "rolled_out": self.rolled_out(meta["namespace"], meta["name"]),
            })
        phases = Counter(
            "CrashLoopBackOff" if pods.is_crashing(p) else (p.get("status") or {}).get("phase")
            for p in self.store.items(BY_PLURAL["pods"]))
        return {"url": self.url, "resourceVersion": self.store.rv,
                "objects": {r.plural: self.store.count(r) for r in RESOURCES},
                "watches": self.store.hub.count(), "pods": dict(phases),
                "deployments": deployments}


async def _version(_: web.Request) -> web.Response:
    return reply(discovery.VERSION)


async def _openapi_index(_: web.Request) -> web.Response:
    return reply(openapi.index())


async def _openapi_document(request: web.Request) -> web.Response:
    doc = openapi.document_at(request.match_info["tail"])
    if doc is None:
        return reply(ApiError(404, "NotFound", "the server could not find the requested "
                              "resource").status(), 404)
    return reply(doc)


async def serve(*, tenants: int = 0, ready_delay: float = 0.05, deadline_scale: float = 1.0,
                host: str = "127.0.0.1", port: int = 0, apps: bool = True,
                snapshot: Snapshot | None = None) -> Sim:
    """Start and seed a Sim on the running loop (``async with await serve(...) as sim``):
    `tenants` tenants, each with the app unless `apps` is False; or, given a `snapshot`
    of another sim's store, exactly what that sim held."""
    sim = Sim(ready_delay=ready_delay, deadline_scale=deadline_scale)
    if snapshot is not None:
        sim.store.restore(snapshot)
    await sim.start(host=host, port=port)
    try:
        if snapshot is None:
            sim.seed(tenants, apps=apps)
    except BaseException:
        await sim.stop()
        raise
    return sim


@contextlib.asynccontextmanager
async def running(**kwargs: Any) -> Any:
    sim = await serve(**kwargs)
    try:
        yield sim
    finally:
        await sim.stop()

