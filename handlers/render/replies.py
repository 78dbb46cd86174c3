"""Answers to one person: refusals, acknowledgements, status, history and help, the replies
to a command rather than to a rollout's progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from handlers.render.blocks import blocks_with_budget, context, section
from handlers.render.parent import parent_message
from handlers.render.phrases import (
    PHASE_ICON,
    Message,
    counts_line,
    mentions,
    phase_line,
    rollout_ref,
    target_line,
    title,
    user_ref,
)
from rollout.model import Rollout, TargetStatus


def usage_error(reply: str) -> Message:
    """A refused command: what is wrong, what to do, and the usage line."""
    return Message(text=reply, blocks=(section(reply),))


def refusal(reason: str) -> Message:
    text = f"🚫 {mentions(reason)}"
    return Message(text=text, blocks=(section(text),))


def restarting() -> Message:
    """A command or click that came in while rollbot was shutting down."""
    return refusal("rollbot is restarting and did not take that; try again in a minute.")


def failed_command() -> Message:
    """A slash command that met a bug; the person learns where to look."""
    return refusal(
        "Something went wrong on rollbot's side while handling that; the error is in "
        "rollbot's log. `/deploy status` shows where things stand."
    )


def failed_click() -> Message:
    """A click that met a bug before anything changed."""
    return refusal(
        "Something went wrong on rollbot's side and nothing was changed; "
        "the error is in rollbot's log. Try again in a moment."
    )


def accepted(text: str) -> Message:
    return Message(text=text, blocks=(context(text),))


def status_message(rollouts: Sequence[Rollout], *, empty: str = "No active rollouts.") -> Message:
    if not rollouts:
        return Message(text=empty, blocks=(section(empty),))
    lines = [
        f"{PHASE_ICON[r.phase]} {rollout_ref(r)} *{title(r)}* — {phase_line(r)} · {counts_line(r)}"
        + (f" — {mentions(r.reason)}" if r.reason else "")
        for r in rollouts
    ]
    blocks = blocks_with_budget([], lines, [])
    return Message(text="\n".join(lines), blocks=tuple(blocks))


def history_message(rollouts: Sequence[Rollout], *, app: str | None) -> Message:
    scope = f" of {app}" if app else ""
    if not rollouts:
        text = f"No rollouts{scope} yet."
        return Message(text=text, blocks=(section(text),))
    head = f"*Recent rollouts{scope}*"
    lines = [
        f"{PHASE_ICON[r.phase]} {rollout_ref(r)} {title(r)} · {r.phase.label} · "
        f"{r.created_at.strftime('%Y-%m-%d %H:%M UTC')} by {user_ref(r.requested_by)}"
        for r in rollouts
    ]
    blocks = blocks_with_budget([section(head)], lines, [])
    return Message(text="\n".join([head, *lines]), blocks=tuple(blocks))


def rollout_detail(rollout: Rollout, *, eta: datetime | None = None) -> Message:
    """`/deploy status ID`: the parent message plus the tenants that need attention."""
    parent = parent_message(rollout, eta=eta)
    notable = [
        t for t in rollout.targets if t.status not in {TargetStatus.PENDING, TargetStatus.UPDATED}
    ]
    lines = [target_line(t) for t in notable]
    head = [b for b in parent.blocks if b["type"] != "actions"]
    blocks = blocks_with_budget(head, lines, [])
    return Message(text="\n".join([parent.text, *lines]), blocks=tuple(blocks))


def help_message(usages: Sequence[str], examples: Sequence[str]) -> Message:
    """`/deploy help`: every slash command's usage lines, then a few examples."""
    listing = "\n".join(usages)
    shown = " · ".join(f"`{example}`" for example in examples)
    text = f"*rollbot* rolls releases out to Kubernetes.\n```{listing}```\nExamples: {shown}"
    return Message(text=text, blocks=(section(text),))
