"""The cluster work for one tenant (or one blue-green side): update it, roll it back, judge
its health. Each function blocks, runs on a worker thread, and returns a TargetResult; a
failure of the cluster becomes a failed result with the reason, never an exception.

Crash safety lives in `update` and `roll_back`: they look at the deployment first and
patch only when its image is not yet the one wanted, so running them again after a restart
(the target was recorded UPDATING or ROLLING_BACK) never patches a tenant twice. The look
is preflight's read when this process made it and the tenant is on its first attempt (its
image was not the one wanted then, so patching is right whatever happened since); a
restarted process, or a retry, reads the deployment afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field, replace
from typing import Generic, Protocol, TypeVar

from rollout.errors import RollbotError
from rollout.health import MetricReading, Observation, judge, observed_latency
from rollout.machine import TargetResult
from rollout.model import AppSpec, HealthSpec, Rollout
from rollout.ports import (
    Cluster,
    DeploymentInfo,
    ErrorRates,
    FailFast,
    HelmRevision,
    RolloutOutcome,
    RolloutStatus,
)

log = logging.getLogger("rollbot.engine")

WAIT_SLICE_SECONDS = 2.0  # a long rollout wait is cut in slices so a shutdown is heard
# A latency baseline measured ahead (see `look_ahead`) is used when it was asked for at
# most this long before its tenant's turn; past an approval gate it is measured again.
LOOK_AHEAD_SECONDS = 60.0


class Stopped(Exception):
    """The engine is shutting down: drop this work, as a crash would, and tell no one."""


V = TypeVar("V")
R = TypeVar("R")


class Queue(Protocol):
    def ahead(self, fn: Callable[[str], R], items: Sequence[str]) -> list[Future[R]]: ...


@dataclass(frozen=True)
class Ahead:
    """A latency baseline being measured ahead of its tenant's turn, and when it was asked."""

    baseline: Future[float | None]
    asked_at: float


@dataclass
class PerTarget(Generic[V]):
    """Values per (rollout, namespace), kept in memory only: after a restart they are gone,
    and whoever used them does without (reads the deployment again)."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _values: dict[tuple[int, str], V] = field(default_factory=dict)

    def put(self, rollout_id: int, namespace: str, value: V | None) -> None:
        if value is None:
            return
        with self._lock:
            self._values[(rollout_id, namespace)] = value

    def take(self, rollout_id: int, namespace: str) -> V | None:
        """The value, once: a second attempt at the same work finds nothing."""
        with self._lock:
            return self._values.pop((rollout_id, namespace), None)

    def forget(self, rollout_id: int) -> None:
        with self._lock:
            for key in [k for k in self._values if k[0] == rollout_id]:
                del self._values[key]

    def move(self, from_id: int, to_id: int) -> None:
        """Values kept under `from_id` (a draft's) are now `to_id`'s."""
        with self._lock:
            for key in [k for k in self._values if k[0] == from_id]:
                self._values[(to_id, key[1])] = self._values.pop(key)


@dataclass
class PreflightReads:
    """What the engine keeps of a rollout between its steps, in memory only: `reads`, each
    tenant's deployment as preflight read it, and `releases`, a helm app's release status
    as preflight read it; `baselines`, the latency baselines of the next batch, measured
    while the batch before it runs. (Baselines in use are journalled on their targets,
    so they outlive a restart.)"""

    reads: PerTarget[DeploymentInfo] = field(default_factory=PerTarget)
    releases: PerTarget[HelmRevision] = field(default_factory=PerTarget)
    baselines: PerTarget[Ahead] = field(default_factory=PerTarget)

    def forget(self, rollout_id: int) -> None:
        self.reads.forget(rollout_id)
        self.releases.forget(rollout_id)
        self.baselines.forget(rollout_id)


@dataclass
class TargetSteps:
    """Everything one tenant's work needs, shared by all of them. `fail_fast` says when a
    rollout wait stops early on new pods that will not come up (the tenant then fails as on
    a timeout, sooner). `error_rates`, when set, answers the error rate in place of the
    pods' logs. `look_ahead_seconds`: how old a baseline measured ahead may be (see
    `look_ahead`)."""

    cluster: Cluster
    health: HealthSpec
    remembered: PreflightReads
    stopping: threading.Event
    fail_fast: FailFast = field(default_factory=FailFast)
    error_rates: ErrorRates | None = None
    look_ahead_seconds: float = LOOK_AHEAD_SECONDS

    def check_stop(self) -> None:
        if self.stopping.is_set():
            raise Stopped()

    # --- the three kinds of work ----------------------------------------------------------

    def update(self, rollout: Rollout, *, spec: AppSpec, namespace: str) -> TargetResult:
        """Put the tenant on the rollout's image unless it is there, wait, and judge it."""
        return self._guarded(namespace, lambda: self._update(rollout, spec, namespace))

    def roll_back(self, rollout: Rollout, *, spec: AppSpec, namespace: str) -> TargetResult:
        """Set the container back to the image recorded before the change, and wait."""
        return self._guarded(namespace, lambda: self._roll_back(rollout, spec, namespace))

    def check(
        self, rollout: Rollout, *, namespace: str, deployment: str, wait: bool
    ) -> TargetResult:
        """Judge health now; with `wait`, first wait for the deployment to roll out."""
        return self._guarded(
            namespace, lambda: self._check(rollout, namespace, deployment=deployment, wait=wait)
        )

    def measure_baseline(
        self, rollout: Rollout, *, namespace: str, deployment: str
    ) -> float | None:
        """Latency of the running version, before anything changes; best effort. Returned
        with the result of the work that measured it, so the journal keeps it on the
        target for the checks that follow."""
        if rollout.settings.latency_factor is None:
            return None
        try:
            stats = self.cluster.log_stats(
                namespace, deployment, since_seconds=self.health.log_window_seconds
            )
        except RollbotError as err:
            log.info("no latency baseline for %s: %s", namespace, err)
            return None
        return observed_latency(Observation(logs=stats))

    def look_ahead(
        self, rollout: Rollout, *, spec: AppSpec, namespaces: Sequence[str], pool: Queue
    ) -> None:
        """Start measuring the latency baselines of `namespaces`, the next batch, behind
        the work of this one. Each tenant still waits a full read of its logs before its
        patch otherwise, and those reads would lengthen every batch by one round trip;
        measured now, while this batch waits for its pods, they are ready when it ends."""
        if rollout.settings.latency_factor is None or not namespaces:
            return
        deployment = spec.deployment
        asked = pool.ahead(
            lambda ns: self.measure_baseline(rollout, namespace=ns, deployment=deployment),
            namespaces,
        )
        now = time.monotonic()
        for namespace, baseline in zip(namespaces, asked, strict=False):
            self.remembered.baselines.put(rollout.id, namespace, Ahead(baseline, now))

    def _baseline(self, rollout: Rollout, *, namespace: str, deployment: str) -> float | None:
        """The latency before the change: measured ahead if that was recent, else now."""
        ahead = self.remembered.baselines.take(rollout.id, namespace)
        if ahead is not None and time.monotonic() - ahead.asked_at <= self.look_ahead_seconds:
            try:
                measured = ahead.baseline.result()
            except CancelledError:  # dropped by a shutdown before it began
                raise Stopped() from None
            if measured is not None:
                return measured
        return self.measure_baseline(rollout, namespace=namespace, deployment=deployment)

    # --- how ------------------------------------------------------------------------------

    def _guarded(self, namespace: str, work: Callable[[], TargetResult]) -> TargetResult:
        """The work's result, timed: a tenant's line says how long its own work took,
        not how long its whole batch did."""
        started = time.monotonic()
        return replace(self._caught(namespace, work), seconds=time.monotonic() - started)

    def _caught(self, namespace: str, work: Callable[[], TargetResult]) -> TargetResult:
        try:
            return work()
        except Stopped:
            raise
        except RollbotError as err:
            return TargetResult(namespace, False, str(err) or type(err).__name__)
        except Exception as err:  # a bug must fail one tenant, not hang the rollout
            log.exception("unexpected error working on %s", namespace)
            return TargetResult(namespace, False, f"internal error: {type(err).__name__}: {err}")

    def _update(self, rollout: Rollout, spec: AppSpec, namespace: str) -> TargetResult:
        want = rollout.target_image
        info = self.remembered.reads.take(rollout.id, namespace)
        if info is None or info.image in ("", want):
            info = self.cluster.read_deployment(
                namespace, spec.deployment, container=spec.container
            )
        if not info.image:
            missing = f"{spec.deployment} has no container {spec.container}"
            return TargetResult(namespace, False, missing)
        generation = info.generation
        baseline = None
        if info.image != want:
            baseline = self._baseline(rollout, namespace=namespace, deployment=spec.deployment)
            self.check_stop()
            generation = self.cluster.set_image(
                namespace, spec.deployment, container=spec.container, image=want
            )
        result = self._check(
            rollout,
            namespace,
            deployment=spec.deployment,
            wait=True,
            generation=generation,
            baseline=baseline,
        )
        return replace(result, baseline_latency_ms=baseline)

    def _roll_back(self, rollout: Rollout, spec: AppSpec, namespace: str) -> TargetResult:
        previous = rollout.target(namespace).previous_image
        if not previous:
            return TargetResult(namespace, False, "no previous image was recorded")
        info = self.cluster.read_deployment(namespace, spec.deployment, container=spec.container)
        generation = info.generation
        if info.image != previous:
            self.check_stop()
            generation = self.cluster.set_image(
                namespace, spec.deployment, container=spec.container, image=previous
            )
        timeout = float(rollout.settings.rollout_timeout_seconds)
        status = self.wait_rollout(
            namespace,
            spec.deployment,
            timeout=timeout,
            min_generation=generation,
            crashloop_restarts=rollout.settings.crashloop_restarts,
        )
        if status.outcome is RolloutOutcome.COMPLETE:
            return TargetResult(namespace, True)
        return TargetResult(namespace, False, f"{status.outcome.value}: {status.message}")

    def _check(
        self,
        rollout: Rollout,
        namespace: str,
        *,
        deployment: str,
        wait: bool,
        generation: int = 0,
        baseline: float | None = None,
    ) -> TargetResult:
        """`baseline`: latency just measured by this same work, not journalled yet; else
        the one the journal keeps on the target is used."""
        timeout = float(rollout.settings.rollout_timeout_seconds)
        status = None
        if wait:
            status = self.wait_rollout(
                namespace,
                deployment,
                timeout=timeout,
                min_generation=generation,
                crashloop_restarts=rollout.settings.crashloop_restarts,
            )
        self.check_stop()
        health = self.health
        seen = self.cluster.health_snapshot(
            namespace,
            deployment,
            port=health.port,
            paths=(health.path, health.ready_path),
            since_seconds=health.log_window_seconds,
        )
        if seen.logs is None:
            # Logs are evidence, not a verdict: unread, the rate goes unjudged (the verdict
            # notes it) rather than failing a tenant whose probes are fine.
            log.warning("could not read logs of %s/%s: %s", namespace, deployment, seen.log_error)
        obs = Observation(
            status=status,
            pods=seen.pods,
            health_probes=seen.answers(health.path),
            ready_probes=seen.answers(health.ready_path),
            logs=seen.logs,
            baseline_latency_ms=_journalled(rollout, namespace) if baseline is None else baseline,
            timeout_seconds=timeout if wait else None,
            metrics=self._metrics(namespace, deployment),
        )
        verdict = judge(
            obs,
            version=rollout.version,
            error_rate_threshold=rollout.settings.error_rate,
            latency_factor=rollout.settings.latency_factor,
        )
        return TargetResult(namespace, verdict.healthy, verdict.reason)

    def _metrics(self, namespace: str, deployment: str) -> MetricReading | None:
        """The error rate from the metrics system; None (judge from the logs) when there
        is none, or when it cannot answer now: a metrics outage must not fail a release
        whose own signals are fine."""
        if self.error_rates is None:
            return None
        try:
            rate = self.error_rates.error_rate(
                namespace, deployment, window_seconds=self.health.log_window_seconds
            )
        except RollbotError as err:
            log.warning("%s; judging %s by its logs", err, namespace)
            return None
        return MetricReading(self.error_rates.source, rate)

    def wait_rollout(
        self,
        namespace: str,
        deployment: str,
        *,
        timeout: float,
        min_generation: int,
        crashloop_restarts: int,
    ) -> RolloutStatus:
        """`rollout status` with the rollout's timeout, in slices so a shutdown is heard;
        each slice tells the cluster how long the wait has lasted, so that its looks at the
        new pods are spaced over the whole wait."""
        started = time.monotonic()
        deadline = started + timeout
        waited = 0.0  # exactly 0 on the first slice: a new wait, not one going on
        fail_fast = replace(self.fail_fast, crashloop_restarts=crashloop_restarts)
        while True:
            self.check_stop()
            left = deadline - time.monotonic()
            step = max(0.05, min(left, WAIT_SLICE_SECONDS))
            status = self.cluster.wait_rollout(
                namespace,
                deployment,
                timeout=step,
                min_generation=min_generation,
                fail_fast=fail_fast,
                waited=waited,
            )
            if status.outcome is not RolloutOutcome.TIMED_OUT or left <= step:
                return status
            waited = time.monotonic() - started


def _journalled(rollout: Rollout, namespace: str) -> float | None:
    """The latency measured before the change, as the journal keeps it on the target."""
    kept = [t.baseline_latency_ms for t in rollout.targets if t.namespace == namespace]
    return kept[0] if kept else None
