"""The starting cluster: the guide's platform-admin namespace (blue-green app, Service,
ConfigMap) and N tenant namespaces, each with isp-ops-app already rolled out at revision 1.

Tenant names are deterministic: a few realistic ISP names, then ``isp-0017``-style
numbers, so the same N always gives the same namespaces. Seeding writes through the
store and lets the controller settle each deployment at once (no start-up delay).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.kube.resources import BY_PLURAL

if TYPE_CHECKING:
    from sim.kube.server import Sim

REGISTRY = "123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac"
BASE_VERSION = "v1.2.3"
TENANT_LABEL = "app.kubernetes.io/component"
SLUG_LABEL = "tenant.dotmac.io/slug"
NAMED = (
    "fast-fiber", "metro-link", "skyline-net", "river-broadband", "summit-isp",
    "coastal-wave", "prairie-connect", "harbor-fiber", "valley-net", "peak-wireless",
    "lakeside-link", "urban-mesh", "granite-telecom", "aurora-fiber", "canyon-net",
    "pine-ridge-isp",
)
NS, DEPLOY, SVC, CM = (BY_PLURAL[p] for p in ("namespaces", "deployments", "services",
                                              "configmaps"))


def tenant_slugs(n: int) -> list[str]:
    """The first ``n`` tenant slugs; a prefix of any longer list."""
    return [NAMED[i] if i < len(NAMED) else f"isp-{i + 1:04d}" for i in range(n)]


def tenant_namespaces(n: int) -> list[str]:
    return [f"tenant-{slug}" for slug in tenant_slugs(n)]


def _probe(path: str, initial: int, period: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": 3000}, "initialDelaySeconds": initial,
            "periodSeconds": period}


def _deployment(name: str, labels: dict[str, str], image: str, config_map: str,
                *, progress_deadline: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": 1,
        "selector": {"matchLabels": dict(labels)},
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {"containers": [{
                "name": "frontend", "image": image,
                "ports": [{"containerPort": 3000, "name": "http"}],
                "envFrom": [{"configMapRef": {"name": config_map}}],
                "env": [{"name": "NODE_ENV", "value": "production"},
                        {"name": "PORT", "value": "3000"}],
                "livenessProbe": _probe("/api/health", 30, 10),
                "readinessProbe": _probe("/api/ready", 10, 5),
            }]},
        },
    }
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    return {"metadata": {"name": name, "labels": dict(labels)}, "spec": spec}


def _platform_admin(sim: Sim) -> None:
    ns, version = "platform-admin", BASE_VERSION
    labels = {"app": "platform-admin-app", "version": version}
    sim.store.create(NS, None, {"metadata": {"name": ns}})
    sim.store.create(CM, ns, {"metadata": {"name": f"platform-admin-config-{version}"}, "data": {
        "DEPLOYMENT_MODE": "platform_admin", "ENABLE_PLATFORM_ROUTES": "true",
        "NEXT_PUBLIC_API_BASE_URL": "https://api.dotmac.com",
        "NEXT_PUBLIC_GRAPHQL_URL": "https://api.dotmac.com/graphql",
        "NEXT_PUBLIC_ENABLE_TENANT_MANAGEMENT": "true",
        "NEXT_PUBLIC_ENABLE_LICENSE_MANAGEMENT": "true",
    }})
    sim.store.create(SVC, ns, {
        "metadata": {"name": "platform-admin-app", "labels": {"app": "platform-admin-app"}},
        "spec": {"selector": dict(labels),
                 "ports": [{"name": "http", "port": 80, "targetPort": 3000}]},
    })
    sim.store.create(DEPLOY, ns, _deployment(
        "platform-admin-app", labels, f"{REGISTRY}/platform-admin-app:{version}",
        f"platform-admin-config-{version}"))


def _tenant(sim: Sim, index: int, slug: str, *, app: bool) -> None:
    ns = f"tenant-{slug}"
    sim.store.create(NS, None, {"metadata": {"name": ns, "labels": {
        TENANT_LABEL: "tenant", SLUG_LABEL: slug}}})
    if not app:
        return
    sim.store.create(CM, ns, {"metadata": {"name": "isp-ops-config"}, "data": {
        "DEPLOYMENT_MODE": "single_tenant",
        "TENANT_ID": f"{slug}-isp-{100 + index}",
        "TENANT_SLUG": slug,
        "NEXT_PUBLIC_TENANT_NAME": slug.replace("-", " ").title() + " ISP",
        "NEXT_PUBLIC_API_BASE_URL": f"https://api.{slug}.isp.dotmac.com",
        "NEXT_PUBLIC_GRAPHQL_URL": f"https://api.{slug}.isp.dotmac.com/graphql",
        "NEXT_PUBLIC_ENABLE_CUSTOMER_PORTAL": "true",
        "NEXT_PUBLIC_ENABLE_RADIUS": "true",
    }})
    sim.store.create(DEPLOY, ns, _deployment(
        "isp-ops-app", {"app": "isp-ops-app"}, f"{REGISTRY}/isp-ops-app:{BASE_VERSION}",
        "isp-ops-config", progress_deadline=600))


def seed(sim: Sim, tenants: int, *, apps: bool = True) -> None:
    """Create the starting objects and settle every deployment (ready pods, revision 1).
    Without `apps`, tenant namespaces are left empty, for installing the app into them
    some other way (`helm install`)."""
    if sim.store.find(NS, None, "default") is None:
        sim.store.create(NS, None, {"metadata": {"name": "default"}})
    if sim.store.find(NS, None, "platform-admin") is None:
        _platform_admin(sim)
    for i, slug in enumerate(tenant_slugs(tenants)):
        if sim.store.find(NS, None, f"tenant-{slug}") is None:
            _tenant(sim, i, slug, app=apps)
    sim.controller.instant = True
    try:
        for d in list(sim.store.items(DEPLOY)):
            sim.controller.sync(d["metadata"]["namespace"], d["metadata"]["name"])
    finally:
        sim.controller.instant = False
