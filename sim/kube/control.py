"""The ``/_sim/`` control API: what the Python harness offers, over HTTP, for a test
that runs the sim as a subprocess (``rollbot sim``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from sim.kube.server import Sim

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _ok(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _guard(fn: Handler) -> Handler:
    async def run(request: web.Request) -> web.Response:
        try:
            return await fn(request)
        except (ValueError, TypeError) as exc:
            return _ok({"error": str(exc)}, 400)

    return run


def register(app: web.Application, sim: Sim) -> None:
    async def counters(request: web.Request) -> web.Response:
        if request.method == "DELETE":
            sim.counters.reset()
        return _ok(sim.counters.snapshot())

    async def faults(request: web.Request) -> web.Response:
        if request.method == "POST":
            return _ok(sim.add_fault(**await _body(request)), 201)
        if request.method == "DELETE":
            sim.faults.clear()
        return _ok([f.as_dict() for f in sim.faults.rules])

    async def one_fault(request: web.Request) -> web.Response:
        removed = sim.faults.remove(int(request.match_info["id"]))
        return _ok({"removed": removed}, 200 if removed else 404)

    async def behaviours(request: web.Request) -> web.Response:
        if request.method == "POST":
            spec = await _body(request)
            params = {k: float(spec[k]) for k in ("error_rate", "latency_factor") if k in spec}
            sim.set_behaviour(str(spec.get("namespace", "*")), str(spec.get("tag", "*")),
                              str(spec.get("behaviour", "healthy")), **params)
        elif request.method == "DELETE":
            sim.clear_behaviours()
        return _ok([r.as_dict() for r in sim.behaviours.rules])

    async def access(request: web.Request) -> web.Response:
        if request.method == "POST":
            spec = await _body(request)
            sim.deny_access(**{k: str(v) for k, v in spec.items()})
        elif request.method == "DELETE":
            sim.access.clear()
        return _ok([vars(d) for d in sim.access.denies])

    async def state(request: web.Request) -> web.Response:
        return _ok(sim.summary())

    for path, fn, methods in (
        ("/_sim/counters", counters, ("GET", "DELETE")),
        ("/_sim/faults", faults, ("GET", "POST", "DELETE")),
        ("/_sim/faults/{id:\\d+}", one_fault, ("DELETE",)),
        ("/_sim/behaviours", behaviours, ("GET", "POST", "DELETE")),
        ("/_sim/access", access, ("GET", "POST", "DELETE")),
        ("/_sim/state", state, ("GET",)),
    ):
        for method in methods:
            app.router.add_route(method, path, _guard(fn))
