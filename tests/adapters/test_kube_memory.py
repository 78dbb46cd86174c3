"""What the Kubernetes adapter keeps of a large fleet: what it reads of each object.

A listing across the fleet keeps what it reads of each object, not the objects. The
preflight of a 10,000-tenant rollout lists every tenant's deployment; held whole until
the last page arrived, they were most of rollbot's peak memory. These tests list a fleet
of just over two pages from the simulated API server and look, with tracemalloc, at what
is still alive of the objects the adapter parsed off the wire when it reaches the last
one: never more than the page it is reading.

The shared views keep an object per tenant for the whole rollout; what most of them have
alike (a healthy pod's status, a deployment's template) is kept once, shared.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from bot.kube import seen
from bot.kube.client import Kube, api_client, kubeconfig_configuration
from bot.kube.deployments import (
    PAGE,
    REVISION,
    deployments_named,
    meta,
    name_of,
    pod_state,
    to_info,
)
from bot.kube.parts import Parts
from bot.kube.pod_view import DEFAULT_CONTAINER, slim_deployment, slim_pod
from bot.kube.rollout_wait import verdict
from bot.kube.seen import Seen
from bot.kube.wire import Json
from tests.adapters.conftest import FAST_RETRIES, KubeEnv, MakeKubeEnv
from tests.adapters.test_cluster_contract import APP, CONTAINER

TENANTS = 2 * PAGE + 1  # the last page holds a single deployment
WIRE = "*/bot/kube/wire.py"  # where the adapter parses what the server answers


def parsed_alive() -> int:
    """Bytes still allocated by parsing the server's answers (the sim's own objects, made
    on its thread by other code, do not count)."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, WIRE, all_frames=True)]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


class Watching(Seen):
    """Remembers deployments as any Seen does, and calls `at(n)` on the n-th one noted."""

    def __init__(self, at: Callable[[int], None]) -> None:
        super().__init__()
        self._at = at
        self.noted = 0

    def note(self, dep: Json) -> None:
        super().note(dep)
        self.noted += 1
        self._at(self.noted)


@pytest.fixture
def fleet(make_kube_env: MakeKubeEnv) -> KubeEnv:
    return make_kube_env(tenants=TENANTS)


@pytest.fixture
def tracing() -> Iterator[None]:
    tracemalloc.start(4)  # json.loads, called from the wire, is within these
    try:
        yield
    finally:
        tracemalloc.stop()


def test_the_preflight_listing_holds_one_page_of_whole_deployments(
    fleet: KubeEnv, tracing: None
) -> None:
    # Given a fleet of two full pages of deployments and one more
    alive: dict[int, int] = {}

    def look(n: int) -> None:
        if n in (1, TENANTS):
            alive[n] = parsed_alive()

    configuration = kubeconfig_configuration(str(fleet.sim.kubeconfig))
    k = Kube(api=api_client(configuration), policy=FAST_RETRIES, seen=Watching(look))
    try:
        # When the preflight lists every tenant's deployment
        found = deployments_named(k, APP, container=CONTAINER)
    finally:
        k.close()
    # Then every tenant is found, and at the last one the first two pages are gone:
    # less is alive of what was parsed than while the first page was read
    assert len(found) == TENANTS
    assert alive[TENANTS] < alive[1] / 2, alive


# --- what the shared views keep of each object ----------------------------------------


def pod(name: str, *, ready: str = "True", restarts: int = 0) -> Json:
    """A pod as the server sends it, parsed afresh: no two share a string or a dict."""
    return json.loads(json.dumps({
        "metadata": {"name": name, "namespace": "tenant-" + name, "resourceVersion": "7",
                     "uid": "u-" + name, "labels": {"app": APP},
                     "annotations": {DEFAULT_CONTAINER: CONTAINER}},
        "spec": {"containers": [{"name": CONTAINER, "image": "isp:v1"}]},
        "status": {
            "phase": "Running", "podIP": "10.0.0.1", "startTime": "2026-01-01T00:00:00Z",
            "conditions": [{"type": t, "status": ready, "lastTransitionTime": "t-" + name}
                           for t in ("Initialized", "Ready", "ContainersReady")],
            "containerStatuses": [{"name": CONTAINER, "restartCount": restarts, "ready": True,
                                   "image": "isp:v1", "state": {"running": {"startedAt": "s"}}}],
        },
    }))  # fmt: skip


def deployment(namespace: str, *, updated: int = 1) -> Json:
    return json.loads(json.dumps({
        "metadata": {"name": APP, "namespace": namespace, "uid": "u-" + namespace,
                     "generation": 2, "resourceVersion": "9", "labels": {"app": APP},
                     "annotations": {REVISION: "2", "other": "x"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": APP}},
                 "template": {"spec": {"containers": [{"name": CONTAINER, "image": "isp:v2"}]}}},
        "status": {
            "observedGeneration": 2, "replicas": 1, "updatedReplicas": updated,
            "availableReplicas": 1,
            "conditions": [
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": f'ReplicaSet "{namespace}-abc" has successfully progressed.',
                 "lastUpdateTime": "u-" + namespace, "lastTransitionTime": "t-" + namespace}],
        },
    }))  # fmt: skip


def test_pods_alike_share_one_copy_of_what_they_have_alike() -> None:
    # Given two healthy pods of two tenants, and one that is not ready
    first, second, unready = pod("a"), pod("b"), pod("c", ready="False", restarts=2)
    # When the view slims them
    a, b, c = slim_pod(first), slim_pod(second), slim_pod(unready)
    # Then each keeps its own name, and the two alike share their spec and status
    assert (name_of(a), name_of(b)) == ("a", "b")
    assert a["spec"] is b["spec"]
    assert a["status"] is b["status"]
    # while the one that differs reads as what it is
    assert c["status"] is not a["status"]
    assert pod_state(c) == pod_state(unready)
    assert pod_state(a) == pod_state(first)


def test_deployments_alike_share_their_parts_and_read_as_before() -> None:
    # Given the deployments of two tenants, rolled out, and a third one still rolling
    first, second, rolling = deployment("t1"), deployment("t2"), deployment("t3", updated=0)
    # When the view slims them
    a, b, c = slim_deployment(first), slim_deployment(second), slim_deployment(rolling)
    # Then each keeps its own namespace and uid; selector, template and status are shared
    assert meta(a)["namespace"] == "t1" and meta(b)["uid"] == "u-t2"
    assert a["spec"]["selector"] is b["spec"]["selector"]
    assert a["spec"]["template"] is b["spec"]["template"]
    assert a["status"] is b["status"]
    # and the conditions keep what the verdict reads, not messages and times
    assert a["status"]["conditions"] == [
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
    ]
    # and a rollout wait judges each as it would the object it came from
    for slim, whole in ((a, first), (c, rolling)):
        assert verdict(slim, min_generation=2) == verdict(whole, min_generation=2)
    assert seen.shape_of(a) == seen.shape_of(first)


def test_what_preflight_keeps_of_each_tenant_shares_what_tenants_have_alike() -> None:
    # Given the deployments of two tenants, as the preflight's listing parses them
    first, second = deployment("t1"), deployment("t2")
    # When each is kept as its DeploymentInfo, and its shape is remembered
    a, b = to_info(first, container=CONTAINER), to_info(second, container=CONTAINER)
    # Then each has its own namespace, and one copy of the image, containers and labels
    assert (a.namespace, b.namespace) == ("t1", "t2")
    assert a.image is b.image
    assert a.containers is b.containers
    assert a.labels is b.labels and a.labels == {"app": APP}
    assert seen.shape_of(first) is seen.shape_of(second)


def test_parts_start_afresh_past_their_limit() -> None:
    # Given a table that keeps two parts
    parts = Parts(limit=2)
    one = parts.one({"n": 1})
    parts.one({"n": 2})
    # When a third comes
    parts.one({"n": 3})
    # Then it starts afresh: it stays bounded, and hands out equal parts as before
    assert len(parts) == 1
    assert parts.one({"n": 1}) == one


def test_parts_of_other_types_are_never_taken_for_each_other() -> None:
    # Given a list shared first
    parts = Parts()
    listed = parts.one(["frontend"])
    # When a tuple of the same names is asked for
    kept = parts.one(("frontend",))
    # Then it stays a tuple
    assert isinstance(listed, list) and kept == ("frontend",)
