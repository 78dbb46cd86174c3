"""How a rolling rollout moves on: pilots, monitor window, approval gate, batches, waits.

Every function takes the rollout as it is and returns a Transition; none raises, because
none of this is a person's request (those are in :mod:`rollout.machine.commands`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from rollout.machine import rollback
from rollout.machine.common import (
    Transition,
    batch_phase,
    cancel_phase_timer,
    counts_text,
    finish,
    publish,
    seconds_after,
    start_targets,
    stop_requested,
)
from rollout.machine.effects import ArmTimer, CheckHealth, Effect, TimerKind, UpdateTargets
from rollout.machine.events import HealthChecked, TargetResult, TargetsUpdated
from rollout.model import PILOT_BATCH, EventKind, Phase, Rollout, Target, TargetStatus
from rollout.outcomes import digest, problems_of

MAX_TICK_SECONDS = 30.0


def monitor_interval(window_seconds: float) -> float:
    """Seconds between health checks in a window: min(30s, window/5), at least 1s."""
    return max(1.0, min(MAX_TICK_SECONDS, window_seconds / 5))


def begin(rollout: Rollout, *, now: datetime) -> Transition:
    """Right after preflight: the pilots, or straight to the gate or the first batch."""
    if rollout.batch(PILOT_BATCH):
        return start_batch(rollout, PILOT_BATCH, now=now)
    return after_pilots(rollout, now=now)


def start_batch(rollout: Rollout, batch: int, *, now: datetime) -> Transition:
    pending = [t for t in rollout.batch(batch) if t.status is TargetStatus.PENDING]
    rollout = replace(
        rollout.with_phase(batch_phase(batch), reason=""), current_batch=batch, paused_from=None
    )
    if not pending:
        return after_batch(rollout, now=now)
    rollout = rollout.with_targets(start_targets(pending, now=now))
    names = tuple(t.namespace for t in pending)
    return Transition(
        rollout, (publish(EventKind.PROGRESS, batch=batch), UpdateTargets(batch, names))
    )


def continue_batch(rollout: Rollout, *, now: datetime, recovering: bool) -> Transition:
    """Back into the current batch after a pause or a restart.

    Targets still UPDATING are in flight after a pause: their results will come. After a
    restart nothing is in flight, so they are issued again together with any not started.
    """
    batch = rollout.current_batch
    rollout = replace(rollout.with_phase(batch_phase(batch)), paused_from=None)
    unsettled = [t for t in rollout.batch(batch) if t.status is TargetStatus.UPDATING]
    if unsettled and not recovering:
        return Transition(rollout)
    pending = [t for t in rollout.batch(batch) if t.status is TargetStatus.PENDING]
    if not unsettled and not pending:
        return after_batch(rollout, now=now)
    rollout = rollout.with_targets(start_targets(pending, now=now))
    names = tuple(t.namespace for t in unsettled + pending)
    return Transition(rollout, (UpdateTargets(batch, names),))


def reissue_in_flight(rollout: Rollout) -> Transition:
    """After a restart, settle updates recorded as under way, changing nothing else."""
    unsettled = tuple(t.namespace for t in rollout.targets if t.status is TargetStatus.UPDATING)
    if not unsettled:
        return Transition(rollout)
    return Transition(rollout, (UpdateTargets(rollout.current_batch, unsettled),))


def after_batch(rollout: Rollout, *, now: datetime) -> Transition:
    """The current batch has settled: stop on failures, else the next step of the plan."""
    batch = rollout.current_batch
    failed = [t for t in rollout.batch(batch) if t.status is TargetStatus.FAILED]
    if failed:
        return on_failure(rollout, failed, at=batch_phase(batch), now=now)
    if batch == PILOT_BATCH:
        pilots_up = any(t.status is TargetStatus.UPDATED for t in rollout.batch(batch))
        if pilots_up and rollout.settings.pilot_monitor_seconds > 0:
            return start_window(rollout, now=now)
        return after_pilots(rollout, now=now)
    if batch >= rollout.batch_count:
        return complete(rollout, now=now)
    wait = rollout.settings.wait_seconds
    if wait <= 0:
        return start_batch(rollout, batch + 1, now=now)
    deadline = seconds_after(now, wait)
    return Transition(
        rollout.with_phase(Phase.WAITING, deadline=deadline),
        (ArmTimer(TimerKind.WAIT_OVER, deadline), publish(EventKind.PROGRESS, batch=batch)),
    )


def after_pilots(rollout: Rollout, *, now: datetime) -> Transition:
    if rollout.batch_count == 0:
        return complete(rollout, now=now)
    if rollout.settings.approval:
        return open_gate(rollout, now=now)
    return start_batch(rollout, 1, now=now)


def open_gate(rollout: Rollout, *, now: datetime) -> Transition:
    deadline = seconds_after(now, rollout.settings.approval_timeout_seconds)
    return Transition(
        replace(rollout.with_phase(Phase.AWAITING_APPROVAL, deadline=deadline), paused_from=None),
        (
            ArmTimer(TimerKind.APPROVAL_EXPIRED, deadline),
            publish(EventKind.AWAITING_APPROVAL, detail=f"expires {deadline:%Y-%m-%d %H:%M} UTC"),
        ),
    )


def start_window(rollout: Rollout, *, now: datetime) -> Transition:
    """A monitor window: the pilots (rolling) or the new side after the switch (blue-green)."""
    seconds = rollout.settings.pilot_monitor_seconds
    if rollout.blue_green is not None:
        seconds = rollout.settings.monitor_seconds
    rollout = rollout.with_phase(Phase.MONITORING, deadline=seconds_after(now, seconds))
    return Transition(rollout, (publish(EventKind.PROGRESS),)).then(next_tick(rollout, now=now))


def next_tick(rollout: Rollout, *, now: datetime) -> ArmTimer:
    assert rollout.deadline is not None
    window = rollout.settings.pilot_monitor_seconds
    if rollout.blue_green is not None:
        window = rollout.settings.monitor_seconds
    at = min(seconds_after(now, monitor_interval(window)), rollout.deadline)
    kind = TimerKind.MONITOR_OVER if at >= rollout.deadline else TimerKind.MONITOR_TICK
    return ArmTimer(kind, at)


def monitored(rollout: Rollout) -> tuple[str, ...]:
    """What a monitor tick checks: the updated pilots, or the blue-green side."""
    scope = rollout.targets if rollout.blue_green is not None else rollout.batch(PILOT_BATCH)
    return tuple(t.namespace for t in scope if t.status is TargetStatus.UPDATED)


def tick(rollout: Rollout, *, now: datetime) -> Transition:
    names = monitored(rollout)
    if not names:
        return on_checked(rollout, HealthChecked(()), now=now)
    return Transition(rollout, (CheckHealth(names),))


def on_checked(rollout: Rollout, event: HealthChecked, *, now: datetime) -> Transition:
    """A monitor tick's verdicts: stop on a failure, else the next tick or the window's end."""
    failed = _unhealthy(rollout, event.results, now=now)
    if failed:
        rollout = rollout.with_targets(failed)
        return on_failure(rollout, failed, at=Phase.MONITORING, now=now)
    if rollout.deadline is not None and now < rollout.deadline:
        return Transition(rollout, (next_tick(rollout, now=now),))
    if rollout.blue_green is not None:
        return complete(rollout, now=now)
    return after_pilots(replace(rollout, deadline=None), now=now)


def on_updated(rollout: Rollout, event: TargetsUpdated, *, now: datetime) -> Transition:
    """Record a batch's results, wherever the rollout is now, then move on if it may."""
    recorded = _record(rollout, event.results, now=now)
    rollout = rollout.with_targets(recorded)
    effects: tuple[Effect, ...] = ()
    batch_settled = not any(t.status is TargetStatus.UPDATING for t in rollout.batch(event.batch))
    if recorded and batch_settled:
        effects = (publish(EventKind.BATCH_DONE, batch=event.batch),)
    step = _after_results(rollout, recorded, now=now)
    return step.after(*effects)


def _after_results(rollout: Rollout, recorded: list[Target], *, now: datetime) -> Transition:
    in_flight = any(t.status is TargetStatus.UPDATING for t in rollout.targets)
    phase = rollout.phase
    if phase is Phase.ROLLING_BACK:
        return rollback.on_settled(rollout, [t.namespace for t in recorded], now=now)
    if stop_requested(rollout) is Phase.CANCELLED:
        if in_flight:
            return Transition(rollout)
        return cancelled(rollout, now=now)
    if phase is Phase.PAUSED:
        failed = [t for t in recorded if t.status is TargetStatus.FAILED]
        return (
            on_failure(rollout, failed, at=Phase.PAUSED, now=now) if failed else Transition(rollout)
        )
    if phase in {Phase.PILOT, Phase.BATCH} and not in_flight:
        return after_batch(rollout, now=now)
    return Transition(rollout)


def on_failure(rollout: Rollout, failed: list[Target], *, at: Phase, now: datetime) -> Transition:
    """Failed tenants stop the rollout: roll back at once with auto_rollback, else pause
    with the choices (roll back all, retry failed, skip and carry on)."""
    problems = problems_of(failed)
    told = publish(
        EventKind.FAILED, batch=rollout.current_batch, detail=digest(problems), problems=problems
    )
    # A blue-green failure always rolls back (SPEC 3.4); a rolling one only when asked to.
    if rollout.settings.auto_rollback or rollout.blue_green is not None:
        reason = f"rolled back automatically: {digest(problems)}"
        return rollback.begin(rollout, now=now, tenants=None, user=None, reason=reason).after(told)
    resume_at = rollout.paused_from if rollout.phase is Phase.PAUSED else at
    # A window that failed keeps its deadline, so a skip carries on with what was left of it.
    deadline = rollout.deadline if resume_at is Phase.MONITORING else None
    paused = replace(
        rollout.with_phase(Phase.PAUSED, deadline=deadline, reason=digest(problems)),
        paused_from=resume_at,
    )
    return Transition(paused, (*cancel_phase_timer(rollout.phase), told))


def complete(rollout: Rollout, *, now: datetime) -> Transition:
    done = finish(rollout, Phase.COMPLETED, now=now, reason="")
    effects: list[Effect] = [publish(EventKind.COMPLETED, detail=counts_text(done))]
    delay = rollout.settings.remove_old_after_seconds
    if rollout.blue_green is not None and delay is not None:
        effects.append(ArmTimer(TimerKind.REMOVE_OLD, seconds_after(now, delay)))
    return Transition(done, tuple(effects))


def cancelled(rollout: Rollout, *, now: datetime) -> Transition:
    done = finish(rollout, Phase.CANCELLED, now=now, reason=rollout.reason)
    return Transition(
        done, (*cancel_phase_timer(rollout.phase), publish(EventKind.CANCELLED, detail=done.reason))
    )


def _record(rollout: Rollout, results: tuple[TargetResult, ...], *, now: datetime) -> list[Target]:
    """Results for targets still UPDATING; anything else is a late duplicate and dropped."""
    out = []
    for result in results:
        target = _find(rollout, result.namespace)
        if target is None or target.status is not TargetStatus.UPDATING:
            continue
        status = TargetStatus.UPDATED if result.ok else TargetStatus.FAILED
        target = target.with_status(status, at=now, reason="" if result.ok else result.reason)
        out.append(result.noted(target))
    return out


def _unhealthy(
    rollout: Rollout, results: tuple[TargetResult, ...], *, now: datetime
) -> list[Target]:
    """Updated targets a check found unhealthy, as FAILED with the verdict's reasons."""
    out = []
    for result in results:
        target = _find(rollout, result.namespace)
        if target is not None and target.status is TargetStatus.UPDATED and not result.ok:
            out.append(target.with_status(TargetStatus.FAILED, at=now, reason=result.reason))
    return out


def _find(rollout: Rollout, namespace: str) -> Target | None:
    try:
        return rollout.target(namespace)
    except KeyError:
        return None
