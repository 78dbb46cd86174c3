"""The parent message: the one message per rollout, edited in place as it goes, with the
buttons that act on the whole rollout."""

from __future__ import annotations

from datetime import datetime

from handlers.render.blocks import (
    Block,
    actions,
    button,
    button_value,
    section,
)
from handlers.render.phrases import (
    PHASE_ICON,
    Message,
    clock,
    counts_line,
    progress_bar,
    progress_of,
    rollout_ref,
    status_line,
    title,
    user_ref,
)
from handlers.render.versions import bump_line
from rollout.actions import Action
from rollout.model import Phase, Rollout


def parent_message(rollout: Rollout, *, eta: datetime | None = None) -> Message:
    """The one message per rollout, edited in place as it goes."""
    icon = PHASE_ICON[rollout.phase]
    head = (
        f"{icon} *{title(rollout)}* · rollout {rollout_ref(rollout)} "
        f"by {user_ref(rollout.requested_by)} ({rollout.strategy.value})"
    )
    status = f"*{status_line(rollout)}*"
    bump = bump_line(rollout.settings, rollout.version)
    if bump is not None:
        status += f"\nVersion: {bump}"
    tail = counts_line(rollout)
    if eta is not None and rollout.active:
        tail += f" · ETA {clock(eta)}"
    # The bar fills with tenants on the new version (see `progress_of`): a paused rollout
    # with a failure never reads as all done, one still in preflight shows none.
    progress = progress_of(rollout)
    below = tail
    if progress is not None:
        below = f"`{progress_bar(progress.done, progress.total)}` {progress.count}\n{tail}"
    text = f"{head}\n{status}\n{below}"
    blocks: list[Block] = [section(f"{head}\n{status}"), section(below)]
    buttons = parent_buttons(rollout)
    if buttons:
        blocks.append(actions(f"rollout-{rollout.id}", buttons))
    return Message(text=text, blocks=tuple(blocks))


def parent_buttons(rollout: Rollout) -> list[Block]:
    value = button_value(rollout.id)
    if rollout.phase in {
        Phase.ROLLING_BACK,
        Phase.ROLLED_BACK,
        Phase.FAILED,
        Phase.REFUSED,
        Phase.CANCELLED,
        Phase.EXPIRED,
    }:
        return []
    if rollout.phase is Phase.COMPLETED:
        return [button("Roll back", Action.ROLLBACK, value, style="danger")]
    toggle = (
        button("Resume", Action.RESUME, value, style="primary")
        if rollout.phase is Phase.PAUSED
        else button("Pause", Action.PAUSE, value)
    )
    return [
        toggle,
        button("Cancel", Action.CANCEL, value),
        button("Roll back", Action.ROLLBACK, value, style="danger"),
    ]
