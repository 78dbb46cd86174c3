"""A listing across the fleet keeps what it reads of each object, not the objects.

The preflight of a 10,000-tenant rollout lists every tenant's deployment; held whole until
the last page arrived, they were most of rollbot's peak memory. These tests list a fleet
of just over two pages from the simulated API server and look, with tracemalloc, at what
is still alive of the objects the adapter parsed off the wire when it reaches the last
one: never more than the page it is reading.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from bot.kube.client import Kube, api_client, kubeconfig_configuration
from bot.kube.deployments import PAGE, deployments_named
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
