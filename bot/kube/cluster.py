"""``KubeCluster``: the engine's :class:`rollout.ports.Cluster`, on the official client.

The class only wires things together: one ``ApiClient`` (thread-safe, pooled) shared by
every call, one retry policy, and the operations from the sibling modules. Namespace and
access checks live here because they are one call each.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType

from kubernetes import client

from bot.kube import bluegreen, deployments, history, probes, rollout_wait
from bot.kube.client import (
    DEFAULT_POOL_SIZE,
    Kube,
    api_client,
    in_cluster_configuration,
    kubeconfig_configuration,
)
from bot.kube.deployments import list_all, meta
from bot.kube.retry import RetryPolicy
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

    def __init__(self, api: client.ApiClient, *, policy: RetryPolicy | None = None) -> None:
        self._k = Kube(api=api, policy=policy or RetryPolicy(), closed=threading.Event())

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None = None,
        *,
        context: str | None = None,
        policy: RetryPolicy | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> KubeCluster:
        configuration = kubeconfig_configuration(path, context=context)
        return cls(api_client(configuration, pool_size=pool_size), policy=policy)

    @classmethod
    def in_cluster(
        cls, *, policy: RetryPolicy | None = None, pool_size: int = DEFAULT_POOL_SIZE
    ) -> KubeCluster:
        return cls(api_client(in_cluster_configuration(), pool_size=pool_size), policy=policy)

    @property
    def host(self) -> str:
        return str(self._k.api.configuration.host)

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
        items = list_all(
            self._k, "list namespaces", self._k.core.list_namespace, label_selector=selector
        )
        return sorted(meta(ns).name or "" for ns in items)

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
                lambda: k.core.read_namespace(name, _request_timeout=k.timeout),
                kind="read",
            )
        except NotFound:
            return False
        return True

    def can_i(self, *, verb: str, resource: str, namespace: str, group: str = "apps") -> bool:
        k = self._k
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, resource=resource, namespace=namespace, group=group
                )
            )
        )
        # Creating a review changes nothing on the server, so retrying it is safe.
        answer = k.retry.call(
            f"can-i {verb} {resource} in {namespace}",
            lambda: k.authz.create_self_subject_access_review(review, _request_timeout=k.timeout),
            kind="read",
        )
        return bool(answer.status and answer.status.allowed)

    # --- deployments --------------------------------------------------------------------

    def read_deployment(self, namespace: str, name: str, *, container: str) -> DeploymentInfo:
        return deployments.read_deployment(self._k, namespace, name, container=container)

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
