"""Error rates from Prometheus during a rolling release (SPEC section 4).

Given Prometheus configured for error rates, when a batch's tenants are judged, then the
number Prometheus answers for each tenant decides, naming Prometheus in the reason; and
when Prometheus cannot answer, the tenants are judged by their logs and the release goes
on rather than failing on a metrics outage.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.prometheus import PrometheusErrorRates
from rollout.model import Phase, TargetStatus
from sim.prometheus import PrometheusStandIn
from tests.scenarios.conftest import NEW_ISP, MakeWorld

QUERY = (
    'sum(rate(http_requests_total{namespace="$namespace",code=~"5.."}[$window])) / '
    'sum(rate(http_requests_total{namespace="$namespace"}[$window]))'
)


@pytest.fixture
def prom() -> Iterator[PrometheusStandIn]:
    with PrometheusStandIn(default_rate=0.01) as stand_in:
        yield stand_in


def test_a_tenant_prometheus_sees_failing_pauses_the_rollout(
    make_world: MakeWorld, prom: PrometheusStandIn
) -> None:
    # Given 6 tenants whose pods look fine, and Prometheus seeing 20% errors in the fourth
    world = make_world(tenants=6, error_rates=PrometheusErrorRates(prom.url, QUERY, timeout=2))
    sick = world.tenants[3]
    prom.rates[sick] = 0.2

    # When the rollout runs
    paused = world.follow(world.start().id, until=lambda r: r.phase is Phase.PAUSED)

    # Then that tenant fails on Prometheus's number and the others pass on theirs
    failed = paused.target(sick)
    assert failed.status is TargetStatus.FAILED
    assert failed.reason == "error rate 20.0% over 5.0% (Prometheus)"
    others = [
        t for t in paused.targets if t.namespace != sick and t.status is not TargetStatus.PENDING
    ]
    assert others and all(t.status is TargetStatus.UPDATED for t in others)
    asked = {q.split('namespace="')[1].split('"')[0] for q in prom.queries}
    assert asked == {t.namespace for t in paused.targets if t.status is not TargetStatus.PENDING}
    assert all("[300s]" in q for q in prom.queries)


def test_when_prometheus_cannot_answer_the_logs_judge_and_the_release_completes(
    make_world: MakeWorld, prom: PrometheusStandIn
) -> None:
    world = make_world(tenants=4, error_rates=PrometheusErrorRates(prom.url, QUERY, timeout=2))
    prom.failure = (503, "too many queries")
    final = world.follow(world.start().id)
    assert final.phase is Phase.COMPLETED, final.reason
    assert {world.image(ns) for ns in world.tenants} == {NEW_ISP}
    assert prom.queries, "Prometheus was asked first"


def test_a_query_prometheus_refuses_refuses_the_rollout_before_anything_changes(
    make_world: MakeWorld, prom: PrometheusStandIn
) -> None:
    # Given a query Prometheus cannot parse
    world = make_world(tenants=3, error_rates=PrometheusErrorRates(prom.url, QUERY, timeout=2))
    prom.failure = (400, 'parse error: unexpected character "}"')

    # When a rollout is asked for, then preflight refuses it, naming the key to fix
    final = world.follow(world.start().id)
    assert final.phase is Phase.REFUSED
    assert "health.prometheus.error_rate_query: Prometheus refused the error-rate query" in (
        final.reason
    )
    assert {world.patches(ns) for ns in world.tenants} == {0}
    assert len(prom.queries) == 1  # asked once, for the first tenant
