"""`GET /metrics`: what operators graph and alert on, in Prometheus' text format.

Written by hand (the format is a few lines of text) rather than adding a client library:
rollouts by phase, tenants updated and failed, calls to Slack, Kubernetes and Prometheus
with their errors, and how fast Slack's requests were acknowledged (a histogram, since the 3-second
deadline is what matters). Everything is thread-safe: the engine's worker threads, the
event loop and the scrape all touch it.
"""

from __future__ import annotations

import bisect
import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rollout.model import EventKind, Rollout, RolloutEvent
from rollout.outcomes import outcomes

if TYPE_CHECKING:
    from bot.kube.wire import Limits, ThrottleStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
ACK_DEADLINE = 3.0

Labels = tuple[tuple[str, str], ...]

_HELP: Mapping[str, tuple[str, str]] = {
    "rollbot_rollouts": ("gauge", "Rollouts this process knows of, by their latest phase."),
    "rollbot_rollouts_finished_total": ("counter", "Rollouts that ended, by outcome."),
    "rollbot_tenants_updated_total": ("counter", "Tenants updated and healthy."),
    "rollbot_tenants_failed_total": ("counter", "Tenant updates that failed."),
    "rollbot_slack_calls_total": ("counter", "Slack Web API calls, by method."),
    "rollbot_slack_errors_total": ("counter", "Slack Web API calls that failed, by method."),
    "rollbot_kubernetes_calls_total": ("counter", "Kubernetes operations, by operation."),
    "rollbot_kubernetes_errors_total": ("counter", "Kubernetes operations that failed."),
    "rollbot_prometheus_calls_total": ("counter", "Error-rate queries to Prometheus."),
    "rollbot_prometheus_errors_total": (
        "counter",
        "Error-rate queries Prometheus could not answer (judged by logs instead).",
    ),
    "rollbot_slack_requests_total": ("counter", "Requests from Slack, by kind."),
    "rollbot_slack_requests_refused_total": (
        "counter",
        "HTTP requests refused before any handler saw them, by reason.",
    ),
    "rollbot_slack_acks_late_total": ("counter", "Acknowledgements slower than 3 seconds."),
    "rollbot_ack_seconds": ("histogram", "Time from a Slack request to its acknowledgement."),
    "rollbot_up": ("gauge", "1 while the bot is serving."),
    "rollbot_slack_outbox": ("gauge", "Slack messages in the delivery's journal, by status."),
    "rollbot_kubernetes_limit": (
        "gauge",
        "The configured limits towards the API server (max_in_flight, qps, burst).",
    ),
    "rollbot_kubernetes_in_flight": ("gauge", "Requests to the API server awaiting answers now."),
    "rollbot_kubernetes_in_flight_peak": (
        "gauge",
        "The most requests to the API server that were in flight at once.",
    ),
    "rollbot_kubernetes_throttled_total": (
        "counter",
        "Requests held back: by the in-flight limit (slot), the rate limit (rate), or "
        "a server's 429 that paused every request (server).",
    ),
}


def _labels(labels: Mapping[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Histogram:
    def __init__(self, buckets: Iterable[float]) -> None:
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding the q-quantile (inf past the last bucket)."""
        rank = q * self.count
        seen = 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            seen += n
            if seen >= rank and seen > 0:
                return bound
        return 0.0


class Metrics:
    """Counters, gauges and histograms behind one lock, rendered on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, Histogram]] = {}
        self._phases: dict[int, str] = {}  # rollout id -> latest phase
        self._kubernetes: tuple[Limits, ThrottleStats] | None = None

    def inc(self, name: str, labels: Mapping[str, str] | None = None, by: float = 1) -> None:
        key = _labels(labels)
        with self._lock:
            series = self._values.setdefault(name, {})
            series[key] = series.get(key, 0) + by

    def set(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        with self._lock:
            self._values.setdefault(name, {})[_labels(labels)] = value

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        with self._lock:
            return self._values.get(name, {}).get(_labels(labels), 0)

    def observe(
        self,
        name: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        *,
        buckets: Iterable[float] = ACK_BUCKETS,
    ) -> None:
        key = _labels(labels)
        with self._lock:
            series = self._histograms.setdefault(name, {})
            series.setdefault(key, Histogram(buckets)).observe(value)

    def histogram(self, name: str, labels: Mapping[str, str] | None = None) -> Histogram | None:
        with self._lock:
            return self._histograms.get(name, {}).get(_labels(labels))

    # --- what rollbot measures --------------------------------------------------------------

    def observe_ack(self, seconds: float, *, kind: str) -> None:
        """One Slack request acknowledged after `seconds`; kind is command, action, ..."""
        self.inc("rollbot_slack_requests_total", {"kind": kind})
        self.observe("rollbot_ack_seconds", seconds, {"kind": kind})
        if seconds > ACK_DEADLINE:
            self.inc("rollbot_slack_acks_late_total", {"kind": kind})

    def count_refusal(self, reason: str) -> None:
        """One HTTP request refused by the signature check (`unverified` among the kinds)."""
        self.inc("rollbot_slack_requests_total", {"kind": "unverified"})
        self.inc("rollbot_slack_requests_refused_total", {"reason": reason})

    def count_call(self, system: str, operation: str, *, ok: bool) -> None:
        """One call to `slack`, `kubernetes` or `prometheus`; failed ones also count as
        errors."""
        self.inc(f"rollbot_{system}_calls_total", {"operation": operation})
        if not ok:
            self.inc(f"rollbot_{system}_errors_total", {"operation": operation})

    def track_rollouts(self, rollouts: Iterable[Rollout]) -> None:
        """Seed the phase gauge from the journal (at start-up)."""
        with self._lock:
            for rollout in rollouts:
                self._phases[rollout.id] = rollout.phase.value

    def publish(self, event: RolloutEvent) -> None:
        """The Listener port: the engine tells us what happened."""
        rollout = event.rollout
        with self._lock:
            self._phases[rollout.id] = rollout.phase.value
        if event.kind is EventKind.BATCH_DONE and event.batch is not None:
            # As the batch result counts them: a roll back begun since changes nothing.
            counted = outcomes(rollout.batch(event.batch))
            self.inc("rollbot_tenants_updated_total", by=counted.updated)
            self.inc("rollbot_tenants_failed_total", by=len(counted.failed))
        if event.kind in _ENDINGS:
            self.inc("rollbot_rollouts_finished_total", {"outcome": rollout.phase.value})

    def watch_kubernetes(self, limits: Limits, stats: ThrottleStats) -> None:
        """Show the Kubernetes request limits and how they are holding, read at each
        scrape from the adapter's own counters."""
        self._kubernetes = (limits, stats)

    def _kubernetes_gauges(self) -> None:
        if self._kubernetes is None:
            return
        limits, stats = self._kubernetes
        for name, value in (
            ("max_in_flight", limits.max_in_flight),
            ("qps", limits.qps),
            ("burst", limits.burst),
        ):
            self.set("rollbot_kubernetes_limit", value, {"limit": name})
        self.set("rollbot_kubernetes_in_flight", stats.in_flight)
        self.set("rollbot_kubernetes_in_flight_peak", stats.peak_in_flight)
        for reason, count in (
            ("slot", stats.waited_for_slot),
            ("rate", stats.waited_for_rate),
            ("server", stats.paused_by_server),
        ):
            self.set("rollbot_kubernetes_throttled_total", count, {"reason": reason})

    # --- the text format ----------------------------------------------------------------------

    def render(self) -> str:
        self._kubernetes_gauges()
        with self._lock:
            phases: dict[str, int] = {}
            for phase in self._phases.values():
                phases[phase] = phases.get(phase, 0) + 1
            values = {name: dict(series) for name, series in self._values.items()}
            for phase, count in phases.items():
                values.setdefault("rollbot_rollouts", {})[(("phase", phase),)] = count
            lines: list[str] = []
            for name in sorted(set(values) | set(self._histograms)):
                kind, text = _HELP.get(name, ("untyped", name))
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                for labels, value in sorted(values.get(name, {}).items()):
                    lines.append(f"{name}{_format_labels(labels)} {_number(value)}")
                for labels, hist in sorted(self._histograms.get(name, {}).items()):
                    lines += _histogram_lines(name, labels, hist)
        return "\n".join(lines) + "\n"


_ENDINGS = frozenset(
    {
        EventKind.COMPLETED,
        EventKind.ROLLED_BACK,
        EventKind.CANCELLED,
        EventKind.EXPIRED,
        EventKind.REFUSED,
    }
)


def _histogram_lines(name: str, labels: Labels, hist: Histogram) -> list[str]:
    lines = []
    cumulative = 0
    for bound, n in zip((*hist.bounds, float("inf")), hist.counts, strict=True):
        cumulative += n
        le = "+Inf" if bound == float("inf") else _number(bound)
        lines.append(f"{name}_bucket{_format_labels((*labels, ('le', le)))} {cumulative}")
    lines.append(f"{name}_sum{_format_labels(labels)} {_number(hist.sum)}")
    lines.append(f"{name}_count{_format_labels(labels)} {hist.count}")
    return lines


# --- counting calls ---------------------------------------------------------------------------


class CountingProxy:
    """Wraps a port (the Cluster, the error rates) so each method call is counted under
    `system`."""

    def __init__(self, target: object, metrics: Metrics, *, system: str = "kubernetes") -> None:
        self._target = target
        self._metrics = metrics
        self._system = system

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name.startswith("_") or not callable(attr):
            return attr
        return _counted(attr, self._metrics, system=self._system, operation=name)


def _counted(
    fn: Callable[..., Any], metrics: Metrics, *, system: str, operation: str
) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        ok = False
        try:
            result = fn(*args, **kwargs)
            ok = True
            return result
        finally:
            metrics.count_call(system, operation, ok=ok)

    return call


class AckTimer:
    """Times one request from arrival to acknowledgement."""

    def __init__(self, metrics: Metrics, kind: str) -> None:
        self._metrics = metrics
        self._kind = kind
        self._started = time.perf_counter()

    def done(self) -> float:
        elapsed = time.perf_counter() - self._started
        self._metrics.observe_ack(elapsed, kind=self._kind)
        return elapsed
