"""``KubeCluster``: the engine's :class:`rollout.ports.Cluster`, on the official client.

The class only wires things together: one ``ApiClient`` (thread-safe, pooled) shared by
every call, one retry policy, and the operations from the sibling modules. Namespace and
access checks live here because they are one call each.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType

from kubernetes.client import ApiClient

from bot.backoff import RetryPolicy
from bot.kube import access, bluegreen, deployments, history, probes, rollout_wait
from bot.kube.client import (
    Kube,
    api_client,
    in_cluster_configuration,
    kubeconfig_configuration,
)
from bot.kube.deployments import list_versioned, name_of
from bot.kube.pod_view import MIN_NAMESPACES, PodViews
from bot.kube.wire import Limits, ThrottleStats, path
from rollout.errors import Forbidden, NotFound
from rollout.ports import (
    BlueGreenState,
    DeploymentInfo,
    FailFast,
    HealthSnapshot,
    LogStats,
    NewSide,
    PodState,
    ProbeResult,
    RolloutStatus,
)


class KubeCluster:
    """Every Kubernetes call rollbot makes; errors are from :mod:`rollout.errors`."""

    def __init__(
        self,
        api: ApiClient,
        *,
        policy: RetryPolicy | None = None,
        limits: Limits | None = None,
        shared_views_from: int = MIN_NAMESPACES,
    ) -> None:
        """`shared_views_from`: a rollout over at least this many namespaces reads its
        pods and follows its deployments through shared views (see
        :mod:`bot.kube.pod_view`); 0 never."""
        self._k = Kube(
            api=api,
            policy=policy or RetryPolicy(),
            limits=limits or Limits(),
            closed=threading.Event(),
        )
        if shared_views_from > 0:
            self._k.pod_views = PodViews(self._k, min_namespaces=shared_views_from)

    @classmethod
    def from_kubeconfig(
        cls,
        kubeconfig: str | None = None,
        *,
        context: str | None = None,
        policy: RetryPolicy | None = None,
        limits: Limits | None = None,
    ) -> KubeCluster:
        configuration = kubeconfig_configuration(kubeconfig, context=context)
        return cls(api_client(configuration), policy=policy, limits=limits)

    @classmethod
    def in_cluster(
        cls, *, policy: RetryPolicy | None = None, limits: Limits | None = None
    ) -> KubeCluster:
        return cls(api_client(in_cluster_configuration()), policy=policy, limits=limits)

    @property
    def host(self) -> str:
        return str(self._k.api.configuration.host)

    @property
    def limits(self) -> Limits:
        return self._k.limits

    @property
    def throttle(self) -> ThrottleStats:
        """Requests in flight now, the most there were, and how often the limits held
        one back; for ``/metrics``."""
        return self._k.wire.throttle.stats

    def close(self) -> None:
        """Drop pooled connections and cut short any retry backoff in progress."""
        self._k.close()

    def __enter__(self) -> KubeCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- namespaces and access ----------------------------------------------------------

    def list_namespaces(self, selector: str) -> list[str]:
        query = [("labelSelector", selector)] if selector else []
        names, _ = list_versioned(
            self._k, "list namespaces", path("api", "v1", "namespaces"), query=query,
            keep=name_of,
        )
        return sorted(names)

    def namespaces_exist(self, names: Sequence[str]) -> dict[str, bool]:
        try:
            present = set(self.list_namespaces(""))
        except Forbidden:
            # May read single namespaces without listing them all: ask one by one.
            return {name: self._namespace_exists(name) for name in names}
        return {name: name in present for name in names}

    def _namespace_exists(self, name: str) -> bool:
        k = self._k
        try:
            k.retry.call(
                f"read namespace {name}",
                lambda: k.wire.get(path("api", "v1", "namespaces", name), timeout=k.timeout),
                kind="read",
            )
        except NotFound:
            return False
        return True

    def can_i(self, *, verb: str, resource: str, namespace: str, group: str = "apps") -> bool:
        return access.can_i(self._k, verb=verb, resource=resource, namespace=namespace, group=group)

    # --- deployments --------------------------------------------------------------------

    def read_deployment(self, namespace: str, name: str, *, container: str) -> DeploymentInfo:
        return deployments.read_deployment(self._k, namespace, name, container=container)

    def deployments_named(self, name: str, *, container: str) -> dict[str, DeploymentInfo] | None:
        if not self.can_i(verb="list", resource="deployments", namespace=""):
            return None
        return deployments.deployments_named(self._k, name, container=container)

    def set_image(self, namespace: str, name: str, *, container: str, image: str) -> int:
        return deployments.set_image(self._k, namespace, name, container=container, image=image)

    def wait_rollout(
        self,
        namespace: str,
        name: str,
        *,
        timeout: float,
        min_generation: int = 0,
        fail_fast: FailFast | None = None,
        waited: float = 0.0,
    ) -> RolloutStatus:
        return rollout_wait.wait_rollout(
            self._k,
            namespace,
            name,
            timeout=timeout,
            min_generation=min_generation,
            fail_fast=fail_fast,
            waited=waited,
        )

    def undo(self, namespace: str, name: str) -> int:
        return history.undo(self._k, namespace, name)

    def pods(self, namespace: str, deployment: str) -> list[PodState]:
        return deployments.pods(self._k, namespace, deployment)

    def probe(self, namespace: str, deployment: str, *, port: int, path: str) -> list[ProbeResult]:
        return probes.probe(self._k, namespace, deployment, port=port, path=path)

    def log_stats(self, namespace: str, deployment: str, *, since_seconds: int) -> LogStats:
        return probes.log_stats(self._k, namespace, deployment, since_seconds=since_seconds)

    def health_snapshot(
        self,
        namespace: str,
        deployment: str,
        *,
        port: int,
        paths: Sequence[str],
        since_seconds: int,
    ) -> HealthSnapshot:
        return probes.health_snapshot(
            self._k, namespace, deployment, port=port, paths=paths, since_seconds=since_seconds
        )

    # --- blue-green ---------------------------------------------------------------------

    def blue_green_state(self, namespace: str, *, service: str, app_label: str) -> BlueGreenState:
        return bluegreen.blue_green_state(self._k, namespace, service=service, app_label=app_label)

    def create_side(self, namespace: str, side: NewSide) -> None:
        bluegreen.create_side(self._k, namespace, side)

    def switch_service(self, namespace: str, service: str, *, version: str) -> None:
        bluegreen.switch_service(self._k, namespace, service, version=version)

    def delete_side(self, namespace: str, *, deployment: str, config_map: str | None) -> None:
        bluegreen.delete_side(self._k, namespace, deployment=deployment, config_map=config_map)
