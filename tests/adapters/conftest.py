"""Fixtures for the adapter suites: a cluster per test, on a world of its own.

The cluster contract suite is parametrised over ``CLUSTER_IMPLEMENTATIONS``: the real
``KubeCluster``, talking HTTP to its own simulated API server (it starts in a few
milliseconds), and the in-memory ``FakeCluster`` the engine's tests rely on, seeded with
the same tenants and blue-green app. Each env carries a ``world``: what is changed behind
the cluster's back (how pods behave, who may do what), said the same way to the sim and to
the fake. Tests of the Kubernetes adapter's own ways (requests counted on the server,
injected faults, watches) take ``kube_env``, which also hands over the sim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from bot.kube import KubeCluster, RetryPolicy
from rollout.ports import Cluster
from sim.kube.harness import SimHandle, start_sim
from sim.kube.seed import BASE_VERSION, REGISTRY, tenant_namespaces
from tests.fake_cluster import FakeCluster

# Quick retries so fault tests take milliseconds; attempts stay realistic.
FAST_RETRIES = RetryPolicy(
    attempts=4, base_delay=0.01, max_delay=0.05, connect_timeout=2.0, read_timeout=5.0
)


class World(Protocol):
    """What a test changes behind the cluster's back; the sim and the fake both take it."""

    def set_behaviour(
        self, namespace_glob: str, tag_glob: str, behaviour: str, **params: float
    ) -> None: ...

    def deny_access(
        self, *, namespace: str = "*", verb: str = "*", resource: str = "*"
    ) -> None: ...


@dataclass
class ClusterEnv:
    """A cluster implementation, the world it runs on, and the tenants seeded there."""

    cluster: Cluster
    world: World
    tenants: list[str]


@dataclass
class KubeEnv(ClusterEnv):
    """The real adapter, and the simulated API server it talks to."""

    cluster: KubeCluster
    sim: SimHandle
    policy: RetryPolicy = field(default=FAST_RETRIES)

    def requests(self, path: str, verb: str) -> int:
        """How many ``verb`` requests the API server saw for exactly ``path``."""
        return int(self.sim.counters()["paths"].get(path, {}).get(verb, 0))


Cleanups = list[Callable[[], None]]
MakeEnv = Callable[..., ClusterEnv]
MakeKubeEnv = Callable[..., KubeEnv]


def _kube_adapter(cleanups: Cleanups, *, tenants: int, **sim_options: Any) -> KubeEnv:
    sim = start_sim(tenants=tenants, **sim_options)
    cleanups.append(sim.stop)
    cluster = KubeCluster.from_kubeconfig(str(sim.kubeconfig), policy=FAST_RETRIES)
    cleanups.append(cluster.close)
    return KubeEnv(cluster=cluster, world=sim, tenants=tenant_namespaces(tenants), sim=sim)


def _fake(cleanups: Cleanups, *, tenants: int, **sim_options: Any) -> ClusterEnv:
    """The sim's seed, in memory; the sim's timing options have no meaning without a clock."""
    cluster = FakeCluster()
    namespaces = tenant_namespaces(tenants)
    for namespace in namespaces:
        cluster.add_tenant(namespace, image=f"{REGISTRY}/isp-ops-app:{BASE_VERSION}")
    cluster.add_blue_green(version=BASE_VERSION, repository=f"{REGISTRY}/platform-admin-app")
    return ClusterEnv(cluster=cluster, world=cluster, tenants=namespaces)


# name -> factory(cleanups, tenants=..., **sim_options) -> env
CLUSTER_IMPLEMENTATIONS: dict[str, Callable[..., ClusterEnv]] = {
    "kube-adapter": _kube_adapter,
    "fake": _fake,
}


@pytest.fixture(params=sorted(CLUSTER_IMPLEMENTATIONS))
def make_cluster_env(request: pytest.FixtureRequest) -> Iterator[MakeEnv]:
    """Build envs with chosen settings (tenants; the sim's ready_delay, deadline_scale)."""
    factory = CLUSTER_IMPLEMENTATIONS[request.param]
    cleanups: Cleanups = []
    yield lambda *, tenants=3, **sim_options: factory(cleanups, tenants=tenants, **sim_options)
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture
def cluster_env(make_cluster_env: MakeEnv) -> ClusterEnv:
    return make_cluster_env()


@pytest.fixture
def make_kube_env() -> Iterator[MakeKubeEnv]:
    """Build real-adapter envs with chosen sim settings (tenants, ready_delay, ...)."""
    cleanups: Cleanups = []
    yield lambda *, tenants=3, **sim_options: _kube_adapter(
        cleanups, tenants=tenants, **sim_options
    )
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture
def kube_env(make_kube_env: MakeKubeEnv) -> KubeEnv:
    return make_kube_env()
