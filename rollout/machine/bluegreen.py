"""How a blue-green rollout moves on: stage the new side, judge it, (approval), switch the
Service, watch the window, done; later, remove the old side.

The target list of a blue-green rollout holds one Target, the app's namespace, standing
for the new side. `blue_green.switched` is set BEFORE the Service is patched, so a roll
back after a crash always switches back when traffic may have moved (switching to the
version already selected changes nothing).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from rollout.machine import rollback, rolling
from rollout.machine.common import (
    Transition,
    publish,
    start_targets,
    stop_requested,
)
from rollout.machine.effects import (
    ArmTimer,
    CancelTimer,
    CheckHealth,
    CreateSide,
    DeleteSide,
    SwitchService,
    TimerKind,
)
from rollout.machine.events import HealthChecked, SideCreated, SideDeleted, Switched
from rollout.model import BlueGreen, EventKind, Phase, Rollout, TargetStatus


def side(rollout: Rollout) -> BlueGreen:
    assert rollout.blue_green is not None, "not a blue-green rollout"
    return rollout.blue_green


def stage(rollout: Rollout, *, now: datetime) -> Transition:
    """Create (again, harmlessly, after a restart) the new side and judge it."""
    target = rollout.targets[0]
    if target.status is not TargetStatus.UPDATING:
        rollout = rollout.with_targets(start_targets([target], now=now))
    rollout = replace(rollout.with_phase(Phase.STAGING, reason=""), paused_from=None)
    return Transition(rollout, (publish(EventKind.PROGRESS), CreateSide()))


def recover_staging(rollout: Rollout, *, now: datetime) -> Transition:
    stopped = _stop_if_requested(rollout, now=now)
    if stopped is not None:
        return stopped
    if side(rollout).switched:
        return Transition(rollout, (SwitchService(rollout.version),))
    return stage(rollout, now=now)


def on_created(rollout: Rollout, event: SideCreated, *, now: datetime) -> Transition:
    stopped = _stop_if_requested(rollout, now=now)
    if stopped is not None:
        return stopped
    if not event.ok:
        return _failed(rollout, f"could not create the new side: {event.reason}", now=now)
    if event.baseline_latency_ms is not None:
        side_target = replace(rollout.targets[0], baseline_latency_ms=event.baseline_latency_ms)
        rollout = rollout.with_targets([side_target])
    return Transition(rollout, (CheckHealth((rollout.targets[0].namespace,), wait=True),))


def on_staged(rollout: Rollout, event: HealthChecked, *, now: datetime) -> Transition:
    """The new side's first verdict, before any traffic reaches it."""
    stopped = _stop_if_requested(rollout, now=now)
    if stopped is not None:
        return stopped
    bad = [r for r in event.results if not r.ok]
    if bad or not event.results:
        why = "; ".join(r.reason for r in bad) or "the new side was not checked"
        return _failed(rollout, why, now=now)
    target = rollout.targets[0]
    rollout = rollout.with_targets([target.with_status(TargetStatus.UPDATED, at=now)])
    if rollout.settings.approval:
        return rolling.open_gate(rollout, now=now)
    return switch(rollout)


def switch(rollout: Rollout) -> Transition:
    bg = replace(side(rollout), switched=True)
    rollout = replace(rollout.with_phase(Phase.STAGING, reason=""), blue_green=bg, paused_from=None)
    return Transition(rollout, (SwitchService(rollout.version),))


def on_switched(rollout: Rollout, event: Switched, *, now: datetime) -> Transition:
    if rollout.phase is Phase.ROLLING_BACK:
        return rollback.on_switched_back(rollout, event, now=now)
    if rollout.phase is not Phase.STAGING or event.version != rollout.version:
        return Transition(rollout)
    stopped = _stop_if_requested(rollout, now=now)
    if stopped is not None:
        return stopped
    if not event.ok:
        return _failed(rollout, f"could not switch the Service: {event.reason}", now=now)
    told = publish(
        EventKind.SWITCHED, detail=f"{side(rollout).service} now serves {rollout.version}"
    )
    if rollout.settings.monitor_seconds <= 0:
        return rolling.complete(rollout, now=now).after(told)
    return rolling.start_window(rollout, now=now).after(told)


def remove_old(rollout: Rollout, *, user: str | None) -> Transition:
    """Record the intent first: a roll back must not switch to a side being deleted."""
    bg = replace(side(rollout), old_removed=True)
    return Transition(
        replace(rollout, blue_green=bg),
        (CancelTimer(TimerKind.REMOVE_OLD), DeleteSide("old")),
    )


def on_deleted(rollout: Rollout, event: SideDeleted, *, now: datetime) -> Transition:
    if event.which == "new":
        if rollout.phase is Phase.ROLLING_BACK:
            return rollback.on_side_deleted(rollout, event, now=now)
        return Transition(rollout)
    bg = side(rollout)
    if event.ok:
        name = bg.old_deployment or "the old side"
        gone = replace(rollout, blue_green=replace(bg, old_gone=True))
        return Transition(gone, (publish(EventKind.OLD_REMOVED, detail=f"{name} removed"),))
    rollout = replace(rollout, blue_green=replace(bg, old_removed=False))
    why = f"could not remove {bg.old_deployment}: {event.reason}"
    return Transition(rollout, (publish(EventKind.PROGRESS, detail=why, problems=(why,)),))


def recover_completed(rollout: Rollout, *, now: datetime) -> Transition:
    """After a restart: send again a removal of the old side that was decided but never
    confirmed, or re-arm one still to come, from when the rollout finished."""
    if rollout.old_side_removal_unconfirmed:
        return Transition(rollout, (DeleteSide("old"),))
    due = rollout.old_side_removal_at
    if due is None:
        return Transition(rollout)
    return Transition(rollout, (ArmTimer(TimerKind.REMOVE_OLD, max(due, now)),))


def _stop_if_requested(rollout: Rollout, *, now: datetime) -> Transition | None:
    stop = stop_requested(rollout)
    if stop is Phase.CANCELLED:
        # The side may exist but serves no traffic; a roll back of the rollout deletes it.
        target = rollout.targets[0]
        if target.status is TargetStatus.UPDATING:
            left = "cancelled before traffic moved; the new side may still be there"
            target = target.with_status(TargetStatus.SKIPPED, at=now, reason=left)
        return rolling.cancelled(rollout.with_targets([target]), now=now)
    if stop is Phase.ROLLING_BACK:
        return rollback.begin(rollout, now=now, tenants=None, user=None, reason=rollout.reason)
    return None


def _failed(rollout: Rollout, why: str, *, now: datetime) -> Transition:
    """A blue-green failure always rolls back (SPEC 3.4): traffic stays on, or returns to,
    the old side and the new side is deleted."""
    target = rollout.targets[0]
    rollout = rollout.with_targets([target.with_status(TargetStatus.FAILED, at=now, reason=why)])
    told = publish(EventKind.FAILED, detail=why, problems=(f"{target.namespace}: {why}",))
    return rollback.begin(rollout, now=now, tenants=None, user=None, reason=why).after(told)
