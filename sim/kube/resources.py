"""The kinds the simulated API server knows, and the Status errors it answers with.

One table drives discovery, URL parsing, list kinds and error messages, so adding a
kind is one entry here rather than edits scattered across the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resource:
    """One REST resource, e.g. ``deployments`` in ``apps/v1``."""

    plural: str
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    in_all: bool = False  # member of the "all" category (kubectl get all)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The name used in Status messages: ``deployments.apps``, ``pods``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()


_RW = ("create", "delete", "get", "list", "patch", "update", "watch")
_RBAC = "rbac.authorization.k8s.io"

RESOURCES: tuple[Resource, ...] = (
    Resource("namespaces", "Namespace", "", "v1", False, _RW, ("ns",), ("status",)),
    Resource("pods", "Pod", "", "v1", True, _RW, ("po",), ("log", "proxy", "status"), True),
    Resource("services", "Service", "", "v1", True, _RW, ("svc",), ("proxy", "status"), True),
    Resource("configmaps", "ConfigMap", "", "v1", True, _RW, ("cm",)),
    Resource("secrets", "Secret", "", "v1", True, _RW),
    Resource("serviceaccounts", "ServiceAccount", "", "v1", True, _RW, ("sa",)),
    Resource("persistentvolumeclaims", "PersistentVolumeClaim", "", "v1", True, _RW, ("pvc",),
             ("status",)),
    Resource("events", "Event", "", "v1", True, _RW, ("ev",)),
    Resource("deployments", "Deployment", "apps", "v1", True, _RW, ("deploy",),
             ("status", "scale"), True),
    Resource("replicasets", "ReplicaSet", "apps", "v1", True, _RW, ("rs",), ("status", "scale"),
             True),
    Resource("ingresses", "Ingress", "networking.k8s.io", "v1", True, _RW, ("ing",), ("status",)),
    Resource("roles", "Role", _RBAC, "v1", True, _RW),
    Resource("rolebindings", "RoleBinding", _RBAC, "v1", True, _RW),
    Resource("clusterroles", "ClusterRole", _RBAC, "v1", False, _RW),
    Resource("clusterrolebindings", "ClusterRoleBinding", _RBAC, "v1", False, _RW),
    Resource(
        "selfsubjectaccessreviews", "SelfSubjectAccessReview", "authorization.k8s.io", "v1",
        False, ("create",),
    ),
)

BY_PATH: dict[tuple[str, str, str], Resource] = {
    (r.group, r.version, r.plural): r for r in RESOURCES
}
BY_PLURAL: dict[str, Resource] = {r.plural: r for r in RESOURCES}
GROUP_VERSIONS: tuple[tuple[str, str], ...] = (
    ("apps", "v1"),
    ("authorization.k8s.io", "v1"),
    ("networking.k8s.io", "v1"),
    (_RBAC, "v1"),
)


def resource(plural: str) -> Resource:
    """The resource named ``plural`` (also accepts a kind such as ``Deployment``)."""
    if plural in BY_PLURAL:
        return BY_PLURAL[plural]
    for r in RESOURCES:
        if plural.lower() in (r.kind.lower(), r.singular, *r.short_names):
            return r
    raise KeyError(plural)


class ApiError(Exception):
    """A failure the server reports as a ``Status`` object with an HTTP code."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(res: Resource, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "kind": res.plural}
    if res.group:
        out["group"] = res.group
    return out


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', _details(res, name))


def already_exists(res: Resource, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{res.qualified} "{name}" already exists', _details(res, name)
    )


def conflict(res: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {res.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        _details(res, name),
    )


def invalid(res: Resource, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 with one cause per (reason, field, message), worded like the real server."""
    kind = f"{res.kind}.{res.group}" if res.group else res.kind
    text = ", ".join(f"{field}: {msg}" for _, field, msg in causes)
    details = _details(res, name)
    details["kind"] = res.kind
    details["causes"] = [{"reason": r, "field": f, "message": m} for r, f, m in causes]
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {text}', details)


def forbidden(res_name: str, group: str, verb: str, namespace: str | None, name: str) -> ApiError:
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    what = f'{res_name}.{group} "{name}"' if group else f'{res_name} "{name}"'
    if not name:
        what = f"{res_name}.{group}" if group else res_name
    return ApiError(
        403,
        "Forbidden",
        f'{what} is forbidden: User "rollbot" cannot {verb} resource "{res_name}" '
        f'in API group "{group}"{where}',
        {"name": name, "kind": res_name, "group": group} if name else {"kind": res_name},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def success_status(res: Resource, name: str, uid: str) -> dict[str, Any]:
    details = _details(res, name)
    details["uid"] = uid
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }
