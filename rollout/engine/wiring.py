"""What an engine is built from, grouped as the ports group them, and how its parts are
put together.

`EnginePorts` is the world outside (the cluster, the journal, timers, the clock, and the
optional registry, metrics and Helm adapters); `Driving` is how this process takes part
(how many tenants at once, who it is, which rollouts it may adopt, how often it reads the
inbox). `assemble` builds the parts that run effects, so that `Engine` keeps to driving.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from rollout.engine.helm import HelmPreflight, HelmTargetSteps
from rollout.engine.preflight import Preflight
from rollout.engine.runner import Runner
from rollout.engine.tenants import LOOK_AHEAD_SECONDS, PreflightReads, TargetSteps
from rollout.engine.work import CallPool, ClusterEffects
from rollout.model import AppSpec, HealthSpec
from rollout.plan import DEFAULT_PARALLEL
from rollout.ports import (
    Clock,
    Cluster,
    ErrorRates,
    FailFast,
    HelmReleases,
    Listener,
    Registry,
    Store,
    Timers,
)


@dataclass(frozen=True)
class EnginePorts:
    """The adapters an engine runs on. `registry` checks image tags (None: not checked);
    `error_rates` (Prometheus) judges error rates in place of the pods' logs; `helm` moves
    the releases of each `strategy: helm` app, by app name."""

    cluster: Cluster
    store: Store
    timers: Timers
    clock: Clock
    registry: Registry | None = None
    error_rates: ErrorRates | None = None
    helm: Mapping[str, HelmReleases] = field(default_factory=dict)


@dataclass(frozen=True)
class Driving:
    """How this process drives rollouts. `claim(rollout_id)` takes a rollout for this
    process before the engine adopts it, False when another live process drives it (the
    composition root's lease); without it, every rollout may be adopted. With
    `poll_inbox_every` (seconds), a background thread takes other processes' requests.
    `fail_fast` says when a rollout wait gives up on new pods that will not come up."""

    max_parallel: int = DEFAULT_PARALLEL  # tenants worked on at once
    owner: str = "<host:pid>"
    claim: Callable[[int], bool] | None = None
    poll_inbox_every: float | None = None
    fail_fast: FailFast | None = None
    # How old a latency baseline measured ahead of its batch may be and still be used.
    look_ahead_seconds: float = LOOK_AHEAD_SECONDS


@dataclass(frozen=True)
class Parts:
    pool: CallPool
    runner: Runner
    preflight: Preflight


def assemble(
    apps: Mapping[str, AppSpec],
    health: HealthSpec,
    ports: EnginePorts,
    driving: Driving,
    *,
    listeners: Sequence[Listener],
    stopping: threading.Event,
) -> Parts:
    """The pool, preflight, per-target steps and runner of one engine, wired together."""
    reads = PreflightReads()
    pool = CallPool(driving.max_parallel)
    shared = (ports.cluster, health, reads, stopping, driving.fail_fast or FailFast())
    ahead = driving.look_ahead_seconds
    steps = TargetSteps(*shared, ports.error_rates, look_ahead_seconds=ahead)
    releases = dict(ports.helm)
    helm_steps = HelmTargetSteps(
        *shared, ports.error_rates, look_ahead_seconds=ahead, releases=releases
    )
    preflight = Preflight(
        ports.cluster,
        ports.registry,
        ports.store,
        pool,
        reads=reads.reads,
        error_rates=ports.error_rates,
        window_seconds=health.log_window_seconds,
        helm=HelmPreflight(releases, seen=reads.releases),
    )
    effects = ClusterEffects(dict(apps), steps, preflight, pool, helm=helm_steps)
    runner = Runner(
        store=ports.store,
        timers=ports.timers,
        clock=ports.clock,
        listeners=listeners,
        work=effects,
        remembered=reads,
        stopping=stopping,
        owner=driving.owner,
    )
    return Parts(pool=pool, runner=runner, preflight=preflight)
