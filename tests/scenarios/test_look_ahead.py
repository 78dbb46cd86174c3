"""Latency baselines measured a batch ahead: while one batch waits for its pods, the next
batch's logs are read, so no batch waits a log read before its patches; a baseline asked
for too long ago (an approval gate came between) is measured again at its turn, and
batches too large to share the pool with the next are not looked ahead of.
The scenario world works on at most 8 tenants at once."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from bot.kube import KubeCluster
from rollout.model import Phase
from rollout.ports import HealthSnapshot, LogStats
from tests.scenarios.conftest import QUICK, MakeWorld, World


@dataclass
class Moment:
    what: str
    namespace: str
    at: float


@dataclass
class Recorded:
    moments: list[Moment] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str, namespace: str) -> None:
        with self.lock:
            self.moments.append(Moment(what, namespace, time.monotonic()))

    def of(self, what: str, namespaces: list[str]) -> list[Moment]:
        return [m for m in self.moments if m.what == what and m.namespace in namespaces]


class RecordingCluster(KubeCluster):
    """The real adapter, noting when each baseline read starts and each health check ends."""

    recorded: Recorded

    def log_stats(self, namespace: str, deployment: str, *, since_seconds: int) -> LogStats:
        self.recorded.add("baseline", namespace)
        return super().log_stats(namespace, deployment, since_seconds=since_seconds)

    def health_snapshot(
        self, namespace: str, deployment: str, *, port: int, paths: tuple[str, ...] | list[str],
        since_seconds: int,
    ) -> HealthSnapshot:
        seen = super().health_snapshot(
            namespace, deployment, port=port, paths=paths, since_seconds=since_seconds
        )
        self.recorded.add("checked", namespace)
        return seen


def recording(world: World) -> Recorded:
    cluster = RecordingCluster.from_kubeconfig(str(world.sim.kubeconfig), policy=QUICK)
    assert isinstance(cluster, RecordingCluster)
    world.closers.append(cluster.close)
    cluster.recorded = Recorded()
    world.restart(cluster=cluster)
    return cluster.recorded


def test_the_next_batch_is_measured_while_this_one_waits(make_world: MakeWorld) -> None:
    # Given 8 tenants in two batches of 4, judged on latency
    world = make_world(tenants=8, batch_size=4, pilot_count=0, latency_factor=2.0)
    recorded = recording(world)

    # When they are rolled out
    final = world.follow(world.start().id)

    # Then each tenant's baseline was read once, batch 2's before batch 1 was judged
    assert final.phase is Phase.COMPLETED, final.reason
    first = [t.namespace for t in final.batch(1)]
    second = [t.namespace for t in final.batch(2)]
    assert sorted(m.namespace for m in recorded.of("baseline", first + second)) == sorted(
        first + second
    )
    first_judged = max(m.at for m in recorded.of("checked", first))
    assert all(m.at < first_judged for m in recorded.of("baseline", second))
    assert all(t.baseline_latency_ms is not None for t in final.targets)


def test_a_baseline_asked_for_too_long_ago_is_measured_again(make_world: MakeWorld) -> None:
    # Given baselines that may be no older than nothing at all
    world = make_world(tenants=8, batch_size=4, pilot_count=0, latency_factor=2.0)
    world.look_ahead_seconds = 0.0
    recorded = recording(world)

    # When the two batches are rolled out
    final = world.follow(world.start().id)

    # Then batch 2's tenants were measured ahead, and again at their turn
    assert final.phase is Phase.COMPLETED, final.reason
    second = [t.namespace for t in final.batch(2)]
    assert sorted(m.namespace for m in recorded.of("baseline", second)) == sorted(second * 2)
    assert all(final.target(ns).baseline_latency_ms is not None for ns in second)


def test_batches_that_fill_the_pool_are_measured_at_their_turn(make_world: MakeWorld) -> None:
    # Given two batches of 5, which would need 10 threads at once out of 8
    world = make_world(tenants=10, pilot_count=0, latency_factor=2.0)
    recorded = recording(world)

    # When they are rolled out
    final = world.follow(world.start().id)

    # Then batch 2's baselines were read once each, after batch 1 was judged
    assert final.phase is Phase.COMPLETED, final.reason
    first = [t.namespace for t in final.batch(1)]
    second = [t.namespace for t in final.batch(2)]
    assert sorted(m.namespace for m in recorded.of("baseline", second)) == sorted(second)
    first_judged = max(m.at for m in recorded.of("checked", first))
    assert all(m.at > first_judged for m in recorded.of("baseline", second))
