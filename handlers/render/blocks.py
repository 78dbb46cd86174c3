"""Block Kit building blocks and Slack's limits, shared by every kind of message.

A button's action_id names the :class:`rollout.actions.Action` it asks for, and its value
carries the rollout ID, so buttons keep working after a restart (nothing about them
lives only in memory). Long lists are packed into sections within Slack's budget with an
explicit "… and N more".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollout.actions import Action

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000

# Kinds of one-time decision messages, as their block_ids spell them on messages posted.
APPROVAL_KIND = "approval"
FAILURE_KIND = "failure"
REMOVE_OLD_KIND = str(Action.REMOVE_OLD)  # the offer is named after what it offers
DECISION_KINDS = (APPROVAL_KIND, FAILURE_KIND, REMOVE_OLD_KIND)


# --- Block Kit building blocks ------------------------------------------------------------


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def button(label: str, action: Action, value: str, *, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action.button_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def actions(block_id: str, buttons: Sequence[Block]) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(buttons)}


def decision_block(kind: str, rollout_id: int, at: int | None = None) -> str:
    """The block_id of the buttons of a one-time decision: an approval request, a
    failure's choices, the offer to remove the old side. A click on one settles it."""
    return f"{kind}-{rollout_id}" if at is None else f"{kind}-{rollout_id}-{at}"


def settles(block_id: str) -> bool:
    """True for buttons made by :func:`decision_block`; the parent message's buttons stay
    (the delivery re-renders it as the rollout moves)."""
    return block_id.startswith(tuple(f"{kind}-" for kind in DECISION_KINDS))


def button_value(rollout_id: int, gate: int | None = None) -> str:
    return f"{rollout_id}" if gate is None else f"{rollout_id}:{gate}"


def parse_button_value(value: str) -> tuple[int, int | None]:
    """Inverse of :func:`button_value`; ValueError for anything else."""
    head, _, gate = value.partition(":")
    return int(head), (int(gate) if gate else None)


def pack_lines(
    lines: Sequence[str], *, max_sections: int, more: str = "… and {n} more"
) -> list[str]:
    """Pack lines into at most `max_sections` texts of at most MAX_SECTION_CHARS each.

    When they do not fit, the last section ends with an explicit summary line naming how
    many lines were left out, so a reader always knows the list is longer."""
    sections: list[str] = []
    current: list[str] = []
    size = 0
    for i, raw in enumerate(lines):
        # One tenant's line never needs more; a longer reason is shortened visibly.
        line = raw if len(raw) <= 300 else raw[:297] + "…"
        if size + len(line) + 1 > MAX_SECTION_CHARS - 80:
            sections.append("\n".join(current))
            current, size = [], 0
            if len(sections) == max_sections:
                rest = len(lines) - i
                last = sections[-1].split("\n")
                sections[-1] = "\n".join([*last[:-1], more.format(n=rest + 1)])
                return sections
        current.append(line)
        size += len(line) + 1
    if current:
        sections.append("\n".join(current))
    return sections


def blocks_with_budget(
    head: Sequence[Block], lines: Sequence[str], tail: Sequence[Block]
) -> list[Block]:
    budget = MAX_BLOCKS - len(head) - len(tail)
    return [*head, *(section(s) for s in pack_lines(lines, max_sections=max(1, budget))), *tail]
