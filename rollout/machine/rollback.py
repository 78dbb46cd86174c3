"""Rolling back: each touched tenant back to its recorded previous image, or, blue-green,
the Service back to the old side and the new side deleted.

Intent comes first here too: tenants are marked ROLLING_BACK (and saved) before any
patch, so a restart rolls back exactly those again. Tenants still UPDATING when the roll
back begins are in flight; they join the roll back when their results arrive (or, outside
a partial roll back's scope, simply settle). The rollout is ROLLED_BACK only once nothing
at all is in flight, so a finished rollout never holds a tenant half-way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from rollout.actions import Action
from rollout.machine.common import (
    TOUCHED,
    Transition,
    cancel_phase_timer,
    finish,
    publish,
)
from rollout.machine.effects import (
    CancelTimer,
    DeleteSide,
    Effect,
    RollBackTargets,
    SwitchService,
    TimerKind,
    UpdateTargets,
)
from rollout.machine.events import RolledBack, SideDeleted, Switched
from rollout.model import EventKind, Phase, Rollout, Target, TargetStatus
from rollout.outcomes import digest, problems_of

# Tenants a roll back puts back; UPDATING ones are waited for first.
_TO_ROLL_BACK = TOUCHED - {TargetStatus.UPDATING}
_UNSETTLED = frozenset({TargetStatus.UPDATING, TargetStatus.ROLLING_BACK})


def in_scope(rollout: Rollout, target: Target) -> bool:
    return rollout.rollback_of is None or target.namespace in rollout.rollback_of


def rollable(rollout: Rollout, tenants: Sequence[str] | None) -> list[Target]:
    """Targets a roll back of `tenants` (None: all) would change or wait for."""
    scope = None if tenants is None else set(tenants)
    return [
        t
        for t in rollout.targets
        if t.status in TOUCHED and (scope is None or t.namespace in scope)
    ]


def begin(
    rollout: Rollout,
    *,
    now: datetime,
    tenants: tuple[str, ...] | None,
    user: str | None,
    reason: str,
) -> Transition:
    effects = [
        *cancel_phase_timer(rollout.phase),
        # Whoever started it (a roll back, a rejection), what it reports is a roll back.
        publish(
            EventKind.ROLLING_BACK,
            user=user,
            detail=reason,
            action=Action.ROLLBACK if user else None,
        ),
    ]
    if rollout.blue_green is not None:
        effects.append(CancelTimer(TimerKind.REMOVE_OLD))
    rollout = replace(
        rollout.with_phase(Phase.ROLLING_BACK, reason=reason),
        paused_from=None,
        rollback_of=tenants,
        finished_at=None,
    )
    if rollout.blue_green is not None:
        return _begin_side(rollout, now=now).after(*effects)
    marked = [
        t.with_status(TargetStatus.ROLLING_BACK, at=now, reason=t.reason)
        for t in rollout.targets
        if in_scope(rollout, t) and t.status in _TO_ROLL_BACK
    ]
    rollout = rollout.with_targets(marked)
    if marked:
        effects.append(RollBackTargets(tuple(t.namespace for t in marked)))
    return _maybe_done(Transition(rollout, tuple(effects)), now=now)


def recover(rollout: Rollout, *, now: datetime) -> Transition:
    """After a restart nothing is in flight: tenants in scope that were being updated or
    rolled back are rolled back (again); updates outside a partial roll back's scope are
    settled, as they would have been without the crash."""
    if rollout.blue_green is not None:
        return _begin_side(rollout, now=now)
    marked = [
        t.with_status(TargetStatus.ROLLING_BACK, at=now, reason=t.reason)
        if t.status is TargetStatus.UPDATING
        else t
        for t in rollout.targets
        if in_scope(rollout, t) and t.status in _UNSETTLED
    ]
    rollout = rollout.with_targets(marked)
    effects: list[Effect] = []
    if marked:
        effects.append(RollBackTargets(tuple(t.namespace for t in marked)))
    outside = tuple(t.namespace for t in rollout.targets if t.status is TargetStatus.UPDATING)
    if outside:
        effects.append(UpdateTargets(rollout.current_batch, outside))
    return _maybe_done(Transition(rollout, tuple(effects)), now=now)


def on_settled(rollout: Rollout, namespaces: Sequence[str], *, now: datetime) -> Transition:
    """Updates that were in flight when the roll back began have settled: roll them back."""
    names = set(namespaces)
    marked = [
        t.with_status(TargetStatus.ROLLING_BACK, at=now, reason=t.reason)
        for t in rollout.targets
        if t.namespace in names and in_scope(rollout, t) and t.status in _TO_ROLL_BACK
    ]
    rollout = rollout.with_targets(marked)
    effects = (RollBackTargets(tuple(t.namespace for t in marked)),) if marked else ()
    return _maybe_done(Transition(rollout, effects), now=now)


def on_rolled_back(rollout: Rollout, event: RolledBack, *, now: datetime) -> Transition:
    changed = []
    for result in event.results:
        target = next((t for t in rollout.targets if t.namespace == result.namespace), None)
        if target is None or target.status is not TargetStatus.ROLLING_BACK:
            continue
        if result.ok:
            back = target.with_status(TargetStatus.ROLLED_BACK, at=now, reason=target.reason)
        else:
            back = target.with_status(TargetStatus.ROLLBACK_FAILED, at=now, reason=result.reason)
        changed.append(result.noted(back))
    return _maybe_done(Transition(rollout.with_targets(changed)), now=now)


def _maybe_done(step: Transition, *, now: datetime) -> Transition:
    rollout = step.rollout
    if rollout.phase is not Phase.ROLLING_BACK:
        return step
    # Finished only once nothing is in flight, in the scope or outside it.
    if any(
        t.status is TargetStatus.UPDATING
        or (in_scope(rollout, t) and t.status is TargetStatus.ROLLING_BACK)
        for t in rollout.targets
    ):
        return step
    failed = [
        t
        for t in rollout.targets
        if in_scope(rollout, t) and t.status is TargetStatus.ROLLBACK_FAILED
    ]
    problems = problems_of(failed)
    reason = rollout.reason
    if problems:
        reason = f"{reason}; could not roll back {digest(problems)}"
    done = finish(rollout, Phase.ROLLED_BACK, now=now, reason=reason)
    told = publish(EventKind.ROLLED_BACK, detail=reason, problems=problems)
    return Transition(done, (*step.effects, told))


# --- blue-green ------------------------------------------------------------------------------


def _side_target(rollout: Rollout) -> Target:
    return rollout.targets[0]


def _begin_side(rollout: Rollout, *, now: datetime) -> Transition:
    """Switch back first when traffic may have moved; only then delete the new side."""
    assert rollout.blue_green is not None
    target = _side_target(rollout)
    if target.status is not TargetStatus.ROLLING_BACK:
        rollout = rollout.with_targets(
            [target.with_status(TargetStatus.ROLLING_BACK, at=now, reason=target.reason)]
        )
    bg = rollout.blue_green
    assert bg is not None
    if bg.switched and bg.old_version is not None:
        return Transition(rollout, (SwitchService(bg.old_version),))
    return Transition(rollout, (DeleteSide("new"),))


def on_switched_back(rollout: Rollout, event: Switched, *, now: datetime) -> Transition:
    bg = rollout.blue_green
    assert bg is not None
    if event.ok:
        rollout = replace(rollout, blue_green=replace(bg, switched=False))
        return Transition(rollout, (DeleteSide("new"),))
    # Traffic may still be on the new side: keep it, say so, and let a person retry.
    target = _side_target(rollout)
    why = f"could not switch {bg.service} back to {bg.old_version}: {event.reason}"
    rollout = rollout.with_targets(
        [target.with_status(TargetStatus.ROLLBACK_FAILED, at=now, reason=why)]
    )
    return _maybe_done(Transition(rollout), now=now)


def on_side_deleted(rollout: Rollout, event: SideDeleted, *, now: datetime) -> Transition:
    target = _side_target(rollout)
    note = target.reason
    if not event.ok:
        bg = rollout.blue_green
        name = bg.new_deployment if bg is not None else "the new side"
        note = f"{note}; {name} could not be deleted: {event.reason}".lstrip("; ")
    rollout = rollout.with_targets(
        [target.with_status(TargetStatus.ROLLED_BACK, at=now, reason=note)]
    )
    return _maybe_done(Transition(rollout), now=now)
