"""The shared views: in a large batch, tenants read their pods and follow their
deployments through one watch of each.

Each test runs the real adapter against its own simulated API server, with the view's
threshold lowered to a few namespaces so that a handful of tenants make a large batch.
The answers are compared with those of an adapter that lists every namespace on its own,
and the requests are counted on the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes import client

from bot.kube import KubeCluster
from bot.kube.client import api_client, kubeconfig_configuration
from bot.kube.deployments import annotations_of, pod_state
from bot.kube.pod_view import DEFAULT_CONTAINER, slim_pod
from rollout.errors import NotFound
from rollout.ports import HealthSnapshot, RolloutOutcome
from tests.adapters.conftest import FAST_RETRIES, KubeEnv, MakeKubeEnv
from tests.adapters.test_cluster_contract import APP, CONTAINER, isp

CLUSTER_PODS = "/api/v1/pods"
DEPLOYMENTS = "/apis/apps/v1/deployments"
BATCH = 6
PATHS = ("/api/health", "/api/ready")


def adapter(env: KubeEnv, *, shared_views_from: int) -> KubeCluster:
    configuration = kubeconfig_configuration(str(env.sim.kubeconfig))
    return KubeCluster(
        api_client(configuration), policy=FAST_RETRIES, shared_views_from=shared_views_from
    )


@pytest.fixture
def batch_env(make_kube_env: MakeKubeEnv) -> Iterator[tuple[KubeEnv, KubeCluster]]:
    """A sim with a batch of tenants, and an adapter that shares a view from 3 namespaces."""
    env = make_kube_env(tenants=BATCH, ready_delay=0.05)
    cluster = adapter(env, shared_views_from=3)
    yield env, cluster
    cluster.close()


def update_and_check(cluster: KubeCluster, namespace: str, tag: str) -> HealthSnapshot:
    """What the engine does for one tenant: baseline, patch, wait, health snapshot."""
    cluster.log_stats(namespace, APP, since_seconds=60)
    generation = cluster.set_image(namespace, APP, container=CONTAINER, image=isp(tag))
    status = cluster.wait_rollout(namespace, APP, timeout=10, min_generation=generation)
    assert status.outcome is RolloutOutcome.COMPLETE
    return cluster.health_snapshot(namespace, APP, port=3000, paths=PATHS, since_seconds=60)


def update_batch(cluster: KubeCluster, namespaces: list[str]) -> dict[str, HealthSnapshot]:
    cluster.deployments_named(APP, container=CONTAINER)  # as the preflight reads them
    with ThreadPoolExecutor(len(namespaces)) as pool:
        snapshots = pool.map(lambda ns: update_and_check(cluster, ns, "v1.3.0"), namespaces)
        return dict(zip(namespaces, snapshots, strict=True))


def essentials(seen: HealthSnapshot) -> tuple[object, ...]:
    """What the health verdict reads, without the latencies that differ on every read."""
    answers = tuple((a.pod, a.path, a.status, a.body) for p in PATHS for a in seen.answers(p))
    return seen.pods, answers, seen.logs


def pod_lists(env: KubeEnv, namespaces: list[str]) -> int:
    return sum(env.requests(f"/api/v1/namespaces/{ns}/pods", "list") for ns in namespaces)


def test_a_batch_reads_the_pods_it_checks_from_one_shared_watch(
    batch_env: tuple[KubeEnv, KubeCluster],
) -> None:
    # Given a batch of tenants, more than the view's threshold
    env, cluster = batch_env
    env.sim.reset_counters()
    # When each is updated and checked at once, as the engine's batch does
    snapshots = update_batch(cluster, env.tenants)
    # Then every check saw its new pod only (the old one is gone by the time the wait ends)
    for ns, seen in snapshots.items():
        live = sorted(p["metadata"]["name"] for p in env.sim.list("pods", ns))
        assert [p.name for p in seen.pods] == live, ns
        assert all(a.status == 200 for p in PATHS for a in seen.answers(p)), ns
    # And the pods came from one list and one watch across namespaces, not a list each
    assert env.requests(CLUSTER_PODS, "list") == 1
    assert env.requests(CLUSTER_PODS, "watch") == 1
    assert pod_lists(env, env.tenants) < 2 * BATCH


def test_the_shared_view_answers_as_a_list_of_each_namespace_would(
    batch_env: tuple[KubeEnv, KubeCluster],
) -> None:
    # Given a batch checked through the shared view
    env, cluster = batch_env
    shared = update_batch(cluster, env.tenants)
    # When an adapter that lists each namespace looks at the same pods
    alone = adapter(env, shared_views_from=0)
    try:
        alone.deployments_named(APP, container=CONTAINER)
        listed = {
            ns: alone.health_snapshot(ns, APP, port=3000, paths=PATHS, since_seconds=60)
            for ns in env.tenants
        }
        # Then both saw the same pods, states, answers and log counts
        assert {ns: essentials(s) for ns, s in shared.items()} == {
            ns: essentials(s) for ns, s in listed.items()
        }
        assert [p.name for p in cluster.pods(env.tenants[0], APP)] == [
            p.name for p in alone.pods(env.tenants[0], APP)
        ]
    finally:
        alone.close()


def test_pods_of_another_rollouts_namespace_are_not_a_tenants_pods(
    batch_env: tuple[KubeEnv, KubeCluster],
) -> None:
    # Given a batch checked through the shared view, beside a namespace of the same app
    # that another rollout changes meanwhile
    env, cluster = batch_env
    ours, theirs = env.tenants[:-1], env.tenants[-1]
    other = adapter(env, shared_views_from=0)
    try:
        with ThreadPoolExecutor(1) as pool:
            elsewhere = pool.submit(update_and_check, other, theirs, "v1.4.0")
            snapshots = update_batch(cluster, ours)
            elsewhere.result()
    finally:
        other.close()
    # Then each tenant's check saw the pods of its own namespace only
    for ns, seen in snapshots.items():
        own = {p["metadata"]["name"] for p in env.sim.list("pods", ns)}
        assert {p.name for p in seen.pods} == own, ns
    # And the other rollout's pods, in the view too, answer for their namespace only
    theirs_now = {p["metadata"]["name"] for p in env.sim.list("pods", theirs)}
    assert {p.name for p in cluster.pods(theirs, APP)} == theirs_now
    assert env.requests(CLUSTER_PODS, "watch") == 1


def test_a_watch_too_old_for_the_server_relists_every_pod(
    batch_env: tuple[KubeEnv, KubeCluster],
) -> None:
    # Given the server has forgotten the version the view's first watch starts from
    env, cluster = batch_env
    env.sim.reset_counters()
    env.sim.add_fault(path=f"^{CLUSTER_PODS}$", verb="watch", status=410, times=1)
    # When a batch is checked
    snapshots = update_batch(cluster, env.tenants)
    # Then the view listed again (410 Gone), and its answers are still the live pods
    assert env.requests(CLUSTER_PODS, "list") == 2
    for ns, seen in snapshots.items():
        live = sorted(p["metadata"]["name"] for p in env.sim.list("pods", ns))
        assert [p.name for p in seen.pods] == live, ns


def test_without_leave_to_watch_pods_everywhere_each_namespace_is_listed(
    batch_env: tuple[KubeEnv, KubeCluster],
) -> None:
    # Given rollbot may list pods but not watch them in every namespace
    env, cluster = batch_env
    env.sim.deny_access(verb="watch", resource="pods")
    env.sim.reset_counters()
    # When a batch is checked
    snapshots = update_batch(cluster, env.tenants)
    # Then each tenant's pods were listed in its namespace, as without a view
    assert env.requests(CLUSTER_PODS, "list") == 0
    assert env.requests(CLUSTER_PODS, "watch") == 0
    assert pod_lists(env, env.tenants) == 2 * BATCH
    assert all(all(a.status == 200 for a in s.answers("/api/health")) for s in snapshots.values())


def test_a_small_rollout_lists_each_namespace_as_before(make_kube_env: MakeKubeEnv) -> None:
    # Given fewer tenants than the view's threshold (the adapter's default)
    env = make_kube_env(tenants=3, ready_delay=0.05)
    env.sim.reset_counters()
    # When they are updated and checked at once
    update_batch(env.cluster, env.tenants)
    # Then no view was started: two lists per tenant, no shared watch, and no access
    # review beyond the one of listing deployments everywhere
    assert pod_lists(env, env.tenants) == 2 * 3
    assert env.requests(CLUSTER_PODS, "list") == 0
    assert env.requests(CLUSTER_PODS, "watch") == 0
    assert env.requests("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "create") == 1


def test_the_preflights_listing_of_a_large_fleet_starts_the_view_before_any_read(
    batch_env: tuple[KubeEnv, KubeCluster],
) -> None:
    # Given the preflight found the app's deployment in more namespaces than the threshold
    env, cluster = batch_env
    cluster.deployments_named(APP, container=CONTAINER)
    env.sim.reset_counters()
    # When the batch's first reads come, one tenant after another
    for ns in env.tenants:
        cluster.log_stats(ns, APP, since_seconds=60)
    # Then every one was answered from the shared view, none by a list of its namespace
    assert pod_lists(env, env.tenants) == 0


def test_a_batch_waits_on_one_shared_watch_of_its_deployments(
    batch_env: tuple[KubeEnv, KubeCluster],
) -> None:
    # Given the preflight found the app's deployment in more namespaces than the threshold
    env, cluster = batch_env
    env.sim.reset_counters()
    # When each tenant is updated and waited on at once
    update_batch(cluster, env.tenants)
    # Then every wait followed one watch of the deployments across namespaces
    assert env.requests(DEPLOYMENTS, "watch") == 1
    assert sum(env.requests(f"/apis/apps/v1/namespaces/{ns}/deployments", "watch")
               for ns in env.tenants) == 0  # fmt: skip


def test_a_deployment_deleted_while_the_shared_watch_follows_it_is_not_found(
    batch_env: tuple[KubeEnv, KubeCluster],
) -> None:
    # Given a batch's wait follows, in the shared view, a rollout that does not finish
    env, cluster = batch_env
    ns = env.tenants[0]
    env.sim.set_behaviour(ns, "*", "unready")
    cluster.deployments_named(APP, container=CONTAINER)
    generation = cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(cluster.wait_rollout, ns, APP, timeout=10, min_generation=generation)
        # When someone deletes the deployment meanwhile
        other = api_client(kubeconfig_configuration(str(env.sim.kubeconfig)))
        try:
            client.AppsV1Api(other).delete_namespaced_deployment(APP, ns)
        finally:
            other.close()  # type: ignore[no-untyped-call]
        # Then the wait ends at once: the deployment is not found
        with pytest.raises(NotFound, match="deleted"):
            waiting.result(timeout=5)
    assert env.requests(f"/apis/apps/v1/namespaces/{ns}/deployments", "watch") == 0


def until_the_pod_view_answers(env: KubeEnv, cluster: KubeCluster, namespace: str) -> None:
    """Read the namespace's pods until one read is served without a list of its own."""
    for _ in range(100):
        before = pod_lists(env, [namespace])
        cluster.pods(namespace, APP)
        if pod_lists(env, [namespace]) == before:
            return
    raise AssertionError("the shared pod view never answered")


def test_a_read_newer_than_the_pod_view_lists_its_namespace(
    batch_env: tuple[KubeEnv, KubeCluster],
) -> None:
    # Given a live pod view, and a deployment changed since its last pod event (an edit
    # of its own labels, which no pod follows) that the adapter has read
    env, cluster = batch_env
    ns = env.tenants[0]
    cluster.deployments_named(APP, container=CONTAINER)
    until_the_pod_view_answers(env, cluster, ns)
    ops = [{"op": "add", "path": "/metadata/labels/edited", "value": "yes"}]
    other = api_client(kubeconfig_configuration(str(env.sim.kubeconfig)))
    try:
        client.AppsV1Api(other).patch_namespaced_deployment(
            APP, ns, ops, _content_type="application/json-patch+json"
        )
    finally:
        other.close()  # type: ignore[no-untyped-call]
    cluster.read_deployment(ns, APP, container=CONTAINER)
    env.sim.reset_counters()
    # When its pods are read
    found = cluster.pods(ns, APP)
    # Then the view, older than what the adapter has seen, did not answer: a list did
    assert pod_lists(env, [ns]) == 1
    assert [p.name for p in found] == sorted(
        p["metadata"]["name"] for p in env.sim.list("pods", ns)
    )


def test_a_check_after_a_wait_is_as_new_as_the_state_the_wait_ended_on(
    batch_env: tuple[KubeEnv, KubeCluster],
) -> None:
    # Given a live pod view, and one tenant rolled out while nothing else changes: the
    # deployment's last status (old pod gone, new one ready) is the cluster's last write
    env, cluster = batch_env
    ns = env.tenants[0]
    cluster.deployments_named(APP, container=CONTAINER)
    until_the_pod_view_answers(env, cluster, ns)
    generation = cluster.set_image(ns, APP, container=CONTAINER, image=isp("v1.3.0"))
    status = cluster.wait_rollout(ns, APP, timeout=10, min_generation=generation)
    assert status.outcome is RolloutOutcome.COMPLETE
    env.sim.reset_counters()
    # When the health check reads the pods
    found = cluster.pods(ns, APP)
    # Then no pod event newer than that status came, so a list answered, and it has the
    # new pod only
    assert pod_lists(env, [ns]) == 1
    assert [p.name for p in found] == sorted(
        p["metadata"]["name"] for p in env.sim.list("pods", ns)
    )


def test_a_slimmed_pod_reads_as_the_pod_it_came_from() -> None:
    # Given a pod as the server sends it: a crash-looping container beside an init one
    # that could not pull its image, and a pod-level eviction reason
    pod = {
        "metadata": {"name": "web-1", "namespace": "t1", "resourceVersion": "7", "uid": "u",
                     "labels": {"app": "web"}, "annotations": {DEFAULT_CONTAINER: "app"}},
        "spec": {"containers": [{"name": "app", "image": "i:1"}, {"name": "side", "image": "s"}]},
        "status": {
            "phase": "Running", "reason": "Evicted", "podIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "t"}],
            "initContainerStatuses": [
                {"name": "init", "restartCount": 0, "image": "x",
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": "m"}}}],
            "containerStatuses": [
                {"name": "app", "restartCount": 4, "ready": False,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}},
                {"name": "side", "restartCount": 1, "ready": False,
                 "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}],
        },
    }  # fmt: skip
    # When it is slimmed for the shared view
    slim = slim_pod(pod)
    # Then a check reads the same state, log container and name from it
    assert pod_state(slim) == pod_state(pod)
    assert pod_state({**slim, "status": {**slim["status"], "initContainerStatuses": []}}) == (
        pod_state({**pod, "status": {**pod["status"], "initContainerStatuses": []}})
    )
    assert annotations_of(slim) == {DEFAULT_CONTAINER: "app"}
    assert [c["name"] for c in slim["spec"]["containers"]] == ["app", "side"]
