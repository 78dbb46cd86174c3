"""Fixtures for the adapter suites: a simulated Kubernetes API server per test.

The sim starts in a few milliseconds, so every test gets its own and tests never see each
other's rollouts, faults or counters. The cluster contract suite is parametrised over
``CLUSTER_IMPLEMENTATIONS``: each entry turns a running sim into a ``Cluster``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.kube import KubeCluster, RetryPolicy
from rollout.ports import Cluster
from sim.kube.harness import SimHandle, start_sim
from sim.kube.seed import tenant_namespaces

# Quick retries so fault tests take milliseconds; attempts stay realistic.
FAST_RETRIES = RetryPolicy(
    attempts=4, base_delay=0.01, max_delay=0.05, connect_timeout=2.0, read_timeout=5.0
)


def _kube_adapter(sim: SimHandle) -> tuple[Cluster, Callable[[], None]]:
    cluster = KubeCluster.from_kubeconfig(str(sim.kubeconfig), policy=FAST_RETRIES)
    return cluster, cluster.close


# name -> factory(sim) -> (cluster, close)
CLUSTER_IMPLEMENTATIONS: dict[str, Callable[[SimHandle], tuple[Cluster, Callable[[], None]]]] = {
    "kube-adapter": _kube_adapter,
}


@dataclass
class ClusterEnv:
    """A cluster implementation wired to its own sim, and the tenants seeded there."""

    cluster: Cluster
    sim: SimHandle
    tenants: list[str]
    policy: RetryPolicy = field(default=FAST_RETRIES)

    def requests(self, path: str, verb: str) -> int:
        """How many ``verb`` requests the API server saw for exactly ``path``."""
        return int(self.sim.counters()["paths"].get(path, {}).get(verb, 0))


MakeEnv = Callable[..., ClusterEnv]


@pytest.fixture(params=sorted(CLUSTER_IMPLEMENTATIONS))
def make_cluster_env(request: pytest.FixtureRequest) -> Iterator[MakeEnv]:
    """Build envs with chosen sim settings (tenants, ready_delay, deadline_scale)."""
    factory = CLUSTER_IMPLEMENTATIONS[request.param]
    cleanups: list[Callable[[], None]] = []

    def make(*, tenants: int = 3, **sim_options: Any) -> ClusterEnv:
        sim = start_sim(tenants=tenants, **sim_options)
        cleanups.append(sim.stop)
        cluster, close = factory(sim)
        cleanups.append(close)
        return ClusterEnv(cluster=cluster, sim=sim, tenants=tenant_namespaces(tenants))

    yield make
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture
def cluster_env(make_cluster_env: MakeEnv) -> ClusterEnv:
    return make_cluster_env()
