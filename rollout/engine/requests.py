"""People's requests as the engine receives them: an InboxItem (from Slack, the terminal,
or another process through the journal) turned into a state-machine command, the checks
that need more than one rollout's record, and the audit entry every request leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rollout.actions import Action
from rollout.errors import InvalidTransition, RollbotError, RolloutRefused
from rollout.machine import (
    TOUCHED,
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
    decide,
)
from rollout.model import InboxItem, Rollout

_COMMANDS: dict[Action, type[Command]] = {
    kind.action: kind for kind in (Approve, Reject, Pause, Resume, Cancel, Rollback, Retry, Skip,
                                   RemoveOld)
}  # fmt: skip


def to_command(item: InboxItem) -> Command:
    try:
        kind = _COMMANDS[Action(item.action)]
    except (ValueError, KeyError):  # not an action, or one asked of a release
        known = ", ".join(action.value for action in _COMMANDS)
        raise InvalidTransition(
            f"rollbot does not know the action {str(item.action)!r} on a rollout; it knows "
            f"{known}"
        ) from None
    if kind is Rollback:
        return Rollback(item.user, tenants=item.tenants, os_account=item.os_account)
    return kind(item.user, os_account=item.os_account)


def described(item: InboxItem) -> str:
    """The action as the audit log shows it: `rollback tenants=a,b`, `approve`."""
    if item.tenants:
        return f"{item.action} tenants={','.join(item.tenants)}"
    return item.action


def check_rollback_order(
    rollout: Rollout, tenants: Sequence[str] | None, *, others: Sequence[Rollout]
) -> None:
    """Refuse to roll back a finished rollout under the feet of another one.

    An active rollout of the same app owns the app now; a later rollout that changed the
    same tenants would be silently undone (each tenant goes back to the image recorded
    by *this* rollout), so it must be rolled back first.
    """
    if rollout.active:
        return
    scope = set(tenants) if tenants is not None else {t.namespace for t in rollout.targets}
    for other in others:
        if other.id == rollout.id or other.app != rollout.app:
            continue
        if other.active:
            raise InvalidTransition(
                f"#{other.id} of {rollout.app} is running; cancel or roll back #{other.id} "
                f"before rolling back #{rollout.id}"
            )
        if other.id < rollout.id:
            continue
        changed = sorted(
            t.namespace for t in other.targets if t.namespace in scope and t.status in TOUCHED
        )
        if changed:
            more = len(changed) - 3
            shown = ", ".join(changed[:3]) + (f" and {more} more" if more > 0 else "")
            raise InvalidTransition(
                f"#{other.id} changed {shown} after #{rollout.id}; roll back #{other.id} first"
            )


def latest_to_roll_back(
    recent: Sequence[Rollout], *, app: str, tenants: tuple[str, ...] | None, now: datetime
) -> Rollout:
    """`/rollback <app>`: the newest rollout (of `recent`, newest first) that a roll back
    of `tenants` would change anything in."""
    for rollout in recent:
        try:
            decide(rollout, Rollback("", tenants=tenants), now=now)
        except RollbotError:
            continue
        return rollout
    raise RolloutRefused(
        [f"no rollout of {app} has anything to roll back; name a version with to="]
    )
