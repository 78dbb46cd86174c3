"""OpenAPI v3 documents, as Helm 3 asks for them before it installs or upgrades a release.

Helm validates a rendered manifest before sending it: it reads ``/openapi/v3`` (the
index of group-versions), then the document of each group-version the manifest uses,
and looks there for the kind's write operations and whether they take the
``fieldValidation`` query parameter. When they do, it leaves validation to the server
(``fieldValidation=Strict`` on the write) rather than checking fields itself. Without
these documents ``helm install`` stops with "failed to download openapi".

So each document lists, per resource of the group-version, its paths with the verbs
it supports, each write carrying ``fieldValidation`` and the kind's
``x-kubernetes-group-version-kind``, and a component schema per kind that accepts any
fields (the server's own validation in :mod:`sim.kube.objects` is what refuses).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sim.kube.resources import RESOURCES, Resource

# verb -> (collection or one object, HTTP method, x-kubernetes-action), as the server lists them
_ROUTES = {
    "create": ("collection", "post", "post"),
    "list": ("collection", "get", "list"),
    "get": ("one", "get", "get"),
    "update": ("one", "put", "put"),
    "patch": ("one", "patch", "patch"),
    "delete": ("one", "delete", "delete"),
}


def _prefix(group: str, version: str) -> str:
    """``api/v1`` or ``apis/apps/v1``: how the index and the URLs name a group-version."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(res: Resource) -> str:
    group = res.group.split(".")[0] if res.group else "core"
    return f"io.k8s.api.{group}.{res.version}.{res.kind}"


def _gvk(res: Resource) -> dict[str, str]:
    return {"group": res.group, "version": res.version, "kind": res.kind}


def _operation(res: Resource, verb: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{verb}{res.kind}",
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": _gvk(res),
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{_schema_name(res)}"}}}}},
    }
    if verb in ("post", "put", "patch"):
        op["parameters"] = [
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
        ]
    return op


def _paths(res: Resource) -> dict[str, Any]:
    scope = "/" + _prefix(res.group, res.version)
    if res.namespaced:
        scope += "/namespaces/{namespace}"
    collection = f"{scope}/{res.plural}"
    where = {"collection": collection, "one": f"{collection}/{{name}}"}
    paths: dict[str, Any] = {}
    for verb in res.verbs:
        if verb in _ROUTES:
            place, method, action = _ROUTES[verb]
            paths.setdefault(where[place], {})[method] = _operation(res, action)
    return paths


def _schema(res: Resource) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"{res.kind} (any fields: the simulated server validates on write)",
        "x-kubernetes-preserve-unknown-fields": True,
        "x-kubernetes-group-version-kind": [_gvk(res)],
    }


def document(group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group-version; None when the server has none."""
    chosen = [r for r in RESOURCES if (r.group, r.version) == (group, version)]
    if not chosen:
        return None
    paths: dict[str, Any] = {}
    for res in chosen:
        paths.update(_paths(res))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {_schema_name(r): _schema(r) for r in chosen}},
    }


def _hash(doc: dict[str, Any]) -> str:
    raw = json.dumps(doc, sort_keys=True).encode()
    return hashlib.sha512(raw).hexdigest()[:128].upper()


def index() -> dict[str, Any]:
    """``/openapi/v3``: every group-version and where its document is."""
    paths = {}
    for group, version in sorted({(r.group, r.version) for r in RESOURCES}):
        doc = document(group, version)
        assert doc is not None
        prefix = _prefix(group, version)
        paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={_hash(doc)}"}
    return {"paths": paths}


def document_at(path: str) -> dict[str, Any] | None:
    """The document that ``/openapi/v3/<path>`` names (``api/v1``, ``apis/apps/v1``)."""
    parts = path.strip("/").split("/")
    if parts[:1] == ["api"] and len(parts) == 2:
        return document("", parts[1])
    if parts[:1] == ["apis"] and len(parts) == 3:
        return document(parts[1], parts[2])
    return None
