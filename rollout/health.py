"""Is a tenant (or a blue-green side) healthy? Observations in, a verdict with reasons out.

The rules are those of SPEC section 4: rolled out, pods Running and ready, health and ready
endpoints answering as they should, error rate under the threshold (counted from pod logs,
or answered by Prometheus when one is configured), latency within a factor of the
baseline. Each failed rule adds a short, specific reason that ends up in a
Slack thread, so it names the pod, the path or the number that was wrong.

Pure: no I/O, stdlib and ``rollout.*`` only. Collecting observations is the Cluster
port's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rollout.options import format_duration
from rollout.ports import LogStats, PodState, ProbeResult, RolloutOutcome, RolloutStatus

_SHOWN = 3  # reasons of one kind listed before "and N more"
_TEXT_LIMIT = 60  # characters of an app's own answer quoted in a reason


@dataclass(frozen=True)
class Observation:
    """What was seen of one tenant. `status` None: the rollout was not waited on this time
    (a check during a monitor window). `timeout_seconds` is how long that wait allowed."""

    status: RolloutStatus | None = None
    pods: Sequence[PodState] = ()
    health_probes: Sequence[ProbeResult] = ()
    ready_probes: Sequence[ProbeResult] = ()
    logs: LogStats | None = None
    baseline_latency_ms: float | None = None
    timeout_seconds: float | None = None
    metrics: MetricReading | None = None  # when given, the error rate comes from here


@dataclass(frozen=True)
class MetricReading:
    """An error rate a metrics system answered: `rate` None when it saw no traffic."""

    source: str  # "Prometheus"
    rate: float | None


@dataclass(frozen=True)
class Verdict:
    """`notes` explain what was not judged (too few requests, no logs); they never fail."""

    healthy: bool
    reasons: tuple[str, ...] = ()
    error_rate: float | None = None  # the share the verdict rests on, None when not judged
    latency_ms: float | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.healthy == bool(self.reasons):
            raise ValueError("a verdict is healthy exactly when it has no reasons")

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def judge(
    obs: Observation,
    *,
    version: str,
    error_rate_threshold: float,
    latency_factor: float | None,
    min_requests: int = 20,
) -> Verdict:
    """Apply every rule and collect every failure; an error rate exactly at the threshold
    passes, as in the guide's auto-rollback script, which fails only above it."""
    reasons = _rollout_reasons(obs)
    reasons += _pod_reasons(obs.pods)
    if obs.pods and not obs.health_probes:
        reasons.append("health endpoint not probed")
    reasons += _limited(_health_problem(p, version) for p in obs.health_probes)
    reasons += _limited(_ready_problem(p) for p in obs.ready_probes)
    notes: list[str] = []
    if obs.metrics is not None:
        rate, source = obs.metrics.rate, f" ({obs.metrics.source})"
        if rate is None:
            notes.append(f"no requests seen by {obs.metrics.source}; error rate not judged")
    else:
        rate, source = _error_rate(obs.logs, min_requests=min_requests, notes=notes), ""
    if rate is not None and rate > error_rate_threshold:
        reasons.append(f"error rate {rate:.1%} over {error_rate_threshold:.1%}{source}")
    latency = observed_latency(obs)
    reasons += _latency_reasons(latency, baseline=obs.baseline_latency_ms, factor=latency_factor)
    if obs.status is not None and obs.status.message:
        notes.append(obs.status.message)
    return Verdict(
        healthy=not reasons,
        reasons=tuple(reasons),
        error_rate=rate,
        latency_ms=latency,
        notes=tuple(notes),
    )


def observed_latency(obs: Observation) -> float | None:
    """Mean latency of real traffic from the logs, else of the health probes that answered.

    Measure the baseline with this same function before the change, so the two compare.
    """
    if obs.logs is not None and obs.logs.mean_latency_ms is not None:
        return obs.logs.mean_latency_ms
    answered = [p.latency_ms for p in obs.health_probes if p.status]
    return sum(answered) / len(answered) if answered else None


def _rollout_reasons(obs: Observation) -> list[str]:
    if obs.status is None or obs.status.outcome is RolloutOutcome.COMPLETE:
        return []
    if obs.status.outcome is RolloutOutcome.DEADLINE_EXCEEDED:
        return ["progress deadline exceeded"]
    if obs.status.outcome is RolloutOutcome.FAILING:
        # The message names the pod and what it is stuck on: the reason to stop waiting.
        return [f"rollout stopped early: {obs.status.message or 'new pods cannot start'}"]
    if obs.timeout_seconds is None:
        return ["rollout timed out"]
    return [f"rollout timed out after {format_duration(obs.timeout_seconds)}"]


def _pod_reasons(pods: Sequence[PodState]) -> list[str]:
    if not pods:
        return ["no pods"]
    problems = []
    for pod in pods:
        because = f": {pod.reason}" if pod.reason else ""
        if pod.phase != "Running":
            problems.append(f"pod {pod.name} is {pod.phase or 'in no phase'}{because}")
        elif not pod.ready:
            problems.append(f"pod {pod.name} not ready{because}")
    return _limited(problems)


def _health_problem(probe: ProbeResult, version: str) -> str:
    path = probe.path or "health endpoint"
    problem = _answer_problem(probe, path)
    if problem or probe.body is None:
        return problem
    if "status" not in probe.body:
        return f"{path} answered without a status"
    status = probe.body["status"]
    if status != "ok":
        return f"{path} says status {_quote(status)}, expected ok"
    found = probe.body.get("version")
    if found is not None and found != version:
        return f"version {_quote(found, bare=True)}, expected {version}"
    return ""


def _ready_problem(probe: ProbeResult) -> str:
    path = probe.path or "ready endpoint"
    problem = _answer_problem(probe, path)
    if problem or probe.body is None:
        return problem
    if "ready" not in probe.body:
        return f"{path} answered without ready"
    if probe.body["ready"] is not True:
        return f"{path} says not ready (ready: {_quote(probe.body.get('ready'))})"
    return ""


def _answer_problem(probe: ProbeResult, path: str) -> str:
    """What is wrong before the body is even read: no answer, a bad status, not JSON."""
    if probe.status == 0:
        why = f": {_quote(probe.error, bare=True)}" if probe.error else ""
        return f"{path} unreachable on pod {probe.pod}{why}"
    if probe.status != 200:
        return f"{path} answered {probe.status}"
    if not isinstance(probe.body, Mapping):
        return f"{path} answered 200 without a JSON object"
    return ""


def _error_rate(logs: LogStats | None, *, min_requests: int, notes: list[str]) -> float | None:
    if logs is None:
        notes.append("no logs read; error rate not judged")
        return None
    if logs.http_lines < max(1, min_requests):
        notes.append(f"only {logs.http_lines} requests in the logs; error rate not judged")
        return None
    return logs.error_lines / logs.http_lines


def _latency_reasons(
    latency: float | None, *, baseline: float | None, factor: float | None
) -> list[str]:
    if latency is None or baseline is None or factor is None or baseline <= 0:
        return []
    if latency <= factor * baseline:
        return []
    return [f"latency {latency:.0f} ms over {factor:g}x the baseline of {baseline:.0f} ms"]


def _limited(problems: Iterable[str]) -> list[str]:
    """Distinct problems in order, at most a few, so fifty broken pods make one line each
    for the first three and a count for the rest."""
    unique = [p for p in dict.fromkeys(problems) if p]
    if len(unique) <= _SHOWN:
        return unique
    return [*unique[:_SHOWN], f"and {len(unique) - _SHOWN} more like these"]


def _quote(value: object, *, bare: bool = False) -> str:
    """An app's own words in a reason: shortened, and quoted unless `bare`."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    if len(text) > _TEXT_LIMIT:
        text = text[: _TEXT_LIMIT - 1] + "…"
    return text if bare or not isinstance(value, str) else f'"{text}"'
