"""`decide`: the one entry point of the state machine.

Pure: no I/O, no threads, no clock reads (`now` is passed in). Given the rollout as last
saved and one event, it returns the next rollout and the effects to run, in order. The
engine saves the rollout BEFORE running any effect, which is what makes every intent
(UPDATING, ROLLING_BACK, a switch about to happen) durable before the cluster changes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from rollout.machine import bluegreen, commands, rollback, rolling
from rollout.machine.common import Transition, finish, publish, stop_requested
from rollout.machine.effects import ArmTimer, RunPreflight, TimerKind
from rollout.machine.events import (
    CallsRetried,
    Command,
    Event,
    HealthChecked,
    PreflightFailed,
    PreflightPassed,
    Recover,
    RolledBack,
    SideCreated,
    SideDeleted,
    Start,
    Switched,
    TargetsUpdated,
    TimerFired,
)
from rollout.model import EventKind, Phase, Rollout, Strategy
from rollout.outcomes import digest

_TICKS = frozenset({TimerKind.MONITOR_TICK, TimerKind.MONITOR_OVER})


def decide(rollout: Rollout, event: Event, *, now: datetime) -> Transition:
    """The rollout after `event`, and the effects the engine must run.

    Raises InvalidTransition only for a person's command that does not apply now; results
    and timers that arrive too late to matter leave the rollout as it is.
    """
    if isinstance(event, Command):
        return commands.handle(rollout, event, now=now)
    if isinstance(event, Start):
        return _start(rollout, now=now)
    if isinstance(event, Recover):
        return _recover(rollout, now=now)
    if isinstance(event, PreflightPassed | PreflightFailed):
        return _preflight_done(rollout, event, now=now)
    if isinstance(event, TimerFired):
        return _timer(rollout, event.kind, now=now)
    if isinstance(event, TargetsUpdated):
        return rolling.on_updated(rollout, event, now=now)
    if isinstance(event, RolledBack):
        if rollout.phase is not Phase.ROLLING_BACK:
            return Transition(rollout)
        return rollback.on_rolled_back(rollout, event, now=now)
    if isinstance(event, HealthChecked):
        return _checked(rollout, event, now=now)
    if isinstance(event, SideCreated):
        if rollout.phase is not Phase.STAGING:
            return Transition(rollout)
        return bluegreen.on_created(rollout, event, now=now)
    if isinstance(event, Switched):
        return bluegreen.on_switched(rollout, event, now=now)
    if isinstance(event, SideDeleted):
        return bluegreen.on_deleted(rollout, event, now=now)
    if isinstance(event, CallsRetried):
        # Counted whatever the phase: the calls were made, even for a result now too late.
        return Transition(replace(rollout, retries=rollout.retries.plus(event.retries)))
    raise TypeError(f"not an event: {event!r}")


def _start(rollout: Rollout, *, now: datetime) -> Transition:
    if rollout.phase not in {Phase.PREFLIGHT, Phase.SCHEDULED}:
        return Transition(rollout)
    if rollout.start_at is not None and rollout.start_at > now:
        scheduled = rollout.with_phase(Phase.SCHEDULED)
        detail = f"scheduled for {rollout.start_at:%Y-%m-%d %H:%M} UTC"
        return Transition(
            scheduled,
            (
                publish(EventKind.STARTED, user=rollout.requested_by, detail=detail),
                ArmTimer(TimerKind.SCHEDULED_START, rollout.start_at),
            ),
        )
    return Transition(
        rollout.with_phase(Phase.PREFLIGHT),
        (publish(EventKind.STARTED, user=rollout.requested_by), RunPreflight()),
    )


def _preflight_done(
    rollout: Rollout, event: PreflightPassed | PreflightFailed, *, now: datetime
) -> Transition:
    if rollout.phase is not Phase.PREFLIGHT:
        return Transition(rollout)  # cancelled meanwhile
    if isinstance(event, PreflightFailed):
        reason = "refused: " + digest(event.problems)
        refused = finish(rollout, Phase.REFUSED, now=now, reason=reason)
        return Transition(refused, (publish(EventKind.REFUSED, problems=event.problems),))
    planned = replace(
        rollout,
        targets=event.targets,
        batch_count=event.batch_count,
        blue_green=event.blue_green,
        current_batch=0,
    )
    told = publish(EventKind.PLANNED)
    if planned.strategy is Strategy.BLUE_GREEN:
        return bluegreen.stage(planned, now=now).after(told)
    return rolling.begin(planned, now=now).after(told)


def _timer(rollout: Rollout, kind: TimerKind, *, now: datetime) -> Transition:
    """A timer counts only in the phase that armed it; one that fires early (or a stale one
    from before a pause) is armed again for the stored time."""
    phase = rollout.phase
    if kind is TimerKind.REMOVE_OLD:
        bg = rollout.blue_green
        if phase is not Phase.COMPLETED or bg is None or bg.old_removed:
            return Transition(rollout)
        return bluegreen.remove_old(rollout, user=None)
    if kind in _TICKS:
        return rolling.tick(rollout, now=now) if phase is Phase.MONITORING else Transition(rollout)
    due = rollout.start_at if kind is TimerKind.SCHEDULED_START else rollout.deadline
    wanted = {
        TimerKind.SCHEDULED_START: Phase.SCHEDULED,
        TimerKind.WAIT_OVER: Phase.WAITING,
        TimerKind.APPROVAL_EXPIRED: Phase.AWAITING_APPROVAL,
    }[kind]
    if phase is not wanted:
        return Transition(rollout)
    if due is not None and now < due:
        return Transition(rollout, (ArmTimer(kind, due),))
    if kind is TimerKind.SCHEDULED_START:
        return Transition(rollout.with_phase(Phase.PREFLIGHT), (RunPreflight(),))
    if kind is TimerKind.WAIT_OVER:
        return rolling.start_batch(rollout, rollout.current_batch + 1, now=now)
    reason = "no decision before the approval deadline"
    expired = finish(rollout, Phase.EXPIRED, now=now, reason=reason)
    return Transition(expired, (publish(EventKind.EXPIRED, detail=reason),))


def _checked(rollout: Rollout, event: HealthChecked, *, now: datetime) -> Transition:
    if rollout.phase is Phase.MONITORING:
        return rolling.on_checked(rollout, event, now=now)
    if rollout.phase is Phase.STAGING and rollout.blue_green is not None:
        return bluegreen.on_staged(rollout, event, now=now)
    return Transition(rollout)


def _recover(rollout: Rollout, *, now: datetime) -> Transition:
    """Adopt a rollout after a restart: re-issue what was under way, re-arm its timer."""
    phase = rollout.phase
    if phase is Phase.COMPLETED:
        return bluegreen.recover_completed(rollout, now=now)
    if phase.terminal:
        return Transition(rollout)
    if phase is Phase.ROLLING_BACK:
        return rollback.recover(rollout, now=now)
    if phase is Phase.STAGING:
        return bluegreen.recover_staging(rollout, now=now)
    if stop_requested(rollout) is Phase.CANCELLED:
        step = rolling.reissue_in_flight(rollout)
        return step if step.effects else rolling.cancelled(rollout, now=now)
    if phase is Phase.PAUSED:
        return rolling.reissue_in_flight(rollout)
    return commands.reenter(rollout, phase, now=now, recovering=True)
