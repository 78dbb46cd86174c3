"""Block Kit building blocks and Slack's limits, shared by every kind of message.

Buttons carry the rollout ID in their value so they keep working after a restart, and
long lists are packed into sections within Slack's budget with an explicit "… and N more".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000

# action_id of every button; the value carries the rollout ID so that buttons keep
# working after a restart (nothing about them lives only in memory).
ACTION_APPROVE = "rollbot_approve"
ACTION_REJECT = "rollbot_reject"
ACTION_PAUSE = "rollbot_pause"
ACTION_RESUME = "rollbot_resume"
ACTION_CANCEL = "rollbot_cancel"
ACTION_ROLLBACK = "rollbot_rollback"
ACTION_RETRY = "rollbot_retry"
ACTION_SKIP = "rollbot_skip"
ACTION_REMOVE_OLD = "rollbot_remove_old"


# --- Block Kit building blocks ------------------------------------------------------------


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def button(label: str, action_id: str, value: str, *, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def actions(block_id: str, buttons: Sequence[Block]) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(buttons)}


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
