"""People's requests: approve, reject, pause, resume, cancel, roll back, retry, skip,
remove old. Each either applies to the rollout as it is, or is refused with
:class:`rollout.errors.InvalidTransition` and a sentence that says why.

Who may ask is not decided here (see :mod:`rollout.policy`, applied at the edges, which
know the person's groups and the app's lists); what the rollout's own record settles
is: four-eyes, one approval per person, the phase. A terminal request names its OS
account beside the person: in the reasons it leaves and on the events it causes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from rollout.actions import Action
from rollout.machine import bluegreen, rollback, rolling
from rollout.machine.common import (
    PHASE_TIMER,
    Transition,
    batch_phase,
    cancel_phase_timer,
    publish,
    ref,
    refuse,
    refuse_finished,
    start_targets,
    stop_requested,
    where,
)
from rollout.machine.effects import ArmTimer, Effect, Publish, RunPreflight, UpdateTargets
from rollout.machine.events import (
    Approve,
    Cancel,
    Command,
    Pause,
    Reject,
    RemoveOld,
    Resume,
    Retry,
    Rollback,
    Skip,
)
from rollout.model import (
    Approval,
    EventKind,
    Phase,
    Rollout,
    Strategy,
    Target,
    TargetStatus,
    from_terminal,
)
from rollout.outcomes import digest, problems_of
from rollout.policy import approval_refusal, approvals_complete

GATE = 1  # the approval gate stands before regular batch 1 (or the blue-green switch)
PAUSABLE = frozenset(
    {
        Phase.SCHEDULED,
        Phase.PILOT,
        Phase.BATCH,
        Phase.WAITING,
        Phase.MONITORING,
        Phase.AWAITING_APPROVAL,
    }
)


def handle(rollout: Rollout, command: Command, *, now: datetime) -> Transition:
    handler = _HANDLERS.get(type(command))
    if handler is None:
        raise TypeError(f"not a command: {command!r}")
    step = handler(rollout, command, now)
    return Transition(step.rollout, tuple(_signed(e, command) for e in step.effects))


def _signed(effect: Effect, command: Command) -> Effect:
    """What a command makes known says which request it reports, so no face has to work
    that out again from the wording; and, from a terminal, the OS account beside the
    person, so every face can say where it was typed. An event that already names its
    request (a roll back a rejection starts) keeps it."""
    if not isinstance(effect, Publish) or effect.user != command.user:
        return effect
    return replace(
        effect,
        action=effect.action or command.action,
        os_account=command.os_account or effect.os_account,
    )


def _by(command: Command) -> str:
    """Who asked, for the reasons a rollout keeps: `U0BOB`, or with the terminal account."""
    return command.user + from_terminal(command.os_account)


def _approve(rollout: Rollout, command: Command, now: datetime) -> Transition:
    assert isinstance(command, Approve)
    _at_gate(rollout, command.action)
    user = command.user
    refusal = approval_refusal(rollout, user, command.os_account)
    if refusal:
        refuse(refusal)
    approval = Approval(
        user=user, decision=Action.APPROVE, at=now, gate=GATE, os_account=command.os_account
    )
    rollout = replace(rollout, approvals=(*rollout.approvals, approval))
    required = max(1, rollout.settings.approvals_required)
    if not approvals_complete(rollout, GATE, required):
        detail = f"{len(_approvers(rollout))} of {required} approvals"
        told = publish(EventKind.APPROVAL_RECORDED, user=user, detail=detail)
        return Transition(rollout, (told,))
    told_all = (
        *cancel_phase_timer(Phase.AWAITING_APPROVAL),
        publish(EventKind.APPROVED, user=user),
    )
    rollout = replace(rollout, deadline=None)
    if rollout.strategy is Strategy.BLUE_GREEN:
        return bluegreen.switch(rollout).after(*told_all)
    return rolling.start_batch(rollout, GATE, now=now).after(*told_all)


def _reject(rollout: Rollout, command: Command, now: datetime) -> Transition:
    _at_gate(rollout, command.action)
    user = command.user
    approval = Approval(
        user=user, decision=Action.REJECT, at=now, gate=GATE, os_account=command.os_account
    )
    rollout = replace(rollout, approvals=(*rollout.approvals, approval))
    told = publish(EventKind.REJECTED, user=user)
    reason = f"rejected by {_by(command)}"
    if not rollback.rollable(rollout, None):
        unchanged = replace(rollout, reason=f"{reason} before anything changed")
        return rolling.cancelled(unchanged, now=now).after(told)
    return rollback.begin(rollout, now=now, tenants=None, user=user, reason=reason).after(told)


def _pause(rollout: Rollout, command: Command, now: datetime) -> Transition:
    refuse_finished(rollout, command.action)
    _not_stopping(rollout)
    if rollout.phase is Phase.PAUSED:
        refuse(f"{ref(rollout)} is already paused")
    if rollout.phase not in PAUSABLE:
        refuse(f"{ref(rollout)} is {where(rollout)} and cannot be paused now; cancel it instead")
    # The deadline stays: resuming a wait, window or gate goes on with the time it had left.
    reason = f"paused by {_by(command)}"
    paused = replace(
        rollout.with_phase(Phase.PAUSED, deadline=rollout.deadline, reason=reason),
        paused_from=rollout.phase,
    )
    effects = (*cancel_phase_timer(rollout.phase), publish(EventKind.PAUSED, user=command.user))
    return Transition(paused, effects)


def _resume(rollout: Rollout, command: Command, now: datetime) -> Transition:
    refuse_finished(rollout, command.action)
    if rollout.phase is not Phase.PAUSED or rollout.paused_from is None:
        refuse(f"{ref(rollout)} is not paused (it is {where(rollout)})")
    failed = _failed(rollout)
    if failed:
        refuse(
            f"{ref(rollout)} stopped because {digest(problems_of(failed))}; "
            "choose Roll back all, Retry failed or Skip and continue"
        )
    step = reenter(rollout, rollout.paused_from, now=now, recovering=False)
    return step.after(publish(EventKind.RESUMED, user=command.user))


def _cancel(rollout: Rollout, command: Command, now: datetime) -> Transition:
    refuse_finished(rollout, command.action)
    _not_stopping(rollout)
    if rollout.phase is Phase.ROLLING_BACK:
        refuse(f"{ref(rollout)} is rolling back; it cannot be cancelled, it ends by itself")
    reason = f"cancelled by {_by(command)}"
    in_flight = any(t.status is TargetStatus.UPDATING for t in rollout.targets)
    if rollout.strategy.per_tenant and in_flight:
        # Updates under way settle first; the rollout ends once their results are in.
        phase = batch_phase(rollout.current_batch)
        stopping = replace(
            rollout.with_phase(phase, reason=f"{reason}; finishing the updates under way"),
            paused_from=Phase.CANCELLED,
        )
        return _stopping(stopping, user=command.user)
    if rollout.phase is Phase.STAGING:
        stopping = replace(rollout, reason=reason, paused_from=Phase.CANCELLED)
        return _stopping(stopping, user=command.user)
    return rolling.cancelled(replace(rollout, reason=reason), now=now)


def _rollback(rollout: Rollout, command: Command, now: datetime) -> Transition:
    assert isinstance(command, Rollback)
    _check_rollback(rollout, command.tenants)
    reason = f"rolled back by {_by(command)}"
    if rollout.phase is Phase.STAGING:
        # The new side is being created right now: delete it once that has settled.
        stopping = replace(rollout, reason=reason, paused_from=Phase.ROLLING_BACK)
        return _stopping(stopping, user=command.user)
    return rollback.begin(
        rollout, now=now, tenants=command.tenants, user=command.user, reason=reason
    )


def _check_rollback(rollout: Rollout, tenants: tuple[str, ...] | None) -> None:
    r = ref(rollout)
    if rollout.phase is Phase.ROLLING_BACK:
        refuse(f"{r} is already rolling back")
    if stop_requested(rollout) is Phase.ROLLING_BACK:
        refuse(f"{r} is about to roll back")
    if rollout.phase in {Phase.SCHEDULED, Phase.PREFLIGHT} or not rollout.targets:
        refuse(f"{r} has not changed anything; there is nothing to roll back")
    if tenants is not None:
        known = {t.namespace for t in rollout.targets}
        unknown = [name for name in tenants if name not in known]
        if unknown:
            verb = "is" if len(unknown) == 1 else "are"
            refuse(f"{', '.join(unknown)} {verb} not a target of {r}")
    if not rollback.rollable(rollout, tenants):
        if rollout.phase is Phase.ROLLED_BACK:
            refuse(f"{r} is already rolled back")
        refuse(f"{r} changed nothing there; there is nothing to roll back")
    bg = rollout.blue_green
    if bg is not None and bg.old_removed:
        refuse(
            f"the old side of {r} ({bg.old_deployment}) was removed; "
            f"deploy {bg.old_version} again instead"
        )


def _retry(rollout: Rollout, command: Command, now: datetime) -> Transition:
    failed = _after_failure(rollout, command.action)
    batch = rollout.current_batch
    rollout = replace(
        rollout.with_phase(batch_phase(batch), reason=""), paused_from=None
    ).with_targets(start_targets(failed, now=now))
    names = tuple(t.namespace for t in failed)
    told = publish(EventKind.RESUMED, user=command.user, detail="retrying " + ", ".join(names))
    return Transition(rollout, (told, UpdateTargets(batch, names)))


def _skip(rollout: Rollout, command: Command, now: datetime) -> Transition:
    failed = _after_failure(rollout, command.action)
    assert rollout.paused_from is not None
    skipped = [
        t.with_status(TargetStatus.SKIPPED, at=now, reason=f"skipped by {_by(command)}: {t.reason}")
        for t in failed
    ]
    names = ", ".join(t.namespace for t in failed)
    told = publish(EventKind.RESUMED, user=command.user, detail=f"skipping {names}")
    step = reenter(rollout.with_targets(skipped), rollout.paused_from, now=now, recovering=False)
    return step.after(told)


def _remove_old(rollout: Rollout, command: Command, now: datetime) -> Transition:
    bg = rollout.blue_green
    if bg is None:
        refuse(f"{ref(rollout)} is a rolling rollout; only blue-green ones have an old side")
    if rollout.phase is not Phase.COMPLETED:
        refuse(f"{ref(rollout)} is {where(rollout)}; the old side is removed after it completes")
    if bg.old_removed:
        refuse(f"the old side of {ref(rollout)} was already removed")
    return bluegreen.remove_old(rollout, user=command.user)


def reenter(rollout: Rollout, phase: Phase, *, now: datetime, recovering: bool) -> Transition:
    """Go on in `phase` from the stored state, re-arming its timer from the stored deadline."""
    if phase in {Phase.PILOT, Phase.BATCH}:
        return rolling.continue_batch(rollout, now=now, recovering=recovering)
    if phase is Phase.STAGING:
        return bluegreen.recover_staging(rollout, now=now)
    if phase is Phase.PREFLIGHT:
        return Transition(
            replace(rollout.with_phase(Phase.PREFLIGHT), paused_from=None), (RunPreflight(),)
        )
    back = replace(rollout.with_phase(phase, deadline=rollout.deadline), paused_from=None)
    if phase is Phase.SCHEDULED:
        at = rollout.start_at or now
        return Transition(back, (ArmTimer(PHASE_TIMER[phase], at),))
    if phase is Phase.MONITORING:
        if back.deadline is None:
            return rolling.start_window(back, now=now)
        return Transition(back, (rolling.next_tick(back, now=now),))
    if phase in {Phase.WAITING, Phase.AWAITING_APPROVAL}:
        at = back.deadline or now
        return Transition(back, (ArmTimer(PHASE_TIMER[phase], at),))
    raise AssertionError(f"cannot go on in {phase}")


def _approvers(rollout: Rollout) -> set[str]:
    return {a.user for a in rollout.approvals if a.gate == GATE and a.decision == Action.APPROVE}


def _stopping(rollout: Rollout, *, user: str) -> Transition:
    """A stop was asked for while work is in flight; it takes effect when that settles."""
    return Transition(rollout, (publish(EventKind.PROGRESS, user=user, detail=rollout.reason),))


def _at_gate(rollout: Rollout, verb: str) -> None:
    refuse_finished(rollout, verb)
    if rollout.phase is not Phase.AWAITING_APPROVAL:
        refuse(f"{ref(rollout)} is not waiting for approval (it is {where(rollout)})")


def _not_stopping(rollout: Rollout) -> None:
    stop = stop_requested(rollout)
    if stop is Phase.CANCELLED:
        refuse(f"{ref(rollout)} is being cancelled")
    if stop is Phase.ROLLING_BACK:
        refuse(f"{ref(rollout)} is about to roll back")


def _failed(rollout: Rollout) -> list[Target]:
    return [t for t in rollout.targets if t.status is TargetStatus.FAILED]


def _after_failure(rollout: Rollout, verb: str) -> list[Target]:
    refuse_finished(rollout, verb)
    failed = _failed(rollout)
    if rollout.phase is not Phase.PAUSED or rollout.paused_from is None or not failed:
        refuse(f"{ref(rollout)} has no failed tenants to {verb} (it is {where(rollout)})")
    return failed


_HANDLERS = {
    Approve: _approve,
    Reject: _reject,
    Pause: _pause,
    Resume: _resume,
    Cancel: _cancel,
    Rollback: _rollback,
    Retry: _retry,
    Skip: _skip,
    RemoveOld: _remove_old,
}
