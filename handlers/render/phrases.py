"""Small phrases shared by Slack and the terminal, and the :class:`Message` every
rendering returns, so both faces word a rollout alike."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from handlers.render.blocks import Block
from rollout.model import (
    PILOT_BATCH,
    Phase,
    Rollout,
    Strategy,
    Target,
    TargetStatus,
)
from rollout.plan import format_duration

PROGRESS_WIDTH = 20

STATUS_ICON: Mapping[TargetStatus, str] = {
    TargetStatus.PENDING: "⏳",
    TargetStatus.UPDATING: "🔄",
    TargetStatus.UPDATED: "✅",
    TargetStatus.FAILED: "❌",
    TargetStatus.SKIPPED: "⏭️",
    TargetStatus.ROLLING_BACK: "↩️",
    TargetStatus.ROLLED_BACK: "↩️",
    TargetStatus.ROLLBACK_FAILED: "🛑",
}

PHASE_ICON: Mapping[Phase, str] = {
    Phase.SCHEDULED: "🗓️",
    Phase.PREFLIGHT: "🔎",
    Phase.PILOT: "🧪",
    Phase.STAGING: "🧱",
    Phase.MONITORING: "👀",
    Phase.AWAITING_APPROVAL: "✋",
    Phase.BATCH: "🚀",
    Phase.WAITING: "⏱️",
    Phase.PAUSED: "⏸️",
    Phase.ROLLING_BACK: "↩️",
    Phase.ROLLED_BACK: "↩️",
    Phase.COMPLETED: "✅",
    Phase.FAILED: "❌",
    Phase.CANCELLED: "🚫",
    Phase.EXPIRED: "⌛",
}


@dataclass(frozen=True)
class Message:
    text: str
    blocks: tuple[Block, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


# --- small phrases, shared by Slack and the terminal ---------------------------------------


def rollout_ref(rollout: Rollout) -> str:
    return f"#{rollout.id}"


def title(rollout: Rollout) -> str:
    return f"{rollout.app} {rollout.version}"


def user_ref(user: str) -> str:
    """A Slack mention for Slack user and group IDs, the plain name for terminal users."""
    if len(user) > 1 and user.isupper() and user.isalnum():
        if user[0] in {"U", "W"}:
            return f"<@{user}>"
        if user[0] == "S":
            return f"<!subteam^{user}>"
    return user


_SLACK_ID = re.compile(r"(?<![\w<^@])@?\b([UWS](?=[A-Z0-9]*[0-9])[A-Z0-9]{4,})\b")


def mentions(text: str) -> str:
    """Slack IDs inside free text (reasons, refusals) become mentions Slack shows as names."""
    return _SLACK_ID.sub(lambda m: user_ref(m.group(1)), text)


def clock(at: datetime) -> str:
    return at.strftime("%H:%M UTC")


def phase_line(rollout: Rollout) -> str:
    """Where the rollout is, in words: "batch 3 of 6", "awaiting approval", ..."""
    phase = rollout.phase
    if phase is Phase.BATCH:
        return f"batch {rollout.current_batch} of {rollout.batch_count}"
    if phase is Phase.WAITING:
        return f"waiting before batch {rollout.current_batch + 1} of {rollout.batch_count}"
    if phase is Phase.MONITORING and rollout.strategy is Strategy.ROLLING:
        return "monitoring the pilots"
    if phase is Phase.MONITORING:
        return "monitoring the new side"
    if phase is Phase.PAUSED and rollout.paused_from is not None:
        if rollout.paused_from in {Phase.BATCH, Phase.WAITING}:
            return f"paused in batch {rollout.current_batch} of {rollout.batch_count}"
        return f"paused while {_WHILE.get(rollout.paused_from, rollout.paused_from.label)}"
    return phase.label


_WHILE: Mapping[Phase, str] = {
    Phase.PILOT: "updating the pilots",
    Phase.MONITORING: "monitoring",
    Phase.STAGING: "staging the new side",
    Phase.AWAITING_APPROVAL: "awaiting approval",
    Phase.SCHEDULED: "scheduled",
    Phase.PREFLIGHT: "in preflight",
}


def status_line(rollout: Rollout) -> str:
    """The phase, and why when a reason says more; never "Rolled back — rolled back by ..."."""
    phase = phase_line(rollout)
    if not rollout.reason or rollout.phase not in _REASONED:
        return phase.capitalize()
    reason = mentions(rollout.reason)
    if reason.lower().startswith(rollout.phase.label):
        return reason[:1].upper() + reason[1:]
    return f"{phase.capitalize()} — {reason}"


_REASONED = frozenset(
    {
        Phase.PAUSED,
        Phase.FAILED,
        Phase.ROLLED_BACK,
        Phase.ROLLING_BACK,
        Phase.CANCELLED,
        Phase.EXPIRED,
    }
)


def progress_bar(done: int, total: int, *, width: int = PROGRESS_WIDTH) -> str:
    if total <= 0:
        return "░" * width
    filled = round(width * done / total)
    return "▓" * filled + "░" * (width - filled)


def counts_line(rollout: Rollout) -> str:
    counts = rollout.counts()
    done = counts[TargetStatus.UPDATED]
    failed = counts[TargetStatus.FAILED] + counts[TargetStatus.ROLLBACK_FAILED]
    rolled_back = counts[TargetStatus.ROLLED_BACK]
    skipped = counts[TargetStatus.SKIPPED]
    left = counts[TargetStatus.PENDING] + counts[TargetStatus.UPDATING]
    parts = [f"{done} updated", f"{failed} failed", f"{left} left"]
    if skipped:
        parts.append(f"{skipped} skipped")
    if rolled_back:
        parts.append(f"{rolled_back} rolled back")
    return " · ".join(parts)


def target_line(target: Target) -> str:
    icon = STATUS_ICON[target.status]
    took = ""
    if target.started_at and target.finished_at:
        took = f" {format_duration(int((target.finished_at - target.started_at).total_seconds()))}"
    reason = f" — {target.reason}" if target.reason else ""
    return f"{icon} {target.namespace}{took}{reason}"


def image_tag(image: str | None) -> str:
    """The tag people talk about (v1.2.3), not the whole registry path."""
    if not image:
        return "?"
    tail = image.rsplit("/", 1)[-1]
    return tail.split(":", 1)[1] if ":" in tail else tail


def batch_name(index: int) -> str:
    return "pilots" if index == PILOT_BATCH else f"batch {index}"
