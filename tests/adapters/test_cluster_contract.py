"""The ``Cluster`` contract: what the engine may rely on from any cluster implementation.

Every test runs against each entry of ``CLUSTER_IMPLEMENTATIONS`` (today the real
``KubeCluster`` on the official client), talking HTTP to its own simulated API server:
happy paths, each way a rollout can go wrong, and injected API faults (counted on the
server, so "retried and applied exactly once" is checked where it happens).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client

from bot.kube import KubeCluster, RetryPolicy
from bot.kube.client import api_client, kubeconfig_configuration
from rollout import retries
from rollout.errors import ConfigError, Forbidden, NotFound, TransientClusterError
from rollout.model import Retries
from rollout.ports import NewSide, PodState, RolloutOutcome
from tests.adapters.conftest import ClusterEnv, MakeEnv

T = TypeVar("T")
APP, CONTAINER = "isp-ops-app", "frontend"
REGISTRY = "123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac"
TENANT_SELECTOR = "app.kubernetes.io/component=tenant"
ADMIN_NS, ADMIN_APP, ADMIN_CM = "platform-admin", "platform-admin-app", "platform-admin-config"


def isp(tag: str) -> str:
    return f"{REGISTRY}/isp-ops-app:{tag}"


def deployment_path(namespace: str, name: str = APP) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def eventually(check: Callable[[], T | None], *, timeout: float = 5.0) -> T:
    """Poll ``check`` until it returns something truthy (pods restart on their own time)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.02)


def roll(env: ClusterEnv, namespace: str, tag: str, *, timeout: float = 10.0) -> RolloutOutcome:
    generation = env.cluster.set_image(namespace, APP, container=CONTAINER, image=isp(tag))
    status = env.cluster.wait_rollout(namespace, APP, timeout=timeout, min_generation=generation)
    return status.outcome


# --- namespaces and deployments ------------------------------------------------------------


def test_tenant_namespaces_are_listed_by_selector_in_name_order(cluster_env: ClusterEnv) -> None:
    assert cluster_env.cluster.list_namespaces(TENANT_SELECTOR) == sorted(cluster_env.tenants)
    assert cluster_env.cluster.list_namespaces("app.kubernetes.io/component=nothing") == []
    known = cluster_env.tenants[0]
    assert cluster_env.cluster.namespaces_exist([known, "tenant-nobody"]) == {
        known: True,
        "tenant-nobody": False,
    }


def test_read_deployment_reports_image_revision_and_replicas(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    info = cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    assert (info.namespace, info.name, info.image) == (ns, APP, isp("v1.2.3"))
    assert info.containers == (CONTAINER,)
    assert info.revision == 1 and info.generation == info.observed_generation == 1
    assert info.replicas == info.updated_replicas == info.available_replicas == 1
    assert info.labels["app"] == APP
    other = cluster_env.cluster.read_deployment(ns, APP, container="sidecar")
    assert other.image == "" and other.containers == (CONTAINER,)


@pytest.mark.parametrize("where", [("tenant-nobody", APP), ("tenant-fast-fiber", "nothing")])
def test_unknown_namespace_or_deployment_is_not_found(
    cluster_env: ClusterEnv, where: tuple[str, str]
) -> None:
    ns, name = where
    cluster = cluster_env.cluster
    with pytest.raises(NotFound):
        cluster.read_deployment(ns, name, container=CONTAINER)
    with pytest.raises(NotFound):
        cluster.set_image(ns, name, container=CONTAINER, image=isp("v1.3.0"))
    with pytest.raises(NotFound):
        cluster.wait_rollout(ns, name, timeout=1.0)
    with pytest.raises(NotFound):
        cluster.pods(ns, name)


def test_set_image_rolls_out_with_one_patch(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    generation = cluster_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    assert generation == 2
    status = cluster_env.cluster.wait_rollout(ns, APP, timeout=10, min_generation=generation)
    assert status.outcome is RolloutOutcome.COMPLETE
    assert status.message == f'deployment "{APP}" successfully rolled out'
    info = cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    assert (info.image, info.revision, info.observed_generation) == (isp("v1.3.0"), 2, 2)
    assert cluster_env.requests(deployment_path(ns), "patch") == 1
    assert [p.ready for p in cluster_env.cluster.pods(ns, APP)] == [True]


def test_set_image_of_a_missing_container_changes_nothing(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    with pytest.raises(NotFound, match="sidecar"):
        cluster_env.cluster.set_image(ns, APP, container="sidecar", image=isp("v1.3.0"))
    assert cluster_env.requests(deployment_path(ns), "patch") == 0


def test_concurrent_updates_from_worker_threads(make_cluster_env: MakeEnv) -> None:
    env = make_cluster_env(tenants=8)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda ns: roll(env, ns, "v1.3.0"), env.tenants))
    assert outcomes == [RolloutOutcome.COMPLETE] * 8


# --- rollouts that go wrong -----------------------------------------------------------------


def test_crash_looping_image_exceeds_the_progress_deadline(make_cluster_env: MakeEnv) -> None:
    env = make_cluster_env(deadline_scale=0.001)  # progressDeadlineSeconds 600 -> 0.6 s
    ns = env.tenants[0]
    assert roll(env, ns, "v1.3.0-crash") is RolloutOutcome.DEADLINE_EXCEEDED
    status = env.cluster.wait_rollout(ns, APP, timeout=5)
    assert status.message == f'deployment "{APP}" exceeded its progress deadline'

    def crashing() -> list[PodState]:
        return [p for p in env.cluster.pods(ns, APP) if p.reason == "CrashLoopBackOff"]

    pod = eventually(crashing)[0]
    assert not pod.ready and pod.restarts >= 1


def test_unready_pods_time_out_with_a_rollout_status_line(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    started = time.monotonic()
    generation = cluster_env.cluster.set_image(
        ns, APP, container=CONTAINER, image=isp("v1.3.0-unready")
    )
    status = cluster_env.cluster.wait_rollout(ns, APP, timeout=0.5, min_generation=generation)
    assert status.outcome is RolloutOutcome.TIMED_OUT
    assert status.message.startswith("timed out after 0.5s: ")
    assert f'Waiting for deployment "{APP}" rollout to finish: ' in status.message
    assert time.monotonic() - started < 3.0  # not held until the server ends its watch
    new = [p for p in cluster_env.cluster.pods(ns, APP) if not p.ready]
    assert new and new[0].phase == "Running"


def test_probes_report_health_and_readiness_answers(cluster_env: ClusterEnv) -> None:
    healthy, sick, unready = cluster_env.tenants
    (ok,) = cluster_env.cluster.probe(healthy, APP, port=3000, path="/api/health")
    assert (ok.status, ok.body, ok.error) == (200, {"status": "ok", "version": "v1.2.3"}, "")
    assert ok.latency_ms > 0 and ok.path == "/api/health"
    (ready,) = cluster_env.cluster.probe(healthy, APP, port=3000, path="/api/ready")
    assert (ready.status, ready.body) == (200, {"ready": True})

    assert roll(cluster_env, sick, "v1.3.0-unhealthy") is RolloutOutcome.COMPLETE
    (bad,) = cluster_env.cluster.probe(sick, APP, port=3000, path="/api/health")
    assert bad.status == 500 and bad.body is not None and bad.body["status"] == "error"
    assert bad.error == "HTTP 500"

    cluster_env.cluster.set_image(unready, APP, container=CONTAINER, image=isp("v1.3.0-unready"))

    def started_unready() -> list[PodState]:
        return [
            p
            for p in cluster_env.cluster.pods(unready, APP)
            if p.phase == "Running" and not p.ready
        ]

    eventually(started_unready)
    answers = cluster_env.cluster.probe(unready, APP, port=3000, path="/api/ready")
    assert {(a.status, str(a.body)) for a in answers if a.status != 200} == {
        (503, str({"ready": False}))
    }


def test_probe_of_a_crashing_pod_is_a_result_not_an_exception(make_cluster_env: MakeEnv) -> None:
    env = make_cluster_env(deadline_scale=0.001)
    ns = env.tenants[0]
    assert roll(env, ns, "v1.3.0-crash") is RolloutOutcome.DEADLINE_EXCEEDED
    results = env.cluster.probe(ns, APP, port=3000, path="/api/health")
    assert any(r.status == 503 and r.error for r in results)


@pytest.mark.parametrize("tag, share", [("v1.3.0", 0.0), ("v1.3.0-errors20", 0.2)])
def test_log_stats_match_the_configured_error_share(
    cluster_env: ClusterEnv, tag: str, share: float
) -> None:
    ns = cluster_env.tenants[0]
    assert roll(cluster_env, ns, tag) is RolloutOutcome.COMPLETE
    stats = cluster_env.cluster.log_stats(ns, APP, since_seconds=60)
    assert stats.http_lines == 100
    assert stats.error_lines / stats.http_lines == pytest.approx(share)
    assert stats.mean_latency_ms is not None and stats.mean_latency_ms > 0


def test_log_stats_follow_a_behaviour_set_at_run_time(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[1]
    cluster_env.sim.set_behaviour(ns, "*", "errors", error_rate=0.1)
    stats = cluster_env.cluster.log_stats(ns, APP, since_seconds=30)
    assert (stats.http_lines, stats.error_lines) == (100, 10)


def test_health_snapshot_lists_the_pods_once_for_states_probes_and_logs(
    cluster_env: ClusterEnv,
) -> None:
    ns = cluster_env.tenants[0]
    cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    cluster_env.sim.reset_counters()

    seen = cluster_env.cluster.health_snapshot(
        ns, APP, port=3000, paths=("/api/health", "/api/ready"), since_seconds=60
    )

    (pod,) = seen.pods
    assert pod.phase == "Running" and pod.ready
    (health,) = seen.answers("/api/health")
    assert (health.pod, health.status) == (pod.name, 200)
    assert health.body == {"status": "ok", "version": "v1.2.3"}
    (ready,) = seen.answers("/api/ready")
    assert (ready.status, ready.body) == (200, {"ready": True})
    assert seen.logs is not None and seen.logs.http_lines == 100 and seen.log_error == ""
    assert route_calls(cluster_env) == {
        ("/api/v1/namespaces/{namespace}/pods", "list"): 1,
        ("/api/v1/namespaces/{namespace}/pods/{name}/proxy", "get"): 2,
        ("/api/v1/namespaces/{namespace}/pods/{name}/log", "get"): 1,
    }


def test_health_snapshot_without_logs_keeps_pods_and_answers(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    cluster_env.sim.add_fault(path=r"/log$", status=500)

    seen = cluster_env.cluster.health_snapshot(
        ns, APP, port=3000, paths=("/api/health",), since_seconds=60
    )

    assert seen.logs is None and "read log of" in seen.log_error
    assert [p.ready for p in seen.pods] == [True]
    assert [a.status for a in seen.answers("/api/health")] == [200]
    assert seen.answers("/api/ready") == ()


def test_health_snapshot_of_a_missing_deployment_is_not_found(cluster_env: ClusterEnv) -> None:
    with pytest.raises(NotFound):
        cluster_env.cluster.health_snapshot(
            cluster_env.tenants[0], "nothing", port=3000, paths=("/api/health",), since_seconds=60
        )


def test_a_read_deployment_is_patched_and_waited_on_without_reading_it_again(
    cluster_env: ClusterEnv,
) -> None:
    ns = cluster_env.tenants[0]
    cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    cluster_env.sim.reset_counters()

    generation = cluster_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    status = cluster_env.cluster.wait_rollout(ns, APP, timeout=10, min_generation=generation)

    assert generation == 2 and status.outcome is RolloutOutcome.COMPLETE
    assert route_calls(cluster_env) == {
        ("/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch"): 1,
        ("/apis/apps/v1/namespaces/{namespace}/deployments", "watch"): 1,
    }
    assert image_of(cluster_env, ns) == [(CONTAINER, isp("v1.3.0"))]


@pytest.mark.parametrize("change", ["moved", "removed"])
def test_a_container_changed_since_it_was_read_is_never_patched_blindly(
    cluster_env: ClusterEnv, change: str
) -> None:
    ns = cluster_env.tenants[0]
    cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    containers = "/spec/template/spec/containers"
    if change == "moved":  # a sidecar now sits where the container was read
        sidecar = {"name": "sidecar", "image": "registry.example/sidecar:1"}
        edit = [{"op": "add", "path": f"{containers}/0", "value": sidecar}]
    else:
        edit = [{"op": "replace", "path": f"{containers}/0/name", "value": "app"}]
    behind_the_adapters_back(cluster_env, ns, edit)

    if change == "moved":
        cluster_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
        assert image_of(cluster_env, ns) == [
            ("sidecar", "registry.example/sidecar:1"),
            (CONTAINER, isp("v1.3.0")),
        ]
    else:
        with pytest.raises(NotFound, match=CONTAINER):
            cluster_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
        assert image_of(cluster_env, ns) == [("app", isp("v1.2.3"))]


def test_a_wait_after_a_patch_that_changed_nothing_ends_without_a_watch(
    cluster_env: ClusterEnv,
) -> None:
    ns = cluster_env.tenants[0]
    generation = cluster_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.2.3"))
    cluster_env.sim.reset_counters()

    status = cluster_env.cluster.wait_rollout(ns, APP, timeout=10, min_generation=generation)

    assert generation == 1 and status.outcome is RolloutOutcome.COMPLETE
    assert cluster_env.sim.counters()["total"] == 0


def route_calls(env: ClusterEnv) -> dict[tuple[str, str], int]:
    """Requests the API server saw since its counters were reset, by route and verb."""
    routes: dict[str, dict[str, int]] = env.sim.counters()["routes"]
    return {(route, verb): n for route, verbs in routes.items() for verb, n in verbs.items()}


def image_of(env: ClusterEnv, namespace: str) -> list[tuple[str, str]]:
    found = env.sim.get("deployments", namespace, APP) or {}
    return [(c["name"], c["image"]) for c in found["spec"]["template"]["spec"]["containers"]]


def behind_the_adapters_back(env: ClusterEnv, namespace: str, ops: list[dict[str, Any]]) -> None:
    """Someone else edits the deployment, through a client of their own."""
    other = api_client(kubeconfig_configuration(str(env.sim.kubeconfig)))
    try:
        client.AppsV1Api(other).patch_namespaced_deployment(
            APP, namespace, ops, _content_type="application/json-patch+json"
        )
    finally:
        other.close()  # type: ignore[no-untyped-call]


# --- access ----------------------------------------------------------------------------------


def test_access_review_and_refusal(cluster_env: ClusterEnv) -> None:
    denied, allowed = cluster_env.tenants[:2]
    cluster = cluster_env.cluster
    assert cluster.can_i(verb="patch", resource="deployments", namespace=denied)
    cluster_env.sim.deny_access(namespace=denied, verb="patch", resource="deployments")
    assert not cluster.can_i(verb="patch", resource="deployments", namespace=denied)
    assert cluster.can_i(verb="patch", resource="deployments", namespace=allowed)
    # One namespace denied: not allowed everywhere, which is what namespace "" asks.
    assert not cluster.can_i(verb="patch", resource="deployments", namespace="")
    assert cluster.can_i(verb="get", resource="deployments", namespace="")
    with pytest.raises(Forbidden) as refused:
        cluster.set_image(denied, APP, container=CONTAINER, image=isp("v1.3.0"))
    assert refused.value.status == 403
    assert cluster_env.requests(deployment_path(denied), "patch") == 1  # 403 is not retried


# --- undo ------------------------------------------------------------------------------------


def test_undo_returns_to_the_previous_revision(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    assert roll(cluster_env, ns, "v1.3.0") is RolloutOutcome.COMPLETE
    generation = cluster_env.cluster.undo(ns, APP)
    assert generation == 3
    status = cluster_env.cluster.wait_rollout(ns, APP, timeout=10, min_generation=generation)
    assert status.outcome is RolloutOutcome.COMPLETE
    info = cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    assert (info.image, info.revision) == (isp("v1.2.3"), 3)
    template = (cluster_env.sim.get("deployments", ns, APP) or {})["spec"]["template"]
    assert "pod-template-hash" not in template["metadata"]["labels"]


def test_undo_without_history_is_not_found(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    with pytest.raises(NotFound, match="no rollout history"):
        cluster_env.cluster.undo(ns, APP)
    assert cluster_env.requests(deployment_path(ns), "patch") == 0


def test_undo_rereads_after_a_conflict(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    assert roll(cluster_env, ns, "v1.3.0") is RolloutOutcome.COMPLETE
    cluster_env.sim.add_fault(path=deployment_path(ns) + "$", method="PATCH", status=409, times=1)
    cluster_env.sim.reset_counters()
    generation = cluster_env.cluster.undo(ns, APP)
    assert generation == 3  # the template changed once
    assert cluster_env.requests(deployment_path(ns), "patch") == 2
    assert cluster_env.requests(deployment_path(ns), "get") == 2
    info = cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    assert info.image == isp("v1.2.3")


# --- blue-green ------------------------------------------------------------------------------


def _side(env: ClusterEnv, version: str = "v1.3.0") -> str:
    name = f"{ADMIN_APP}-{version.replace('.', '-')}"
    side = NewSide(
        template_deployment=ADMIN_APP,
        name=name,
        version=version,
        image=f"{REGISTRY}/platform-admin-app:{version}",
        container=CONTAINER,
        config_map=f"{ADMIN_CM}-{version}",
        config_map_source=f"{ADMIN_CM}-v1.2.3",
    )
    env.cluster.create_side(ADMIN_NS, side)
    return name


def test_blue_green_side_switch_and_removal(cluster_env: ClusterEnv) -> None:
    cluster, sim = cluster_env.cluster, cluster_env.sim

    def state() -> tuple[str | None, dict[str, str]]:
        bg = cluster.blue_green_state(ADMIN_NS, service=ADMIN_APP, app_label=ADMIN_APP)
        return bg.live_version, dict(bg.sides)

    assert state() == ("v1.2.3", {"v1.2.3": ADMIN_APP})
    side = _side(cluster_env)
    assert cluster.wait_rollout(ADMIN_NS, side, timeout=10).outcome is RolloutOutcome.COMPLETE
    assert state() == ("v1.2.3", {"v1.2.3": ADMIN_APP, "v1.3.0": side})

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
    (health,) = cluster.probe(ADMIN_NS, side, port=3000, path="/api/health")
    assert health.body == {"status": "ok", "version": "v1.3.0"}

    cluster.switch_service(ADMIN_NS, ADMIN_APP, version="v1.3.0")
    assert state()[0] == "v1.3.0"
    cluster.switch_service(ADMIN_NS, ADMIN_APP, version="v1.2.3")
    cluster.delete_side(ADMIN_NS, deployment=side, config_map=f"{ADMIN_CM}-v1.3.0")
    assert state() == ("v1.2.3", {"v1.2.3": ADMIN_APP})
    assert sim.get("configmaps", ADMIN_NS, f"{ADMIN_CM}-v1.3.0") is None
    cluster.delete_side(ADMIN_NS, deployment=side, config_map=f"{ADMIN_CM}-v1.3.0")  # gone: fine


def test_create_side_is_idempotent(cluster_env: ClusterEnv) -> None:
    side = _side(cluster_env)
    cluster_env.sim.reset_counters()
    assert _side(cluster_env) == side
    creates = cluster_env.sim.counters()["verbs"].get("create", 0)
    assert creates == 1  # the ConfigMap's AlreadyExists; no second Deployment
    assert cluster_env.requests(deployment_path(ADMIN_NS, side), "patch") == 0


# --- injected API faults ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [503, 429])
def test_refused_patches_are_retried_and_applied_once(cluster_env: ClusterEnv, status: int) -> None:
    ns = cluster_env.tenants[0]
    path = deployment_path(ns)
    cluster_env.sim.add_fault(path=path + "$", method="PATCH", status=status, times=2)
    generation = cluster_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    assert generation == 2
    assert cluster_env.requests(path, "patch") == 3
    assert (cluster_env.sim.get("deployments", ns, APP) or {})["metadata"]["generation"] == 2


def test_each_retried_call_is_counted_by_what_it_does(cluster_env: ClusterEnv) -> None:
    # Given an API server that refuses one call of each kind once
    cluster, sim = cluster_env.cluster, cluster_env.sim
    ns = cluster_env.tenants[0]
    with retries.counting() as counted:
        # When the adapter reads, patches, creates, switches, undoes, asks and deletes
        sim.add_fault(path=deployment_path(ns) + "$", method="GET", status=503, times=1)
        cluster.read_deployment(ns, APP, container=CONTAINER)
        sim.add_fault(path=deployment_path(ns) + "$", method="PATCH", status=503, times=1)
        assert roll(cluster_env, ns, "v1.3.0") is RolloutOutcome.COMPLETE
        sim.add_fault(path=deployment_path(ns) + "$", method="PATCH", status=503, times=1)
        cluster.undo(ns, APP)
        sim.add_fault(path=r"/selfsubjectaccessreviews$", status=503, times=1)
        assert cluster.can_i(verb="patch", resource="deployments", namespace=ns)
        sim.add_fault(path=r"/configmaps$", method="POST", status=503, times=1)
        side = _side(cluster_env)
        sim.add_fault(path=rf"/services/{ADMIN_APP}$", method="PATCH", status=503, times=1)
        cluster.switch_service(ADMIN_NS, ADMIN_APP, version="v1.3.0")
        cluster.switch_service(ADMIN_NS, ADMIN_APP, version="v1.2.3")
        sim.add_fault(path=rf"/deployments/{side}$", method="DELETE", status=503, times=1)
        cluster.delete_side(ADMIN_NS, deployment=side, config_map=f"{ADMIN_CM}-v1.3.0")
    # Then each retry is counted by the kind of call, not by how the call is described
    assert counted() == Retries.of({"read": 2, "patch": 3, "create": 1, "delete": 1})


def test_a_persistent_server_error_ends_after_bounded_retries(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    cluster_env.sim.add_fault(path=deployment_path(ns) + "$", method="GET", status=500)
    with pytest.raises(TransientClusterError) as failed:
        cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    assert failed.value.status == 500
    assert cluster_env.requests(deployment_path(ns), "get") == cluster_env.policy.attempts


def test_a_persistent_429_carries_the_retry_after_delay(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    cluster_env.sim.add_fault(path=deployment_path(ns) + "$", status=429, retry_after=3)
    started = time.monotonic()
    with pytest.raises(TransientClusterError) as failed:
        cluster_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    assert failed.value.status == 429 and failed.value.delay == 3.0
    assert time.monotonic() - started < 2.0  # waits are capped by the policy


@pytest.mark.parametrize("fault", [{"action": "drop"}, {"status": 410}, {"status": 503}])
def test_a_failed_watch_is_resumed(cluster_env: ClusterEnv, fault: dict[str, object]) -> None:
    ns, sim = cluster_env.tenants[0], cluster_env.sim
    sim.set_behaviour(ns, "*", "unready")  # hold the rollout until the watch was resumed
    sim.add_fault(verb="watch", times=1, **fault)
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(roll, cluster_env, ns, "v1.3.0")
        sim.wait_until(lambda: sim.sim.counters.verbs["watch"] >= 2)
        sim.clear_behaviours()
        assert waiting.result(timeout=10) is RolloutOutcome.COMPLETE


def test_a_watch_that_keeps_failing_ends_in_a_transient_error(cluster_env: ClusterEnv) -> None:
    ns, sim = cluster_env.tenants[0], cluster_env.sim
    sim.set_behaviour(ns, "*", "unready")
    sim.add_fault(verb="watch", status=500)
    cluster_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    with pytest.raises(TransientClusterError):
        cluster_env.cluster.wait_rollout(ns, APP, timeout=30)
    assert sim.counters()["verbs"]["watch"] == cluster_env.policy.attempts


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
    tmp_path: Path, cluster_env: ClusterEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError):
        KubeCluster.from_kubeconfig(str(tmp_path / "missing"))
    with pytest.raises(ConfigError):
        KubeCluster.from_kubeconfig(str(cluster_env.sim.kubeconfig), context="elsewhere")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # not inside a pod
    with pytest.raises(ConfigError, match="in-cluster"):
        KubeCluster.in_cluster()
