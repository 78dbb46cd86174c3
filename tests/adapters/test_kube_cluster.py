"""The Kubernetes adapter's own ways, beyond the ``Cluster`` contract it shares with the fake.

Against its own simulated API server, each test shows what only requests can show: how
many calls a step costs (counted on the server, so "applied exactly once" is checked where
it happens), what the objects it writes hold, how it rides out injected API faults and
dropped watches, and how it is built from a kubeconfig.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bot.kube import KubeCluster, RetryPolicy
from bot.kube.client import api_client, kubeconfig_configuration
from rollout import retries
from rollout.errors import ConfigError, Forbidden, NotFound, TransientClusterError
from rollout.model import Retries
from rollout.ports import RolloutOutcome
from tests.adapters.conftest import KubeEnv
from tests.adapters.test_cluster_contract import (
    ADMIN_APP,
    ADMIN_CM,
    ADMIN_NS,
    APP,
    CONTAINER,
    REGISTRY,
    TENANT_SELECTOR,
    isp,
    new_side,
    roll,
)


def deployment_path(namespace: str, name: str = APP) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def route_calls(env: KubeEnv) -> dict[tuple[str, str], int]:
    """Requests the API server saw since its counters were reset, by route and verb."""
    routes: dict[str, dict[str, int]] = env.sim.counters()["routes"]
    return {(route, verb): n for route, verbs in routes.items() for verb, n in verbs.items()}


def image_of(env: KubeEnv, namespace: str) -> list[tuple[str, str]]:
    found = env.sim.get("deployments", namespace, APP) or {}
    return [(c["name"], c["image"]) for c in found["spec"]["template"]["spec"]["containers"]]


def behind_the_adapters_back(env: KubeEnv, namespace: str, ops: list[dict[str, Any]]) -> None:
    """Someone else edits the deployment, through a client of their own."""
    other = api_client(kubeconfig_configuration(str(env.sim.kubeconfig)))
    try:
        client.AppsV1Api(other).patch_namespaced_deployment(
            APP, namespace, ops, _content_type="application/json-patch+json"
        )
    finally:
        other.close()  # type: ignore[no-untyped-call]


# --- what each step costs --------------------------------------------------------------------


def test_set_image_is_one_patch(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    assert roll(kube_env, ns, "v1.3.0") is RolloutOutcome.COMPLETE
    assert kube_env.requests(deployment_path(ns), "patch") == 1


def test_set_image_of_a_missing_container_sends_no_patch(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    with pytest.raises(NotFound, match="sidecar"):
        kube_env.cluster.set_image(ns, APP, container="sidecar", image=isp("v1.3.0"))
    assert kube_env.requests(deployment_path(ns), "patch") == 0


def test_health_snapshot_lists_the_pods_once_for_states_probes_and_logs(
    kube_env: KubeEnv,
) -> None:
    ns = kube_env.tenants[0]
    kube_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    kube_env.sim.reset_counters()

    seen = kube_env.cluster.health_snapshot(
        ns, APP, port=3000, paths=("/api/health", "/api/ready"), since_seconds=60
    )

    assert len(seen.pods) == 1 and seen.logs is not None
    assert route_calls(kube_env) == {
        ("/api/v1/namespaces/{namespace}/pods", "list"): 1,
        ("/api/v1/namespaces/{namespace}/pods/{name}/proxy", "get"): 2,
        ("/api/v1/namespaces/{namespace}/pods/{name}/log", "get"): 1,
    }


def test_health_snapshot_asks_its_probes_and_logs_at_once(kube_env: KubeEnv) -> None:
    # Given pods whose every probe and log read takes a second to answer
    ns = kube_env.tenants[0]
    kube_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    kube_env.sim.add_fault(path=r"/(proxy/.*|log)$", action="latency", latency=1.0)

    # When one snapshot asks two paths and the logs (three seconds one after another)
    started = time.monotonic()
    seen = kube_env.cluster.health_snapshot(
        ns, APP, port=3000, paths=("/api/health", "/api/ready"), since_seconds=60
    )
    took = time.monotonic() - started

    # Then it waited about one second, not three, and has every answer
    assert took < 2.5, f"{took:.1f}s: the requests went out one after another"
    assert [a.status for a in seen.answers("/api/health")] == [200]
    assert [a.status for a in seen.answers("/api/ready")] == [200]
    assert seen.logs is not None and seen.logs.http_lines > 0


def test_health_snapshot_without_logs_keeps_pods_and_answers(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    kube_env.sim.add_fault(path=r"/log$", status=500)

    seen = kube_env.cluster.health_snapshot(
        ns, APP, port=3000, paths=("/api/health",), since_seconds=60
    )

    assert seen.logs is None and "read log of" in seen.log_error
    assert [p.ready for p in seen.pods] == [True]
    assert [a.status for a in seen.answers("/api/health")] == [200]
    assert seen.answers("/api/ready") == ()


def test_a_read_deployment_is_patched_and_waited_on_without_reading_it_again(
    kube_env: KubeEnv,
) -> None:
    ns = kube_env.tenants[0]
    kube_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    kube_env.sim.reset_counters()

    generation = kube_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    status = kube_env.cluster.wait_rollout(ns, APP, timeout=10, min_generation=generation)

    assert generation == 2 and status.outcome is RolloutOutcome.COMPLETE
    assert route_calls(kube_env) == {
        ("/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch"): 1,
        ("/apis/apps/v1/namespaces/{namespace}/deployments", "watch"): 1,
    }
    assert image_of(kube_env, ns) == [(CONTAINER, isp("v1.3.0"))]


@pytest.mark.parametrize("change", ["moved", "removed"])
def test_a_container_changed_since_it_was_read_is_never_patched_blindly(
    kube_env: KubeEnv, change: str
) -> None:
    ns = kube_env.tenants[0]
    kube_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    containers = "/spec/template/spec/containers"
    if change == "moved":  # a sidecar now sits where the container was read
        sidecar = {"name": "sidecar", "image": "registry.example/sidecar:1"}
        edit = [{"op": "add", "path": f"{containers}/0", "value": sidecar}]
    else:
        edit = [{"op": "replace", "path": f"{containers}/0/name", "value": "app"}]
    behind_the_adapters_back(kube_env, ns, edit)

    if change == "moved":
        kube_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
        assert image_of(kube_env, ns) == [
            ("sidecar", "registry.example/sidecar:1"),
            (CONTAINER, isp("v1.3.0")),
        ]
    else:
        with pytest.raises(NotFound, match=CONTAINER):
            kube_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
        assert image_of(kube_env, ns) == [("app", isp("v1.2.3"))]


def test_a_wait_after_a_patch_that_changed_nothing_ends_without_a_watch(
    kube_env: KubeEnv,
) -> None:
    ns = kube_env.tenants[0]
    generation = kube_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.2.3"))
    kube_env.sim.reset_counters()

    status = kube_env.cluster.wait_rollout(ns, APP, timeout=10, min_generation=generation)

    assert generation == 1 and status.outcome is RolloutOutcome.COMPLETE
    assert kube_env.sim.counters()["total"] == 0


def test_a_refused_patch_is_not_retried(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    kube_env.sim.deny_access(namespace=ns, verb="patch", resource="deployments")
    with pytest.raises(Forbidden):
        kube_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    assert kube_env.requests(deployment_path(ns), "patch") == 1  # 403 is not retried


# --- undo --------------------------------------------------------------------------------------


def test_undo_restores_the_previous_template_without_its_hash_label(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    assert roll(kube_env, ns, "v1.3.0") is RolloutOutcome.COMPLETE
    kube_env.cluster.undo(ns, APP)
    template = (kube_env.sim.get("deployments", ns, APP) or {})["spec"]["template"]
    assert "pod-template-hash" not in template["metadata"]["labels"]


def test_undo_without_history_sends_no_patch(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    with pytest.raises(NotFound, match="no rollout history"):
        kube_env.cluster.undo(ns, APP)
    assert kube_env.requests(deployment_path(ns), "patch") == 0


def test_undo_rereads_after_a_conflict(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    assert roll(kube_env, ns, "v1.3.0") is RolloutOutcome.COMPLETE
    kube_env.sim.add_fault(path=deployment_path(ns) + "$", method="PATCH", status=409, times=1)
    kube_env.sim.reset_counters()
    generation = kube_env.cluster.undo(ns, APP)
    assert generation == 3  # the template changed once
    assert kube_env.requests(deployment_path(ns), "patch") == 2
    assert kube_env.requests(deployment_path(ns), "get") == 2
    info = kube_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    assert info.image == isp("v1.2.3")


# --- what a blue-green side is made of -------------------------------------------------------


def test_a_new_side_copies_the_template_and_its_config_map(kube_env: KubeEnv) -> None:
    cluster, sim = kube_env.cluster, kube_env.sim
    side = new_side(cluster)

    made = sim.get("deployments", ADMIN_NS, side) or {}
    labels = {"app": ADMIN_APP, "version": "v1.3.0"}
    assert made["metadata"]["labels"] == labels
    assert made["spec"]["selector"]["matchLabels"] == labels
    assert made["spec"]["template"]["metadata"]["labels"] == labels
    (container,) = made["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{REGISTRY}/platform-admin-app:v1.3.0"
    assert container["envFrom"] == [{"configMapRef": {"name": f"{ADMIN_CM}-v1.3.0"}}]
    source = sim.get("configmaps", ADMIN_NS, f"{ADMIN_CM}-v1.2.3") or {}
    assert (sim.get("configmaps", ADMIN_NS, f"{ADMIN_CM}-v1.3.0") or {})["data"] == source["data"]

    cluster.delete_side(ADMIN_NS, deployment=side, config_map=f"{ADMIN_CM}-v1.3.0")
    assert sim.get("configmaps", ADMIN_NS, f"{ADMIN_CM}-v1.3.0") is None


def test_creating_a_side_again_writes_nothing_new(kube_env: KubeEnv) -> None:
    side = new_side(kube_env.cluster)
    kube_env.sim.reset_counters()
    assert new_side(kube_env.cluster) == side
    creates = kube_env.sim.counters()["verbs"].get("create", 0)
    assert creates == 1  # the ConfigMap's AlreadyExists; no second Deployment
    assert kube_env.requests(deployment_path(ADMIN_NS, side), "patch") == 0


# --- injected API faults ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [503, 429])
def test_refused_patches_are_retried_and_applied_once(kube_env: KubeEnv, status: int) -> None:
    ns = kube_env.tenants[0]
    path = deployment_path(ns)
    kube_env.sim.add_fault(path=path + "$", method="PATCH", status=status, times=2)
    generation = kube_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    assert generation == 2
    assert kube_env.requests(path, "patch") == 3
    assert (kube_env.sim.get("deployments", ns, APP) or {})["metadata"]["generation"] == 2


def test_each_retried_call_is_counted_by_what_it_does(kube_env: KubeEnv) -> None:
    # Given an API server that refuses one call of each kind once
    cluster, sim = kube_env.cluster, kube_env.sim
    ns = kube_env.tenants[0]
    with retries.counting() as counted:
        # When the adapter reads, patches, creates, switches, undoes, asks and deletes
        sim.add_fault(path=deployment_path(ns) + "$", method="GET", status=503, times=1)
        cluster.read_deployment(ns, APP, container=CONTAINER)
        sim.add_fault(path=deployment_path(ns) + "$", method="PATCH", status=503, times=1)
        assert roll(kube_env, ns, "v1.3.0") is RolloutOutcome.COMPLETE
        sim.add_fault(path=deployment_path(ns) + "$", method="PATCH", status=503, times=1)
        cluster.undo(ns, APP)
        sim.add_fault(path=r"/selfsubjectaccessreviews$", status=503, times=1)
        assert cluster.can_i(verb="patch", resource="deployments", namespace=ns)
        sim.add_fault(path=r"/configmaps$", method="POST", status=503, times=1)
        side = new_side(cluster)
        sim.add_fault(path=rf"/services/{ADMIN_APP}$", method="PATCH", status=503, times=1)
        cluster.switch_service(ADMIN_NS, ADMIN_APP, version="v1.3.0")
        cluster.switch_service(ADMIN_NS, ADMIN_APP, version="v1.2.3")
        sim.add_fault(path=rf"/deployments/{side}$", method="DELETE", status=503, times=1)
        cluster.delete_side(ADMIN_NS, deployment=side, config_map=f"{ADMIN_CM}-v1.3.0")
    # Then each retry is counted by the kind of call, not by how the call is described
    assert counted() == Retries.of({"read": 2, "patch": 3, "create": 1, "delete": 1})


def test_a_persistent_server_error_ends_after_bounded_retries(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    kube_env.sim.add_fault(path=deployment_path(ns) + "$", method="GET", status=500)
    with pytest.raises(TransientClusterError) as failed:
        kube_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    assert failed.value.status == 500
    assert kube_env.requests(deployment_path(ns), "get") == kube_env.policy.attempts


def test_a_persistent_429_carries_the_retry_after_delay(kube_env: KubeEnv) -> None:
    ns = kube_env.tenants[0]
    kube_env.sim.add_fault(path=deployment_path(ns) + "$", status=429, retry_after=3)
    started = time.monotonic()
    with pytest.raises(TransientClusterError) as failed:
        kube_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    assert failed.value.status == 429 and failed.value.delay == 3.0
    assert time.monotonic() - started < 2.0  # waits are capped by the policy


@pytest.mark.parametrize("fault", [{"action": "drop"}, {"status": 410}, {"status": 503}])
def test_a_failed_watch_is_resumed(kube_env: KubeEnv, fault: dict[str, object]) -> None:
    ns, sim = kube_env.tenants[0], kube_env.sim
    sim.set_behaviour(ns, "*", "unready")  # hold the rollout until the watch was resumed
    sim.add_fault(verb="watch", times=1, **fault)
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(roll, kube_env, ns, "v1.3.0")
        sim.wait_until(lambda: sim.sim.counters.verbs["watch"] >= 2)
        sim.clear_behaviours()
        assert waiting.result(timeout=10) is RolloutOutcome.COMPLETE


def test_a_watch_that_keeps_failing_ends_in_a_transient_error(kube_env: KubeEnv) -> None:
    ns, sim = kube_env.tenants[0], kube_env.sim
    sim.set_behaviour(ns, "*", "unready")
    sim.add_fault(verb="watch", status=500)
    kube_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    with pytest.raises(TransientClusterError):
        kube_env.cluster.wait_rollout(ns, APP, timeout=30)
    assert sim.counters()["verbs"]["watch"] == kube_env.policy.attempts


# --- the adapter's own construction ---------------------------------------------------------


def test_unreachable_api_server_is_transient(unused_tcp_port: int) -> None:
    configuration = client.Configuration(host=f"http://127.0.0.1:{unused_tcp_port}")
    policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02, connect_timeout=1.0)
    with (
        KubeCluster(api_client(configuration), policy=policy) as cluster,
        pytest.raises(TransientClusterError, match="cannot reach the API server"),
    ):
        cluster.list_namespaces(TENANT_SELECTOR)


def test_bad_credentials_are_a_config_error(
    tmp_path: Path, kube_env: KubeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError):
        KubeCluster.from_kubeconfig(str(tmp_path / "missing"))
    with pytest.raises(ConfigError):
        KubeCluster.from_kubeconfig(str(kube_env.sim.kubeconfig), context="elsewhere")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # not inside a pod
    with pytest.raises(ConfigError, match="in-cluster"):
        KubeCluster.in_cluster()
