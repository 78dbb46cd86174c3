"""The notify channel: one short line per milestone for stakeholders who do not follow the
thread, with a link to it."""

from __future__ import annotations

from collections.abc import Mapping

from handlers.render.blocks import section
from handlers.render.phrases import Message, mentions, rollout_ref, title, user_ref
from rollout.model import Rollout, Strategy
from rollout.outcomes import causes_of, digest, outcomes

_NOTIFY: Mapping[str, str] = {
    "started": "🚀 {title} rollout {ref} started by {user}",
    "awaiting-approval": "✋ {title} rollout {ref} is waiting for approval",
    "completed": "✅ {title} rollout {ref} completed: {updated}",
    "failed": "❌ {title} rollout {ref} failed: {failures}",
    "refused": "🛑 {title} rollout {ref} was refused at preflight; nothing changed: {problems}",
    "rolled-back": "↩️ {title} rollout {ref} was {rolled_back}",
    "expired": "⌛ {title} rollout {ref} expired waiting for approval",
    "cancelled": "🚫 {title} rollout {ref} was cancelled",
}

NOTIFY_KINDS = frozenset(_NOTIFY)


def notify_line(kind: str, rollout: Rollout, *, link: str | None) -> Message:
    """One short line for stakeholders, with a link to the thread."""
    counted = outcomes(rollout.targets)
    reason = mentions(rollout.reason) or "see the thread"
    text = _NOTIFY[kind].format(
        title=title(rollout),
        ref=rollout_ref(rollout),
        user=user_ref(rollout.requested_by),
        updated=(
            f"traffic is on {rollout.version}"
            if rollout.strategy is Strategy.BLUE_GREEN
            else f"{counted.updated} tenants updated"
        ),
        # The tenants that failed, whatever became of the rollout since (a refusal has none).
        failures=digest(causes_of(counted.failed)) if counted.failed else reason,
        problems=reason.removeprefix("refused: "),
        # "was rolled back automatically: ...", never "was rolled back: rolled back ...".
        rolled_back=reason if reason.startswith("rolled back") else f"rolled back: {reason}",
    )
    if link:
        text += f" · <{link}|thread>"
    return Message(text=text, blocks=(section(text),))
