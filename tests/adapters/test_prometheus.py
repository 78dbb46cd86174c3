"""Error rates from Prometheus: `bot.prometheus` against the stand-in in `sim.prometheus`,
over HTTP, with the answers Prometheus gives and the ways it fails.

Given a query template with $namespace, $deployment and $window, when rollbot asks for one
tenant's error rate, then the stand-in receives that tenant's query and rollbot reads its
answer as a share, None for no traffic, or a MetricsUnavailable that says what is wrong.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bot.prometheus import PrometheusErrorRates, fill_query
from rollout.errors import MetricsQueryInvalid, MetricsUnavailable
from sim.prometheus import PrometheusStandIn

QUERY = (
    'sum(rate(http_requests_total{namespace="$namespace",deployment="$deployment",'
    'code=~"5.."}[$window])) / sum(rate(http_requests_total{namespace="$namespace"}[$window]))'
)
NS = "tenant-fast-fiber"


@pytest.fixture
def prom() -> Iterator[PrometheusStandIn]:
    with PrometheusStandIn({NS: 0.02}) as stand_in:
        yield stand_in


def rates(prom: PrometheusStandIn, **kw: object) -> PrometheusErrorRates:
    return PrometheusErrorRates(prom.url, QUERY, timeout=2.0, **kw)  # type: ignore[arg-type]


def ask(source: PrometheusErrorRates, namespace: str = NS) -> float | None:
    return source.error_rate(namespace, "isp-ops-app", window_seconds=300)


def test_the_tenants_query_is_sent_and_its_number_read(prom: PrometheusStandIn) -> None:
    assert ask(rates(prom)) == 0.02
    (sent,) = prom.queries
    assert sent == fill_query(QUERY, namespace=NS, deployment="isp-ops-app", window_seconds=300)
    assert 'namespace="tenant-fast-fiber",deployment="isp-ops-app"' in sent
    assert "[300s]" in sent and "$" not in sent
    assert prom.authorizations == [None]


@pytest.mark.parametrize(
    ("answer", "read"),
    [
        (0.0, 0.0),
        (1.0, 1.0),
        (None, None),  # no series: no traffic in the window
        (float("nan"), None),  # 0/0: no requests at all
    ],
)
def test_answers_become_a_share_or_none(
    prom: PrometheusStandIn, answer: float | None, read: float | None
) -> None:
    prom.rates[NS] = answer
    assert ask(rates(prom)) == read


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ((0.01, 0.5), "gave 2 series for tenant-fast-fiber; it must give one number"),
        (12.5, "gave 12.5 for tenant-fast-fiber, not a share between 0 and 1; divide by 100"),
        (-0.1, "not a share between 0 and 1"),
    ],
)
def test_answers_that_are_no_share_are_refused_with_the_fix(
    prom: PrometheusStandIn, answer: float | tuple[float, ...], words: str
) -> None:
    prom.rates[NS] = answer
    with pytest.raises(MetricsQueryInvalid, match=words.replace("(", r"\(")):
        ask(rates(prom))


def test_a_query_prometheus_refuses_says_why(prom: PrometheusStandIn) -> None:
    prom.failure = (400, 'parse error: unexpected "}"')
    with pytest.raises(MetricsQueryInvalid) as refused:  # the query's fault: fix the config
        ask(rates(prom))
    assert str(refused.value) == (
        'Prometheus refused the error-rate query (bad_data): parse error: unexpected "}"'
    )
    assert len(prom.queries) == 1  # a bad query is not retried


def test_a_server_error_is_tried_once_more_then_reported(prom: PrometheusStandIn) -> None:
    prom.failure = (503, "query timed out")
    with pytest.raises(MetricsUnavailable, match=r"\(execution\): query timed out") as down:
        ask(rates(prom))
    assert not isinstance(down.value, MetricsQueryInvalid)  # Prometheus's fault, not the query's
    assert len(prom.queries) == 2


def test_the_bearer_token_is_sent_and_a_refusal_names_the_variable() -> None:
    with PrometheusStandIn({NS: 0.03}, token="s3cret") as prom:
        assert ask(rates(prom, token="s3cret")) == 0.03
        assert prom.authorizations == ["Bearer s3cret"]
        with pytest.raises(
            MetricsUnavailable, match="refused rollbot \\(401\\); check PROMETHEUS_TOKEN"
        ):
            ask(rates(prom, token="wrong"))


def test_an_unreachable_server_is_reported_with_its_address() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    source = PrometheusErrorRates(f"http://127.0.0.1:{port}", QUERY, timeout=1.0)
    with pytest.raises(
        MetricsUnavailable, match=f"Prometheus at http://127.0.0.1:{port} could not"
    ):
        ask(source)


def test_a_longer_placeholder_is_never_cut_by_a_shorter_one() -> None:
    query = 'x{namespace="$namespace",deployment="$deployment"}[$window]'
    filled = fill_query(query, namespace="tenant-a", deployment="web", window_seconds=60)
    assert filled == 'x{namespace="tenant-a",deployment="web"}[60s]'
