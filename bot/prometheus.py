"""Error rates from Prometheus: the :class:`rollout.ports.ErrorRates` port over its HTTP API.

`health.prometheus` in rollbot.yaml gives the server and one PromQL query per tenant, with
`$namespace`, `$deployment` and `$window` (the health log window, e.g. `300s`) filled in
before it is sent to `GET /api/v1/query`. The query must come down to one number: the
share of failed requests, between 0 and 1. No traffic (an empty answer, or NaN from 0/0)
leaves the rate unjudged. `PROMETHEUS_TOKEN`, when set, is sent as a bearer token.

Every failure is a :class:`rollout.errors.MetricsUnavailable` that says what went wrong in
words an operator can act on; the engine then judges the tenant by its logs instead.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import requests

from bot.config import PrometheusConfig
from rollout.errors import MetricsQueryInvalid, MetricsUnavailable

TOKEN_ENV = "PROMETHEUS_TOKEN"
RETRY_PAUSE_SECONDS = 0.5  # one more try after a dropped connection or a 5xx


def fill_query(query: str, *, namespace: str, deployment: str, window_seconds: int) -> str:
    """The query for one tenant. `$deployment` goes first: `$namespace` is not a prefix of
    it, but a longer name replaced first can never be cut by a shorter one."""
    return (
        query.replace("$deployment", deployment)
        .replace("$namespace", namespace)
        .replace("$window", f"{window_seconds}s")
    )


class PrometheusErrorRates:
    """Implements :class:`rollout.ports.ErrorRates`. Safe to share between threads."""

    source = "Prometheus"

    def __init__(
        self,
        url: str,
        query: str,
        *,
        timeout: float = 10.0,
        token: str | None = None,
        attempts: int = 2,
    ) -> None:
        self.url = url.rstrip("/")
        self.query = query
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_config(cls, config: PrometheusConfig) -> PrometheusErrorRates:
        return cls(
            config.url,
            config.error_rate_query,
            timeout=float(config.timeout),
            token=os.environ.get(TOKEN_ENV) or None,
        )

    def error_rate(self, namespace: str, deployment: str, *, window_seconds: int) -> float | None:
        promql = fill_query(
            self.query, namespace=namespace, deployment=deployment, window_seconds=window_seconds
        )
        data = self._query(promql)
        return _one_share(data, namespace=namespace)

    # --- HTTP -------------------------------------------------------------------------------

    def _query(self, promql: str) -> Any:
        endpoint = f"{self.url}/api/v1/query"
        for attempt in range(self.attempts):
            last = attempt + 1 >= self.attempts
            try:
                answer = requests.get(
                    endpoint, params={"query": promql}, headers=self._headers, timeout=self.timeout
                )
            except requests.RequestException as err:
                if last:
                    raise MetricsUnavailable(
                        f"Prometheus at {self.url} could not be reached: {_short(err)}"
                    ) from None
                time.sleep(RETRY_PAUSE_SECONDS)
                continue
            if answer.status_code >= 500 and not last:
                time.sleep(RETRY_PAUSE_SECONDS)
                continue
            return self._data(answer)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _data(self, answer: requests.Response) -> Any:
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise MetricsUnavailable(
                f"Prometheus at {self.url} answered {answer.status_code} without a JSON body"
            )
        if answer.status_code in {401, 403}:
            raise MetricsUnavailable(
                f"Prometheus at {self.url} refused rollbot ({answer.status_code}); "
                f"check {TOKEN_ENV}"
            )
        if body.get("status") != "success":
            kind = body.get("errorType") or f"HTTP {answer.status_code}"
            error = body.get("error") or "no reason given"
            # bad_data (400) and 422 are the query's own fault; the rest is Prometheus's.
            wrong = kind == "bad_data" or answer.status_code in {400, 422}
            refused = MetricsQueryInvalid if wrong else MetricsUnavailable
            raise refused(f"Prometheus refused the error-rate query ({kind}): {error}")
        return body.get("data")


def _one_share(data: Any, *, namespace: str) -> float | None:
    """The single number of an instant query's answer, checked to be a share."""
    if not isinstance(data, dict):
        raise MetricsUnavailable("Prometheus answered the error-rate query without data")
    kind, result = data.get("resultType"), data.get("result")
    sample: Any = None
    if kind == "scalar":
        sample = result
    elif kind == "vector" and isinstance(result, list):
        if not result:
            return None  # no series: no traffic in the window
        if len(result) > 1:
            raise MetricsQueryInvalid(
                f"the error-rate query gave {len(result)} series for {namespace}; it must "
                "give one number (wrap it in sum(...))"
            )
        sample = result[0].get("value") if isinstance(result[0], dict) else None
    else:
        raise MetricsQueryInvalid(
            f"the error-rate query gave a {kind or 'malformed'} result; it must give one number"
        )
    try:
        value = float(sample[1])  # [timestamp, "value"]
    except (TypeError, ValueError, IndexError):
        missing = "Prometheus answered the error-rate query without a number"
        raise MetricsUnavailable(missing) from None
    if math.isnan(value):
        return None  # 0/0: no requests at all
    if not 0.0 <= value <= 1.0:
        hint = "; divide by 100 if it is a percentage" if 1.0 < value <= 100.0 else ""
        raise MetricsQueryInvalid(
            f"the error-rate query gave {value:g} for {namespace}, not a share between 0 and 1"
            + hint
        )
    return value


def _short(err: Exception) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) <= 160 else text[:159] + "…"
