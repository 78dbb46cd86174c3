"""Small pieces every part of the state machine shares: the Transition value, finishing a
rollout, timers, failure summaries, and the words used when an action is refused.

One convention needs stating because the model has no field of its own for it: while a
rollout is NOT paused, a set ``paused_from`` means "stop requested": the phase to go to
once the work in flight settles (CANCELLED for a cancel during a batch or while a
blue-green side is being staged, ROLLING_BACK for a roll back while staging). It is
stored like every other field, so a restart keeps the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple, NoReturn

from rollout.actions import Action
from rollout.errors import InvalidTransition
from rollout.machine.effects import CancelTimer, Effect, Publish, TimerKind
from rollout.model import PILOT_BATCH, EventKind, Phase, Rollout, Target, TargetStatus
from rollout.outcomes import outcomes

# A tenant that may be running something other than its previous image. SKIPPED counts:
# only a failed tenant can be skipped, and it is left on the new image.
TOUCHED = frozenset(
    {
        TargetStatus.UPDATING,
        TargetStatus.UPDATED,
        TargetStatus.FAILED,
        TargetStatus.SKIPPED,
        TargetStatus.ROLLING_BACK,
        TargetStatus.ROLLBACK_FAILED,
    }
)

# The one timer each waiting phase may have armed.
PHASE_TIMER: dict[Phase, TimerKind] = {
    Phase.SCHEDULED: TimerKind.SCHEDULED_START,
    Phase.WAITING: TimerKind.WAIT_OVER,
    Phase.MONITORING: TimerKind.MONITOR_TICK,
    Phase.AWAITING_APPROVAL: TimerKind.APPROVAL_EXPIRED,
}


class Transition(NamedTuple):
    """The rollout after an event, and what the engine must do about it, in order."""

    rollout: Rollout
    effects: tuple[Effect, ...] = ()

    def then(self, *effects: Effect) -> Transition:
        return Transition(self.rollout, self.effects + effects)

    def after(self, *effects: Effect) -> Transition:
        """The same transition with `effects` run before its own."""
        return Transition(self.rollout, effects + self.effects)


def ref(rollout: Rollout) -> str:
    return f"#{rollout.id}"


def refuse(message: str) -> NoReturn:
    raise InvalidTransition(message)


def stop_requested(rollout: Rollout) -> Phase | None:
    """CANCELLED or ROLLING_BACK when a person asked to stop while work was in flight."""
    if rollout.phase is Phase.PAUSED:
        return None
    return rollout.paused_from


def where(rollout: Rollout) -> str:
    """Where a rollout is, completing "#42 is ..."."""
    phase = rollout.phase
    if phase is Phase.SCHEDULED and rollout.start_at is not None:
        return f"scheduled for {rollout.start_at:%Y-%m-%d %H:%M} UTC"
    if phase is Phase.PILOT:
        return "updating its pilot tenants"
    if phase is Phase.BATCH:
        return f"updating batch {rollout.current_batch} of {rollout.batch_count}"
    if phase is Phase.WAITING:
        return f"waiting before batch {rollout.current_batch + 1} of {rollout.batch_count}"
    if phase is Phase.MONITORING:
        return "in its monitor window"
    if phase is Phase.STAGING:
        return "staging the new side"
    if phase is Phase.AWAITING_APPROVAL:
        return "waiting for approval"
    if phase is Phase.FAILED:
        return "finished: it failed"
    if phase.terminal:
        return f"already {phase.label}"
    return phase.label


def refuse_finished(rollout: Rollout, verb: str) -> None:
    """Refuse any action on a finished rollout, saying how it finished."""
    if rollout.phase.terminal:
        refuse(f"{ref(rollout)} is {where(rollout)}; there is nothing to {verb}")


def publish(
    kind: EventKind,
    *,
    batch: int | None = None,
    user: str | None = None,
    detail: str = "",
    problems: Sequence[str] = (),
    action: Action | None = None,
) -> Publish:
    return Publish(
        kind=kind, batch=batch, user=user, detail=detail, problems=tuple(problems), action=action
    )


def cancel_phase_timer(phase: Phase | None) -> tuple[Effect, ...]:
    kind = PHASE_TIMER.get(phase) if phase is not None else None
    return (CancelTimer(kind),) if kind is not None else ()


def finish(rollout: Rollout, phase: Phase, *, now: datetime, reason: str) -> Rollout:
    """Into a terminal phase: no deadline, no pending stop, finished now."""
    assert phase.terminal, phase
    return replace(rollout.with_phase(phase, reason=reason), paused_from=None, finished_at=now)


def seconds_after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def batch_phase(batch: int) -> Phase:
    return Phase.PILOT if batch == PILOT_BATCH else Phase.BATCH


def start_targets(targets: Iterable[Target], *, now: datetime) -> list[Target]:
    """Record the intent to update, before any patch: UPDATING, one more attempt."""
    return [
        replace(t.with_status(TargetStatus.UPDATING, at=now), attempts=t.attempts + 1)
        for t in targets
    ]


def counts_text(rollout: Rollout) -> str:
    """ "28 updated, 1 failed, 1 skipped" for summaries."""
    counted = outcomes(rollout.targets)
    counts = (
        (counted.updated, "updated"),
        (len(counted.failed), "failed"),
        (counted.skipped, "skipped"),
        (counted.rolled_back, "rolled back"),
    )
    return ", ".join(f"{n} {what}" for n, what in counts if n) or "no tenants"
