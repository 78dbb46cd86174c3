"""The ``Cluster`` contract: what the engine may rely on from any cluster implementation.

Every test runs against each entry of ``CLUSTER_IMPLEMENTATIONS``: the real ``KubeCluster``
on the official client, talking HTTP to its own simulated API server, and the in-memory
``FakeCluster`` that the engine's own tests use, so the fake cannot tell those tests
anything the real adapter would not. Happy paths, and each way a rollout can go wrong.
What only the real adapter can show (requests counted on the server, injected API faults,
watches) is in test_kube_cluster.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from rollout.errors import Forbidden, NotFound
from rollout.ports import Cluster, NewSide, PodState, RolloutOutcome
from tests.adapters.conftest import ClusterEnv, MakeEnv

T = TypeVar("T")
APP, CONTAINER = "isp-ops-app", "frontend"
REGISTRY = "123456789.dkr.ecr.us-east-1.amazonaws.com/dotmac"
TENANT_SELECTOR = "app.kubernetes.io/component=tenant"
ADMIN_NS, ADMIN_APP, ADMIN_CM = "platform-admin", "platform-admin-app", "platform-admin-config"


def isp(tag: str) -> str:
    return f"{REGISTRY}/isp-ops-app:{tag}"


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


def image_read(env: ClusterEnv, namespace: str) -> str:
    return env.cluster.read_deployment(namespace, APP, container=CONTAINER).image


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


def test_deployments_named_lists_every_tenant_at_once(cluster_env: ClusterEnv) -> None:
    cluster = cluster_env.cluster
    listed = cluster.deployments_named(APP, container=CONTAINER)
    assert listed is not None
    assert set(cluster_env.tenants) <= set(listed)
    for ns in cluster_env.tenants:
        assert listed[ns] == cluster.read_deployment(ns, APP, container=CONTAINER)
    assert cluster.deployments_named("nothing", container=CONTAINER) == {}


def test_deployments_named_is_none_without_a_cluster_wide_grant(cluster_env: ClusterEnv) -> None:
    # Given rollbot may not list deployments in one tenant's namespace
    cluster_env.world.deny_access(
        namespace=cluster_env.tenants[0], verb="list", resource="deployments"
    )
    # Then it may not list them in every namespace, and is told to read them one by one
    assert cluster_env.cluster.deployments_named(APP, container=CONTAINER) is None


def test_read_deployment_without_a_container_name_reads_the_first(
    cluster_env: ClusterEnv,
) -> None:
    # a helm app may name no container: its chart decides, and the first one is the app
    info = cluster_env.cluster.read_deployment(cluster_env.tenants[0], APP, container="")
    assert (info.image, info.containers) == (isp("v1.2.3"), (CONTAINER,))


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


def test_set_image_rolls_out_a_new_generation(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    generation = cluster_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    assert generation == 2
    status = cluster_env.cluster.wait_rollout(ns, APP, timeout=10, min_generation=generation)
    assert status.outcome is RolloutOutcome.COMPLETE
    assert status.message == f'deployment "{APP}" successfully rolled out'
    info = cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    assert (info.image, info.revision, info.observed_generation) == (isp("v1.3.0"), 2, 2)
    assert [p.ready for p in cluster_env.cluster.pods(ns, APP)] == [True]


def test_set_image_of_a_missing_container_changes_nothing(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    with pytest.raises(NotFound, match="sidecar"):
        cluster_env.cluster.set_image(ns, APP, container="sidecar", image=isp("v1.3.0"))
    info = cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    assert (info.image, info.generation) == (isp("v1.2.3"), 1)


def test_a_patch_that_changes_nothing_keeps_the_generation_and_its_wait_ends(
    cluster_env: ClusterEnv,
) -> None:
    ns = cluster_env.tenants[0]
    generation = cluster_env.cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.2.3"))
    status = cluster_env.cluster.wait_rollout(ns, APP, timeout=10, min_generation=generation)
    assert generation == 1 and status.outcome is RolloutOutcome.COMPLETE


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
    cluster_env.world.set_behaviour(ns, "*", "errors", error_rate=0.1)
    stats = cluster_env.cluster.log_stats(ns, APP, since_seconds=30)
    assert (stats.http_lines, stats.error_lines) == (100, 10)


def test_health_snapshot_holds_pod_states_probe_answers_and_logs(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]

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


def test_health_snapshot_of_a_missing_deployment_is_not_found(cluster_env: ClusterEnv) -> None:
    with pytest.raises(NotFound):
        cluster_env.cluster.health_snapshot(
            cluster_env.tenants[0], "nothing", port=3000, paths=("/api/health",), since_seconds=60
        )


# --- access and undo -------------------------------------------------------------------------


def test_access_review_and_refusal(cluster_env: ClusterEnv) -> None:
    denied, allowed = cluster_env.tenants[:2]
    cluster = cluster_env.cluster
    assert cluster.can_i(verb="patch", resource="deployments", namespace=denied)
    cluster_env.world.deny_access(namespace=denied, verb="patch", resource="deployments")
    assert not cluster.can_i(verb="patch", resource="deployments", namespace=denied)
    assert cluster.can_i(verb="patch", resource="deployments", namespace=allowed)
    # One namespace denied: not allowed everywhere, which is what namespace "" asks.
    assert not cluster.can_i(verb="patch", resource="deployments", namespace="")
    assert cluster.can_i(verb="get", resource="deployments", namespace="")
    with pytest.raises(Forbidden) as refused:
        cluster.set_image(denied, APP, container=CONTAINER, image=isp("v1.3.0"))
    assert refused.value.status == 403
    assert image_read(cluster_env, denied) == isp("v1.2.3")


def test_undo_returns_to_the_previous_revision(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    assert roll(cluster_env, ns, "v1.3.0") is RolloutOutcome.COMPLETE
    generation = cluster_env.cluster.undo(ns, APP)
    assert generation == 3
    status = cluster_env.cluster.wait_rollout(ns, APP, timeout=10, min_generation=generation)
    assert status.outcome is RolloutOutcome.COMPLETE
    info = cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER)
    assert (info.image, info.revision) == (isp("v1.2.3"), 3)


def test_undo_without_history_is_not_found(cluster_env: ClusterEnv) -> None:
    ns = cluster_env.tenants[0]
    with pytest.raises(NotFound, match="no rollout history"):
        cluster_env.cluster.undo(ns, APP)
    assert cluster_env.cluster.read_deployment(ns, APP, container=CONTAINER).generation == 1


# --- blue-green ------------------------------------------------------------------------------


def new_side(cluster: Cluster, version: str = "v1.3.0") -> str:
    """Create the side of `version` next to the live one; returns its deployment's name."""
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
    cluster.create_side(ADMIN_NS, side)
    return name


def sides(cluster: Cluster) -> tuple[str | None, dict[str, str]]:
    """The live version, and every side's deployment by version."""
    bg = cluster.blue_green_state(ADMIN_NS, service=ADMIN_APP, app_label=ADMIN_APP)
    return bg.live_version, dict(bg.sides)


def test_blue_green_side_switch_and_removal(cluster_env: ClusterEnv) -> None:
    cluster = cluster_env.cluster
    assert sides(cluster) == ("v1.2.3", {"v1.2.3": ADMIN_APP})
    side = new_side(cluster)
    assert cluster.wait_rollout(ADMIN_NS, side, timeout=10).outcome is RolloutOutcome.COMPLETE
    assert sides(cluster) == ("v1.2.3", {"v1.2.3": ADMIN_APP, "v1.3.0": side})
    made = cluster.read_deployment(ADMIN_NS, side, container=CONTAINER)
    assert made.image == f"{REGISTRY}/platform-admin-app:v1.3.0"
    assert made.labels == {"app": ADMIN_APP, "version": "v1.3.0"}
    (health,) = cluster.probe(ADMIN_NS, side, port=3000, path="/api/health")
    assert health.body == {"status": "ok", "version": "v1.3.0"}

    cluster.switch_service(ADMIN_NS, ADMIN_APP, version="v1.3.0")
    assert sides(cluster)[0] == "v1.3.0"
    cluster.switch_service(ADMIN_NS, ADMIN_APP, version="v1.2.3")
    cluster.delete_side(ADMIN_NS, deployment=side, config_map=f"{ADMIN_CM}-v1.3.0")
    assert sides(cluster) == ("v1.2.3", {"v1.2.3": ADMIN_APP})
    cluster.delete_side(ADMIN_NS, deployment=side, config_map=f"{ADMIN_CM}-v1.3.0")  # gone: fine


def test_create_side_is_idempotent(cluster_env: ClusterEnv) -> None:
    cluster = cluster_env.cluster
    side = new_side(cluster)
    before = cluster.read_deployment(ADMIN_NS, side, container=CONTAINER)
    assert new_side(cluster) == side
    assert sides(cluster) == ("v1.2.3", {"v1.2.3": ADMIN_APP, "v1.3.0": side})
    after = cluster.read_deployment(ADMIN_NS, side, container=CONTAINER)
    assert (after.image, after.generation) == (before.image, before.generation)
