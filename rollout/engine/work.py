"""Running the effects that touch the world, each on a worker thread, each answered by the
event the state machine expects (PreflightPassed, TargetsUpdated, SideCreated, ...).

Two pools, so that nothing waits on itself: `steps` runs one effect (a batch, a preflight,
a switch) and may wait for `calls`, which runs the per-tenant work and never waits on
anything but the cluster. `calls` is bounded by `max_parallel`: a batch of fifty tenants
with max_parallel=16 patches at most sixteen at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from rollout import retries
from rollout.engine.preflight import Preflight
from rollout.engine.tenants import Stopped, TargetSteps
from rollout.errors import RollbotError
from rollout.machine import (
    CheckHealth,
    CreateSide,
    DeleteSide,
    Effect,
    Event,
    HealthChecked,
    PreflightFailed,
    RollBackTargets,
    RolledBack,
    RunPreflight,
    SideCreated,
    SideDeleted,
    Switched,
    SwitchService,
    TargetResult,
    TargetsUpdated,
    UpdateTargets,
)
from rollout.model import AppSpec, BlueGreen, Rollout, Strategy, TargetStatus
from rollout.ports import NewSide

log = logging.getLogger("rollbot.engine")

T = TypeVar("T")
R = TypeVar("R")

BLOCKING = (
    RunPreflight,
    UpdateTargets,
    CheckHealth,
    RollBackTargets,
    CreateSide,
    SwitchService,
    DeleteSide,
)


def blocking(effect: Effect) -> bool:
    return isinstance(effect, BLOCKING)


class CallPool:
    """The per-tenant calls pool: `map` runs `fn` over `items` concurrently, at most
    `max_parallel` at a time, results in the order of `items`. A Stopped from any of them
    is raised once all have returned (each stops before its next change)."""

    def __init__(self, max_parallel: int) -> None:
        self.size = max(1, max_parallel)
        self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="rollbot-call")

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        meanwhile: Callable[[], None] | None = None,
    ) -> list[R]:
        """`meanwhile`, if given, runs once every item is queued: what it queues in turn
        (see `ahead`) waits behind them."""
        try:
            futures = self._queue(fn, items)
        except RuntimeError:  # the pool was shut down: the engine is stopping
            raise Stopped() from None
        if meanwhile is not None:
            meanwhile()
        results: list[R] = []
        failure: BaseException | None = None
        for future in futures:  # every one, so none is still running when this returns
            try:
                results.append(future.result())
            except CancelledError:  # dropped by a shutdown before it began
                failure = failure or Stopped()
            except BaseException as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return results

    def ahead(self, fn: Callable[[T], R], items: Sequence[T]) -> list[Future[R]]:
        """Queue `fn` over `items` without waiting; nothing if the pool is shut down.
        Work queued later never starts before these, so a call that waits for one of
        them cannot wait on work that has no thread to run it."""
        try:
            return self._queue(fn, items)
        except RuntimeError:
            return []

    def _queue(self, fn: Callable[[T], R], items: Sequence[T]) -> list[Future[R]]:
        # Each call counts its retries for the rollout whose work this is.
        return [self._executor.submit(retries.carried(fn), item) for item in items]

    def shutdown(self, *, wait: bool) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=True)


@dataclass
class ClusterEffects:
    """`helm`: the tenants of helm apps, which move by Helm release; others by patch."""

    apps: dict[str, AppSpec]
    tenants: TargetSteps
    preflight: Preflight
    pool: CallPool
    helm: TargetSteps | None = None

    def _tenants_of(self, spec: AppSpec) -> TargetSteps:
        if spec.strategy is Strategy.HELM and self.helm is not None:
            return self.helm
        return self.tenants

    def run(self, rollout: Rollout, effect: Effect) -> Event | None:
        """The event answering `effect`, or None when the engine stopped meanwhile. Any
        failure becomes the failed form of that event: a step never leaves its rollout
        waiting for an answer that will not come."""
        spec = self.apps.get(rollout.app)
        try:
            if spec is None:
                return failure(effect, f"{rollout.app} is no longer in rollbot's configuration")
            return self._run(rollout, spec=spec, effect=effect)
        except Stopped:
            return None
        except RollbotError as err:
            return failure(effect, str(err) or type(err).__name__)
        except Exception as err:  # a bug must fail the step, not stall the rollout
            log.exception("#%s: %r failed unexpectedly", rollout.id, effect)
            return failure(effect, f"internal error: {type(err).__name__}: {err}")

    def _run(self, rollout: Rollout, *, spec: AppSpec, effect: Effect) -> Event:
        tenants = self._tenants_of(spec)
        if isinstance(effect, RunPreflight):
            return self.preflight.run(rollout, spec)
        if isinstance(effect, UpdateTargets):
            updated = self.pool.map(
                lambda ns: tenants.update(rollout, spec=spec, namespace=ns),
                effect.namespaces,
                meanwhile=lambda: self._look_ahead(rollout, spec, tenants, effect),
            )
            return TargetsUpdated(effect.batch, tuple(updated))
        if isinstance(effect, RollBackTargets):
            back = self.pool.map(
                lambda ns: tenants.roll_back(rollout, spec=spec, namespace=ns), effect.namespaces
            )
            return RolledBack(tuple(back))
        if isinstance(effect, CheckHealth):
            bg = rollout.blue_green
            deployment = bg.new_deployment if bg is not None else spec.deployment
            checked = self.pool.map(
                lambda ns: tenants.check(
                    rollout, namespace=ns, deployment=deployment, wait=effect.wait
                ),
                effect.namespaces,
            )
            return HealthChecked(tuple(checked))
        return self._side(rollout, spec=spec, effect=effect)

    def _look_ahead(
        self, rollout: Rollout, spec: AppSpec, tenants: TargetSteps, effect: UpdateTargets
    ) -> None:
        """Measure the next batch's baselines during this one (`TargetSteps.look_ahead`)
        when both fit in the pool at once: then threads wait idle for this batch's pods.
        A batch that fills the pool leaves none until its tail, and thousands of reads
        queued behind it would only hold memory."""
        upcoming = next_batch(rollout, after=effect.batch)
        if upcoming and len(effect.namespaces) + len(upcoming) <= self.pool.size:
            tenants.look_ahead(rollout, spec=spec, namespaces=upcoming, pool=self.pool)

    def _side(self, rollout: Rollout, *, spec: AppSpec, effect: Effect) -> Event:
        """Blue-green steps; each is idempotent, so a restart may run it again."""
        bg = rollout.blue_green
        if bg is None:
            raise RollbotError(f"#{rollout.id} is not a blue-green rollout")
        cluster = self.tenants.cluster
        self.tenants.check_stop()
        if isinstance(effect, CreateSide):
            baseline = self._create(rollout, spec=spec, bg=bg)
            return SideCreated(ok=True, baseline_latency_ms=baseline)
        if isinstance(effect, SwitchService):
            cluster.switch_service(bg.namespace, bg.service, version=effect.version)
            return Switched(effect.version, ok=True)
        if not isinstance(effect, DeleteSide):
            raise TypeError(f"not an effect the cluster runs: {effect!r}")
        name, config_map = (
            (bg.new_deployment, bg.new_config_map)
            if effect.which == "new"
            else (bg.old_deployment or "", bg.old_config_map)
        )
        cluster.delete_side(bg.namespace, deployment=name, config_map=config_map)
        return SideDeleted(effect.which, ok=True)

    def _create(self, rollout: Rollout, *, spec: AppSpec, bg: BlueGreen) -> float | None:
        """Create the new side; returns the latency of the side serving now, which the new
        one will be judged against."""
        baseline = None
        if bg.old_deployment:
            baseline = self.tenants.measure_baseline(
                rollout, namespace=bg.namespace, deployment=bg.old_deployment
            )
        side = NewSide(
            template_deployment=bg.old_deployment or spec.deployment,
            name=bg.new_deployment,
            version=rollout.version,
            image=rollout.target_image,
            container=spec.container,
            config_map=bg.new_config_map,
            config_map_source=bg.old_config_map,
        )
        self.tenants.cluster.create_side(bg.namespace, side)
        return baseline


def next_batch(rollout: Rollout, *, after: int) -> tuple[str, ...]:
    """The tenants of the first batch after `after` that have not started yet."""
    waiting = [t for t in rollout.targets if t.batch > after and t.status is TargetStatus.PENDING]
    if not waiting:
        return ()
    first = min(t.batch for t in waiting)
    return tuple(t.namespace for t in waiting if t.batch == first)


def failure(effect: Effect, reason: str) -> Event:
    """The answer to `effect` when it could not be carried out at all."""
    if isinstance(effect, RunPreflight):
        return PreflightFailed((f"preflight could not finish: {reason}",))
    if isinstance(effect, UpdateTargets):
        return TargetsUpdated(effect.batch, _all_failed(effect.namespaces, reason))
    if isinstance(effect, RollBackTargets):
        return RolledBack(_all_failed(effect.namespaces, reason))
    if isinstance(effect, CheckHealth):
        return HealthChecked(_all_failed(effect.namespaces, reason))
    if isinstance(effect, CreateSide):
        return SideCreated(ok=False, reason=reason)
    if isinstance(effect, SwitchService):
        return Switched(effect.version, ok=False, reason=reason)
    if isinstance(effect, DeleteSide):
        return SideDeleted(effect.which, ok=False, reason=reason)
    raise TypeError(f"not an effect the cluster runs: {effect!r}")


def _all_failed(namespaces: Sequence[str], reason: str) -> tuple[TargetResult, ...]:
    return tuple(TargetResult(ns, False, reason) for ns in namespaces)
