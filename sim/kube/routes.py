"""The REST surface: URL parsing, then get, list, watch, create, replace, patch, delete.

Every API request passes ``Api.handle``: parse, receive the whole body, count, fault
injection, authorisation, then dispatch. Faults and refusals come first so they never
leave a change behind. A request counts only once all of it has arrived: a client that
dies half-way through sending a PATCH has not patched anything, here or on a real server.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientPayloadError, web

from sim.kube import discovery, protobuf, tables
from sim.kube.faults import Access, Counters, Fault, Faults
from sim.kube.patch import apply_patch
from sim.kube.podapi import PodApi
from sim.kube.resources import (
    BY_PATH,
    ApiError,
    Resource,
    bad_request,
    forbidden,
    invalid,
    success_status,
)
from sim.kube.selectors import name_from_fields, parse_fields, parse_labels
from sim.kube.store import Store

DEFAULT_WATCH_TIMEOUT = 1800.0
_TRUE = ("1", "true", "True")

LARGE_BODY = 2**20  # bytes: aiohttp's own limit for a body sent at once


@dataclass(frozen=True)
class Target:
    """A parsed API path. ``res`` is None for discovery documents."""

    group: str
    version: str
    res: Resource | None
    namespace: str | None = None
    name: str | None = None
    sub: str | None = None
    tail: str = ""
    route: str = ""


def parse(path: str) -> Target | None:
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        group, gv_len = "", 2
    elif parts[0] == "apis":
        group, gv_len = (parts[1] if len(parts) > 1 else ""), 3
    else:
        return None
    if len(parts) <= gv_len:
        version = parts[gv_len - 1] if len(parts) == gv_len else ""
        return Target(group, version, None, route="/" + "/".join(parts))
    version, rest = parts[gv_len - 1], parts[gv_len:]
    prefix = "/".join(parts[:gv_len])
    namespace, route = None, f"/{prefix}"
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
        route += "/namespaces/{namespace}"
    res = BY_PATH.get((group, version, rest[0]))
    if res is None:
        return Target(group, version, None, route="?")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    route += f"/{res.plural}" + ("/{name}" if name else "") + (f"/{sub}" if sub else "")
    return Target(group, version, res, namespace, name, sub, "/".join(rest[3:]), route)


def verb_of(method: str, t: Target, query: Any) -> str:
    if method == "GET":
        if t.name or t.res is None:
            return "get"
        return "watch" if query.get("watch") in _TRUE else "list"
    if method == "DELETE" and not t.name:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower())


def reply(body: Any, status: int = 200) -> web.Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    # A page of hundreds of objects is more than aiohttp sends as bytes without warning
    # that it might hold up the event loop; a stream of them it sends in chunks.
    payload = io.BytesIO(data) if len(data) > LARGE_BODY else data
    return web.Response(body=payload, status=status, content_type="application/json")


def error_reply(err: ApiError) -> web.Response:
    return reply(err.status(), err.code)


def _unsupported(ctype: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format - accepted media '
                    f'types include: application/json (got "{ctype}")')


async def read_json(request: web.Request) -> Any:
    ctype = request.headers.get("Content-Type", "application/json")
    if "protobuf" in ctype:
        try:
            return protobuf.decode(await request.read())
        except protobuf.Unreadable:
            raise _unsupported(ctype) from None
    if "cbor" in ctype:
        raise _unsupported(ctype)
    try:
        return json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise bad_request(f"invalid JSON body: {exc}") from None


async def read_object(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    labels = (obj["spec"].get("selector") or {}).get("matchLabels") or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                              "creationTimestamp") if k in meta},
            "spec": {"replicas": obj["spec"].get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in labels.items())}}


class Api:
    """Request handling for /api and /apis on top of the store."""

    def __init__(self, store: Store, pod_api: PodApi, *, access: Access, faults: Faults,
                 counters: Counters) -> None:
        self.store, self.pod_api = store, pod_api
        self.access, self.faults, self.counters = access, faults, counters

    async def handle(self, request: web.Request) -> web.StreamResponse:
        t = parse(request.path)
        if t is None or t.route == "?":
            return error_reply(ApiError(404, "NotFound", "the server could not find the "
                                        "requested resource"))
        verb = verb_of(request.method, t, request.query)
        resource = t.res.plural if t.res else ""
        if request.body_exists:
            try:
                await request.read()  # kept by aiohttp: read_json below gets it again
            except (ConnectionError, ClientPayloadError):
                raise asyncio.CancelledError from None  # the client is gone mid-request
        self.counters.record(verb=verb, route=t.route, path=request.path,
                             namespace=t.namespace or "", resource=resource)
        # Watches are long-running: like the API server's own in-flight limit, the count
        # of requests in flight leaves them out.
        counted = verb != "watch"
        if counted:
            self.counters.enter()
        try:
            fault = self.faults.decide(request.method, verb, request.path)
            if fault is not None and (answer := await self._inject(request, fault)) is not None:
                return answer
            if t.res is not None:
                full = f"{resource}/{t.sub}" if t.sub else resource
                if not self.access.allowed(t.namespace or "", verb, full):
                    raise forbidden(full, t.group, verb, t.namespace, t.name or "")
            return await self._dispatch(request, t, verb)
        except ApiError as err:
            return error_reply(err)
        finally:
            if counted:
                self.counters.leave()

    async def _inject(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        if fault.action == "latency":
            await asyncio.sleep(fault.latency)
            return None
        if fault.action == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing more can be said on a dropped connection
        err = ApiError(fault.status, "TooManyRequests" if fault.status == 429 else
                       "InternalError", f"injected fault {fault.id}")
        answer = error_reply(err)
        if fault.status == 429:
            answer.headers["Retry-After"] = str(max(round(fault.retry_after), 0))
        return answer

    async def _dispatch(self, request: web.Request, t: Target, verb: str) -> web.StreamResponse:
        if t.res is None:
            return self._discovery(request, t)
        res = t.res
        if t.sub in ("log", "proxy"):
            return await self.pod_api.handle(request, res, ns=t.namespace or "",
                                             name=t.name or "", sub=t.sub, tail=t.tail)
        if t.sub is not None and t.sub not in res.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if t.sub == "scale":
            return reply(await self._scale(request, t, verb))
        if res.plural == "selfsubjectaccessreviews" and verb == "create":
            return reply(self._review(await read_object(request)), 201)
        if verb == "list":
            return self._list(request, res, t.namespace)
        if verb == "watch":
            return await self._watch(request, res, t.namespace)
        if verb == "get":
            obj = self.store.get(res, t.namespace, t.name or "")
            if tables.wants_table(request.headers.get("Accept", "")):
                return reply(tables.table(res, [obj], {"resourceVersion": str(self.store.rv)}))
            return reply(obj)
        dry = request.query.get("dryRun") == "All"  # checked and answered, not stored
        if verb == "create":
            return reply(self.store.create(res, t.namespace, await read_object(request),
                                           dry_run=dry), 201)
        if verb == "update":
            return reply(self.store.update(res, t.namespace, t.name or "",
                                           await read_object(request), subresource=t.sub,
                                           dry_run=dry))
        if verb == "patch":
            return reply(await self._patch(request, t, dry_run=dry))
        if verb == "delete":
            gone = self.store.delete(res, t.namespace, t.name or "")
            if res.plural in ("pods", "namespaces"):
                return reply(gone)
            return reply(success_status(res, t.name or "", gone["metadata"].get("uid", "")))
        raise ApiError(405, "MethodNotAllowed", f"{verb} is not supported on {res.plural}")

    def _discovery(self, request: web.Request, t: Target) -> web.Response:
        doc: dict[str, Any] | None
        if t.route == "/api":
            doc = discovery.api_versions(request.host)
        elif t.route == "/apis":
            doc = discovery.api_groups()
        elif t.version:
            doc = discovery.resource_list(t.group, t.version)
        else:
            doc = discovery.api_group(t.group)
        if doc is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return reply(doc)

    def _list(self, request: web.Request, res: Resource, ns: str | None) -> web.Response:
        q = request.query
        fields_text = q.get("fieldSelector")
        items = self.store.select(res, ns, labels=parse_labels(q.get("labelSelector")),
                                  fields=parse_fields(fields_text),
                                  name=name_from_fields(fields_text))
        meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        items = self._page(q, items, meta)
        if tables.wants_table(request.headers.get("Accept", "")):
            return reply(tables.table(res, items, meta))
        return reply({"kind": f"{res.kind}List", "apiVersion": res.api_version,
                      "metadata": meta, "items": items})

    @staticmethod
    def _page(q: Any, items: list[dict[str, Any]], meta: dict[str, Any]) -> list[dict[str, Any]]:
        """`limit` and `continue`, in the API server's key order (namespace, then name). The
        token names the last key served, not an offset, so an object deleted between two
        pages shifts nothing: every object that lives through the listing is served once,
        as the real server's snapshot guarantees. (Changes made meanwhile reach a client
        through the watch it opens at the first page's resourceVersion.)"""
        token, limit = q.get("continue"), int(q.get("limit") or 0)
        if not token and limit <= 0:
            return items
        items = sorted(items, key=_key)
        if token:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(token))["after"])
            except (ValueError, KeyError, TypeError):
                raise bad_request("invalid continue token") from None
            items = [item for item in items if _key(item) > after]
        if limit > 0 and limit < len(items):
            last = _key(items[limit - 1])
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"after": list(last)}).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return items

    async def _watch(self, request: web.Request, res: Resource, ns: str | None
                     ) -> web.StreamResponse:
        q = request.query
        raw_rv = q.get("resourceVersion") or ""
        if raw_rv and not raw_rv.isdigit():
            raise bad_request(f"invalid resourceVersion {raw_rv!r}")
        since = int(raw_rv) if raw_rv not in ("", "0") else None
        timeout = float(q.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
        watcher = self.store.watch(res, ns, labels=parse_labels(q.get("labelSelector")),
                                   fields=parse_fields(q.get("fieldSelector")), since=since)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            async with asyncio.timeout(timeout):
                while (line := await watcher.queue.get()) is not None:
                    while not watcher.queue.empty():
                        more = watcher.queue.get_nowait()
                        if more is None:
                            await response.write(line)
                            return response
                        line += more
                    await response.write(line)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self.store.hub.close(watcher)
        return response

    async def _patch(self, request: web.Request, t: Target, *, dry_run: bool
                     ) -> dict[str, Any]:
        assert t.res is not None
        ctype = request.headers.get("Content-Type", "")
        body = await read_json(request)
        current = self.store.get(t.res, t.namespace, t.name or "")
        patched = apply_patch(ctype, current, body)
        return self.store.update(t.res, t.namespace, t.name or "", patched, subresource=t.sub,
                                 dry_run=dry_run)

    async def _scale(self, request: web.Request, t: Target, verb: str) -> dict[str, Any]:
        """The ``scale`` subresource (``kubectl scale``): an autoscaling/v1 Scale view."""
        assert t.res is not None
        obj = self.store.get(t.res, t.namespace, t.name or "")
        if verb in ("update", "patch"):
            body = await read_json(request)
            if verb == "patch":
                body = apply_patch(request.headers.get("Content-Type", ""), scale_of(obj), body)
            replicas = (body.get("spec") or {}).get("replicas") if isinstance(body, dict) else None
            if not isinstance(replicas, int) or replicas < 0:
                raise invalid(t.res, t.name or "", [("FieldValueInvalid", "spec.replicas",
                                                     "Invalid value: must be an integer >= 0")])
            meta = dict(obj["metadata"])
            if sent_rv := (body.get("metadata") or {}).get("resourceVersion"):
                meta["resourceVersion"] = sent_rv  # the store checks it for conflicts
            obj = self.store.update(t.res, t.namespace, t.name or "", {
                **obj, "metadata": meta, "spec": {**obj["spec"], "replicas": replicas}})
        return scale_of(obj)

    def _review(self, body: Any) -> dict[str, Any]:
        spec = (body or {}).get("spec") or {}
        attrs = spec.get("resourceAttributes") or {}
        resource = attrs.get("resource", "")
        if attrs.get("subresource"):
            resource += "/" + attrs["subresource"]
        allowed = self.access.allowed(attrs.get("namespace", ""), attrs.get("verb", ""), resource)
        status: dict[str, Any] = {"allowed": allowed}
        if not allowed:
            status.update(denied=True, reason="denied by a rollbot sim access rule")
        return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}


def _key(item: dict[str, Any]) -> tuple[str, str]:
    md = item.get("metadata") or {}
    return (str(md.get("namespace") or ""), str(md.get("name") or ""))
