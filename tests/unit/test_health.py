"""rollout.health: one table row per reason a tenant can be unhealthy, and the healthy case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.health import (
    MetricReading,
    Observation,
    Verdict,
    judge,
    lead_cause,
    observed_latency,
)
from rollout.ports import LogStats, PodState, ProbeResult, RolloutOutcome, RolloutStatus

VERSION = "v1.3.0"


def health(
    body: Mapping[str, object] | None = None, *, status: int = 200, pod: str = "web-1"
) -> ProbeResult:
    answer = {"status": "ok", "version": VERSION} if body is None else body
    return ProbeResult(pod=pod, path="/api/health", status=status, body=answer, latency_ms=40.0)


def ready(
    body: Mapping[str, object] | None = None, *, status: int = 200, pod: str = "web-1"
) -> ProbeResult:
    answer = {"ready": True} if body is None else body
    return ProbeResult(pod=pod, path="/api/ready", status=status, body=answer, latency_ms=10.0)


def running(name: str = "web-1") -> PodState:
    return PodState(name=name, phase="Running", ready=True, restarts=0)


GOOD = Observation(
    status=RolloutStatus(RolloutOutcome.COMPLETE, 'deployment "isp-ops-app" rolled out'),
    pods=(running(),),
    health_probes=(health(),),
    ready_probes=(ready(),),
    logs=LogStats(http_lines=100, error_lines=1, mean_latency_ms=50.0),
    baseline_latency_ms=40.0,
    timeout_seconds=300,
)


def verdict(obs: Observation, *, latency_factor: float | None = 2.0) -> Verdict:
    return judge(obs, version=VERSION, error_rate_threshold=0.05, latency_factor=latency_factor)


def test_a_healthy_tenant() -> None:
    v = verdict(GOOD)
    assert v.healthy
    assert v.reasons == ()
    assert v.reason == ""
    assert v.error_rate == 0.01
    assert v.latency_ms == 50.0
    assert v.notes == ('deployment "isp-ops-app" rolled out',)


UNREACHABLE = ProbeResult(
    pod="web-1", path="/api/health", status=0, body=None, latency_ms=0, error="connection refused"
)


@pytest.mark.parametrize(
    ("change", "reasons"),
    [
        (
            {"status": RolloutStatus(RolloutOutcome.TIMED_OUT, "0 of 1 updated replicas")},
            ["rollout timed out after 5m"],
        ),
        (
            {
                "status": RolloutStatus(RolloutOutcome.TIMED_OUT, ""),
                "timeout_seconds": None,
            },
            ["rollout timed out"],
        ),
        (
            {"status": RolloutStatus(RolloutOutcome.DEADLINE_EXCEEDED, "")},
            ["progress deadline exceeded"],
        ),
        (
            {
                "status": RolloutStatus(
                    RolloutOutcome.FAILING, "pod web-2: CrashLoopBackOff after 3 restarts"
                )
            },
            ["rollout stopped early: pod web-2: CrashLoopBackOff after 3 restarts"],
        ),
        (
            {"status": RolloutStatus(RolloutOutcome.FAILING, "")},
            ["rollout stopped early: new pods cannot start"],
        ),
        ({"pods": ()}, ["no pods"]),
        (
            {"pods": (PodState("web-1", "Running", False, 7, "CrashLoopBackOff"),)},
            ["pod web-1 not ready: CrashLoopBackOff"],
        ),
        ({"pods": (PodState("web-1", "Running", False, 0),)}, ["pod web-1 not ready"]),
        (
            {"pods": (PodState("web-1", "Pending", False, 0, "ImagePullBackOff"),)},
            ["pod web-1 is Pending: ImagePullBackOff"],
        ),
        ({"pods": (PodState("web-1", "Failed", True, 0),)}, ["pod web-1 is Failed"]),
        ({"health_probes": ()}, ["health endpoint not probed"]),
        ({"health_probes": (health(status=500),)}, ["/api/health answered 500"]),
        (
            {"health_probes": (UNREACHABLE,)},
            ["/api/health unreachable on pod web-1: connection refused"],
        ),
        (
            {"health_probes": (replace(health(), body=None),)},
            ["/api/health answered 200 without a JSON object"],
        ),
        (
            {"health_probes": (health({"status": "degraded"}),)},
            ['/api/health says status "degraded", expected ok'],
        ),
        (
            {"health_probes": (health({"version": VERSION}),)},
            ["/api/health answered without a status"],
        ),
        (
            {"health_probes": (health({"status": "ok", "version": "v1.2.3"}),)},
            ["version v1.2.3, expected v1.3.0"],
        ),
        ({"ready_probes": (ready(status=503),)}, ["/api/ready answered 503"]),
        (
            {"ready_probes": (ready({"ready": False}),)},
            ["/api/ready says not ready (ready: False)"],
        ),
        (
            {"ready_probes": (ready({"ready": "yes"}),)},
            ['/api/ready says not ready (ready: "yes")'],
        ),
        ({"ready_probes": (ready({}),)}, ["/api/ready answered without ready"]),
        (
            {"logs": LogStats(http_lines=100, error_lines=20)},
            ["error rate 20.0% over 5.0%"],
        ),
        (
            {"logs": LogStats(http_lines=100, error_lines=30, mean_latency_ms=200.0)},
            ["error rate 30.0% over 5.0%", "latency 200 ms over 2x the baseline of 40 ms"],
        ),
        (
            {"metrics": MetricReading("Prometheus", 0.12)},
            ["error rate 12.0% over 5.0% (Prometheus)"],
        ),
    ],
)
def test_each_reason(change: dict[str, object], reasons: list[str]) -> None:
    v = verdict(replace(GOOD, **change))  # type: ignore[arg-type]
    assert not v.healthy
    assert list(v.reasons) == reasons
    assert v.reason == "; ".join(reasons)


def test_a_crash_loop_leads_the_consequences_it_causes() -> None:
    # Given a tenant whose new pod crash-loops, so the old version still answers, the probes
    # fail and the rollout runs out of time: what the demo's failing tenant shows
    crashed = replace(
        GOOD,
        status=RolloutStatus(RolloutOutcome.DEADLINE_EXCEEDED, ""),
        pods=(PodState("web-1", "Running", False, 4, "CrashLoopBackOff"),),
        health_probes=(health({"status": "ok", "version": "v1.2.3"}),),
        ready_probes=(ready(status=503),),
    )

    # When it is judged
    v = verdict(crashed)

    # Then the crash loop comes first and the deadline, the wait it caused, last
    assert v.reasons == (
        "pod web-1 not ready: CrashLoopBackOff",
        f"version v1.2.3, expected {VERSION}",
        "/api/ready answered 503",
        "progress deadline exceeded",
    )
    assert lead_cause(v.reason) == ("pod web-1 not ready: CrashLoopBackOff", v.reasons[1:])


def test_a_health_answer_without_version_is_fine() -> None:
    assert verdict(replace(GOOD, health_probes=(health({"status": "ok"}),))).healthy


def test_error_rate_at_the_threshold_passes_as_in_the_guide() -> None:
    v = verdict(replace(GOOD, logs=LogStats(http_lines=100, error_lines=5)))
    assert v.healthy
    assert v.error_rate == 0.05


@pytest.mark.parametrize(
    ("metric", "logs", "healthy", "rate"),
    [
        (0.01, LogStats(http_lines=100, error_lines=50), True, 0.01),  # the metric decides
        (0.05, None, True, 0.05),  # at the threshold passes, as with logs
        (0.06, LogStats(http_lines=0, error_lines=0), False, 0.06),  # logs need not count
    ],
)
def test_an_error_rate_from_prometheus_takes_the_place_of_the_logs(
    metric: float, logs: LogStats | None, healthy: bool, rate: float
) -> None:
    v = verdict(replace(GOOD, logs=logs, metrics=MetricReading("Prometheus", metric)))
    assert v.healthy is healthy
    assert v.error_rate == rate


def test_no_traffic_seen_by_prometheus_is_a_note_not_a_failure() -> None:
    failing_logs = LogStats(http_lines=100, error_lines=90)
    v = verdict(replace(GOOD, logs=failing_logs, metrics=MetricReading("Prometheus", None)))
    assert v.healthy and v.error_rate is None
    assert "no requests seen by Prometheus; error rate not judged" in v.notes


@pytest.mark.parametrize(
    ("logs", "note"),
    [
        (LogStats(http_lines=19, error_lines=19), "only 19 requests in the logs"),
        (LogStats(http_lines=0, error_lines=3), "only 0 requests in the logs"),
        (None, "no logs read"),
    ],
)
def test_too_few_requests_is_a_note_not_a_failure(logs: LogStats | None, note: str) -> None:
    v = verdict(replace(GOOD, logs=logs))
    assert v.healthy
    assert v.error_rate is None
    assert any(n.startswith(note) for n in v.notes)


@pytest.mark.parametrize(
    ("baseline", "factor", "healthy"),
    [
        (40.0, 2.0, True),  # 50 ms against 80 ms allowed
        (20.0, 2.0, False),  # 50 ms against 40 ms allowed
        (25.0, 2.0, True),  # exactly the factor
        (20.0, None, True),  # latency not judged
        (None, 2.0, True),  # no baseline
        (0.0, 2.0, True),  # a zero baseline says nothing
    ],
)
def test_latency_against_the_baseline(
    baseline: float | None, factor: float | None, healthy: bool
) -> None:
    v = verdict(replace(GOOD, baseline_latency_ms=baseline), latency_factor=factor)
    assert v.healthy is healthy


def test_latency_falls_back_to_probes_that_answered() -> None:
    probes = (health(pod="a"), replace(health(pod="b"), latency_ms=60.0), UNREACHABLE)
    assert observed_latency(Observation(health_probes=probes)) == 50.0
    assert observed_latency(Observation(health_probes=(UNREACHABLE,))) is None


def test_many_broken_pods_make_a_short_list() -> None:
    pods = tuple(PodState(f"web-{i}", "Running", False, 3, "CrashLoopBackOff") for i in range(50))
    v = verdict(replace(GOOD, pods=pods))
    assert v.reasons == (
        "pod web-0 not ready: CrashLoopBackOff",
        "pod web-1 not ready: CrashLoopBackOff",
        "pod web-2 not ready: CrashLoopBackOff",
        "and 47 more like these",
    )


def test_the_same_answer_from_every_pod_is_said_once() -> None:
    probes = tuple(health(status=500, pod=f"web-{i}") for i in range(4))
    assert verdict(replace(GOOD, health_probes=probes)).reasons == ("/api/health answered 500",)


def test_an_apps_long_or_odd_answer_is_shortened_in_reasons() -> None:
    body = {"status": "bad\n" + "x" * 500}
    (reason,) = verdict(replace(GOOD, health_probes=(health(body),))).reasons
    assert "\n" not in reason
    assert len(reason) < 120


def test_a_status_not_judged_this_time_is_no_failure() -> None:
    assert verdict(replace(GOOD, status=None)).healthy


def test_verdicts_keep_healthy_and_reasons_in_step() -> None:
    with pytest.raises(ValueError, match="healthy exactly when"):
        Verdict(healthy=True, reasons=("x",))
    with pytest.raises(ValueError, match="healthy exactly when"):
        Verdict(healthy=False)


# --- property -----------------------------------------------------------------------------

pods = st.builds(
    PodState,
    name=st.sampled_from(["a", "b", "c"]),
    phase=st.sampled_from(["Running", "Pending", "Failed", ""]),
    ready=st.booleans(),
    restarts=st.integers(0, 5),
    reason=st.sampled_from(["", "CrashLoopBackOff", "ImagePullBackOff"]),
)
bodies: st.SearchStrategy[Mapping[str, object] | None] = st.none() | st.dictionaries(
    st.sampled_from(["status", "version", "ready"]),
    st.sampled_from(["ok", VERSION, "v0.0.1", True, False, None, 3]),
)
probes = st.builds(
    ProbeResult,
    pod=st.sampled_from(["a", "b"]),
    path=st.sampled_from(["/api/health", "/api/ready", ""]),
    status=st.sampled_from([0, 200, 200, 500]),
    body=bodies,
    latency_ms=st.floats(0, 1000),
    error=st.sampled_from(["", "timeout"]),
)
observations = st.builds(
    Observation,
    status=st.none() | st.builds(RolloutStatus, st.sampled_from(RolloutOutcome), st.text()),
    pods=st.lists(pods, max_size=4),
    health_probes=st.lists(probes, max_size=3),
    ready_probes=st.lists(probes, max_size=3),
    logs=st.none()
    | st.builds(
        LogStats,
        http_lines=st.integers(0, 1000),
        error_lines=st.integers(0, 1000),
        mean_latency_ms=st.none() | st.floats(0, 5000),
    ),
    baseline_latency_ms=st.none() | st.floats(0, 5000),
    timeout_seconds=st.none() | st.floats(0, 3600),
)


@settings(deadline=None, max_examples=300)
@given(
    obs=observations,
    threshold=st.floats(0, 1),
    factor=st.none() | st.floats(1, 5),
    min_requests=st.integers(0, 50),
)
def test_healthy_exactly_when_there_are_no_reasons(
    obs: Observation, threshold: float, factor: float | None, min_requests: int
) -> None:
    v = judge(
        obs,
        version=VERSION,
        error_rate_threshold=threshold,
        latency_factor=factor,
        min_requests=min_requests,
    )
    assert v.healthy is (not v.reasons)
    assert all(r.strip() and len(r) < 200 for r in v.reasons)
    if obs.logs is not None and v.error_rate is not None:
        assert obs.logs.http_lines >= max(1, min_requests)
