"""The Kubernetes adapter's limits towards the API server, as the server sees them.

The simulated API server counts the requests it is answering at once (watches aside, as a
real server's in-flight limit leaves them out) and when each arrives, so these tests check
the limits from the far side of the wire, not by the adapter's own word.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.kube import KubeCluster, RetryPolicy
from bot.kube.wire import Limits
from sim.kube.harness import SimHandle, start_sim
from sim.kube.seed import tenant_namespaces
from tests.adapters.conftest import FAST_RETRIES

APP, CONTAINER = "isp-ops-app", "frontend"


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    handle = start_sim(tenants=40, ready_delay=0.05)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def adapter(sim: SimHandle) -> Iterator[Callable[..., KubeCluster]]:
    made: list[KubeCluster] = []

    def make(limits: Limits, policy: RetryPolicy = FAST_RETRIES) -> KubeCluster:
        cluster = KubeCluster.from_kubeconfig(str(sim.kubeconfig), policy=policy, limits=limits)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()


def read_all_at_once(cluster: KubeCluster, namespaces: list[str]) -> None:
    with ThreadPoolExecutor(len(namespaces)) as pool:
        list(
            pool.map(
                lambda ns: cluster.read_deployment(ns, APP, container=CONTAINER), namespaces
            )
        )


def test_requests_in_flight_never_exceed_max_in_flight(
    sim: SimHandle, adapter: Callable[..., KubeCluster]
) -> None:
    # Given every read answered slowly, and forty threads asking at once
    sim.add_fault(path=r"/deployments/", action="latency", latency=0.1)
    cluster = adapter(Limits(max_in_flight=4, qps=0))
    sim.reset_counters()

    # When they all read their tenant's deployment
    read_all_at_once(cluster, tenant_namespaces(40))

    # Then the server never answered more than four at once, and the adapter says so
    assert sim.counters()["peak_in_flight"] == 4
    assert cluster.throttle.peak_in_flight == 4
    assert cluster.throttle.waited_for_slot > 0
    assert cluster.throttle.in_flight == 0


def test_without_a_tight_limit_the_same_reads_go_out_together(
    sim: SimHandle, adapter: Callable[..., KubeCluster]
) -> None:
    sim.add_fault(path=r"/deployments/", action="latency", latency=0.1)
    cluster = adapter(Limits(max_in_flight=64, qps=0))
    sim.reset_counters()
    started = time.monotonic()
    read_all_at_once(cluster, tenant_namespaces(40))
    assert sim.counters()["peak_in_flight"] > 4
    assert time.monotonic() - started < 40 * 0.1 / 4  # quicker than four at a time


def test_the_rate_limit_spaces_requests_after_the_burst(
    sim: SimHandle, adapter: Callable[..., KubeCluster]
) -> None:
    # Given 20 requests a second with a burst of 5
    cluster = adapter(Limits(max_in_flight=32, qps=20, burst=5))

    # When 25 reads are asked for at once
    started = time.monotonic()
    read_all_at_once(cluster, tenant_namespaces(25))

    # Then the 20 beyond the burst took at least about a second, however busy the machine
    assert time.monotonic() - started >= 0.9
    assert cluster.throttle.waited_for_rate > 0


def test_a_429_pauses_every_request_for_its_retry_after(
    sim: SimHandle, adapter: Callable[..., KubeCluster]
) -> None:
    # Given the server full for one tenant's reads, once, asking for a 1 s pause
    first, second = tenant_namespaces(2)
    sim.add_fault(path=f"/namespaces/{first}/deployments/", status=429, retry_after=1, times=1)
    cluster = adapter(Limits(), RetryPolicy(attempts=3, base_delay=0.01, max_delay=2.0))
    answered: dict[str, float] = {}

    def read(ns: str) -> None:
        cluster.read_deployment(ns, APP, container=CONTAINER)
        answered[ns] = time.monotonic()

    # When that read is refused, and another tenant's read is asked for just after
    started = time.monotonic()
    refused = threading.Thread(target=read, args=(first,))
    refused.start()
    deadline = time.monotonic() + 5
    while cluster.throttle.paused_by_server == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    read(second)
    refused.join(10)

    # Then the other read waited out the pause too, and both succeeded in the end
    assert cluster.throttle.paused_by_server == 1
    assert answered[second] - started >= 0.9
    assert set(answered) == {first, second}
