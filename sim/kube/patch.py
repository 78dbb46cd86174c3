"""The three PATCH flavours kubectl and the Python client send, applied to plain dicts.

Strategic merge knows the merge keys of the lists rollbot and kubectl touch (containers
by name, ports by port number, ...); any other list is replaced, as the server does for
lists without a ``patchMergeKey``. Functions return new objects and never modify input.
"""

from __future__ import annotations

from typing import Any

from sim.kube.objects import clone
from sim.kube.resources import ApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"

# list field name -> merge key, as in the Kubernetes API's patchMergeKey tags.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
}


def apply_patch(content_type: str, target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply ``patch`` of the given content type to ``target``; 415 for unknown types."""
    kind = content_type.split(";", 1)[0].strip()
    if kind == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("json patch must be a list of operations")
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise bad_request("patch body must be a JSON object")
    if kind == MERGE_PATCH:
        result = merge_patch(target, patch)
    elif kind == STRATEGIC:
        result = strategic_merge(target, patch)
    else:
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown "
                       f"format - accepted media types include: {JSON_PATCH}, {MERGE_PATCH}, "
                       f"{STRATEGIC}")
    assert isinstance(result, dict)
    return result


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    out = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _port_key(items: list[Any]) -> str:
    sample = next((i for i in items if isinstance(i, dict)), {})
    return "containerPort" if "containerPort" in sample else "port"


def _merge_list(field: str, current: list[Any], patch: list[Any]) -> list[Any]:
    key = MERGE_KEYS.get(field)
    if field == "ports":
        key = _port_key(patch or current)
    if key is None or not all(isinstance(p, dict) for p in patch):
        return [p for p in clone(patch) if not (isinstance(p, dict) and "$patch" in p)]
    out = clone(current)
    for item in patch:
        directive = item.get("$patch")
        if directive == "replace":
            return [i for i in clone(patch) if "$patch" not in i]
        idx = next((n for n, cur in enumerate(out)
                    if isinstance(cur, dict) and cur.get(key) == item.get(key)), None)
        if directive == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def strategic_merge(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge patch for the subset of directives clients send."""
    if not isinstance(patch, dict):
        return clone(patch)
    if patch.get("$patch") == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    out = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue  # ordering and retention hints: no effect on content we store
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            out[field] = [v for v in out.get(field) or [] if v not in value]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = _merge_list(key, out[key], value)
        elif isinstance(value, list):
            out[key] = _merge_list(key, [], value)
        else:
            out[key] = strategic_merge(out.get(key), value)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise ApiError(422, "Invalid", f"jsonpatch: path {path!r} does not exist")
    return cur


def _index(container: list[Any], part: str, path: str, *, adding: bool) -> int:
    if adding and part == "-":
        return len(container)
    if not part.isdigit() or int(part) > len(container) - (0 if adding else 1):
        raise ApiError(422, "Invalid", f"jsonpatch: index out of range in {path!r}")
    return int(part)


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, path)
    if isinstance(parent, list):
        return parent[_index(parent, parts[-1], path, adding=False)]
    if not isinstance(parent, dict) or parts[-1] not in parent:
        raise ApiError(422, "Invalid", f"jsonpatch: path {path!r} does not exist")
    return parent[parts[-1]]


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _parent(doc, parts, path)
    if isinstance(parent, list):
        return parent.pop(_index(parent, parts[-1], path, adding=False))
    if not isinstance(parent, dict) or parts[-1] not in parent:
        raise ApiError(422, "Invalid", f"jsonpatch: path {path!r} does not exist")
    return parent.pop(parts[-1])


def _add(doc: Any, path: str, value: Any, *, replace: bool) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    if isinstance(parent, list):
        idx = _index(parent, parts[-1], path, adding=not replace)
        if replace:
            parent[idx] = value
        else:
            parent.insert(idx, value)
    elif isinstance(parent, dict):
        # A lenient replace of a missing key acts as add, which the real server's
        # library refuses; it keeps `rollout undo` working on objects without annotations.
        parent[parts[-1]] = value
    else:
        raise ApiError(422, "Invalid", f"jsonpatch: cannot set {path!r}")
    return doc


def json_patch(target: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    """RFC 6902 operations: add, remove, replace, move, copy, test."""
    doc: Any = clone(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid json patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace"):
            doc = _add(doc, path, clone(op.get("value")), replace=kind == "replace")
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "move":
            doc = _add(doc, path, _remove(doc, op["from"]), replace=False)
        elif kind == "copy":
            doc = _add(doc, path, clone(_get(doc, op["from"])), replace=False)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise ApiError(422, "Invalid", f"jsonpatch: test failed at {path!r}")
        else:
            raise bad_request(f"unknown json patch operation {kind!r}")
    if not isinstance(doc, dict):
        raise bad_request("json patch must leave an object")
    return doc
