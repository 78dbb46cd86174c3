"""`/deploy health <app> [tenant]`: the cluster read through its port, judged, and said.

One tenant, or a blue-green app's live side, is judged in full as a rollout judges it
(pods, health and ready endpoints, error rate); a whole fleet is summarised by which
version each tenant runs and which are not fully ready. Blocking: the Slack edge runs it
on one of its threads. Every word of the answer comes from :mod:`handlers.render`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from handlers import render
from rollout import errors
from rollout.health import Observation, judge
from rollout.images import tag_of
from rollout.model import AppSpec, HealthSpec, Strategy
from rollout.ports import Cluster, DeploymentInfo

READERS = 8  # deployments read at once for a fleet summary
UNKNOWN_VERSION = "?"  # an image that names no tag


def health_report(
    cluster: Cluster, spec: AppSpec, *, health: HealthSpec, tenant: str | None
) -> render.Message:
    """The answer to `/deploy health`; a cluster that cannot be read is said, not raised."""
    try:
        if spec.strategy is Strategy.BLUE_GREEN:
            state = cluster.blue_green_state(
                spec.namespace, service=spec.service, app_label=spec.app_label
            )
            live = state.sides.get(state.live_version or "", spec.deployment)
            return _judged(cluster, spec, health=health, namespace=spec.namespace, name=live)
        if tenant is not None:
            return _judged(cluster, spec, health=health, namespace=tenant, name=spec.deployment)
        return _fleet(cluster, spec)
    except errors.NotFound as exc:
        return render.health_not_found(str(exc))
    except errors.ClusterError as exc:
        return render.cluster_unreadable(str(exc))


def _judged(
    cluster: Cluster, spec: AppSpec, *, health: HealthSpec, namespace: str, name: str
) -> render.Message:
    info = cluster.read_deployment(namespace, name, container=spec.container)
    version = tag_of(info.image) or UNKNOWN_VERSION
    observation = Observation(
        pods=cluster.pods(namespace, name),
        health_probes=cluster.probe(namespace, name, port=health.port, path=health.path),
        ready_probes=cluster.probe(namespace, name, port=health.port, path=health.ready_path),
        logs=cluster.log_stats(namespace, name, since_seconds=health.log_window_seconds),
    )
    verdict = judge(
        observation,
        version=version,
        error_rate_threshold=spec.settings.error_rate,
        latency_factor=None,
    )
    return render.judged_health(
        namespace=namespace, name=name, info=info, version=version, verdict=verdict
    )


def _fleet(cluster: Cluster, spec: AppSpec) -> render.Message:
    namespaces = cluster.list_namespaces(spec.tenant_selector)
    if not namespaces:
        return render.no_tenants(spec.tenant_selector)

    def read(namespace: str) -> DeploymentInfo | errors.ClusterError:
        try:
            return cluster.read_deployment(namespace, spec.deployment, container=spec.container)
        except errors.ClusterError as exc:
            return exc

    with ThreadPoolExecutor(READERS) as pool:
        found = dict(zip(namespaces, pool.map(read, namespaces), strict=True))
    versions: dict[str, int] = {}
    trouble: list[str] = []
    for namespace, info in found.items():
        if isinstance(info, errors.ClusterError):
            trouble.append(render.unreadable(namespace, str(info)))
            continue
        version = tag_of(info.image) or UNKNOWN_VERSION
        versions[version] = versions.get(version, 0) + 1
        if info.ready_replicas < info.replicas:
            trouble.append(render.not_ready(namespace, info))
    return render.fleet_health(
        spec.name, tenants=len(namespaces), versions=versions, trouble=trouble
    )
