"""Every message rollbot shows, as pure functions of the rollout.

Slack messages are the product's face, so all of their wording and layout lives here:
the parent message of a rollout, its thread replies, the notify-channel lines, and the
ephemeral answers. Each function returns a :class:`Message` whose ``text`` is a complete
plain-text rendering (Slack's notification fallback, and what the terminal prints) and
whose ``blocks`` are the Block Kit layout.

Slack's limits are respected here rather than discovered at delivery: at most 50 blocks
a message and 3,000 characters a section. Long lists (a 1,000-tenant plan, a 100-tenant
batch) are packed into sections and, past the budget, summarised with an explicit
"… and N more" line; nothing is cut silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollout.model import (
    PILOT_BATCH,
    Phase,
    Rollout,
    Strategy,
    Target,
    TargetStatus,
)
from rollout.plan import format_duration

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
PROGRESS_WIDTH = 20
MAX_APPROVERS_SHOWN = 10

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


# --- Block Kit building blocks ------------------------------------------------------------


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _button(label: str, action_id: str, value: str, *, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _actions(block_id: str, buttons: Sequence[Block]) -> Block:
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


def _blocks_with_budget(
    head: Sequence[Block], lines: Sequence[str], tail: Sequence[Block]
) -> list[Block]:
    budget = MAX_BLOCKS - len(head) - len(tail)
    return [*head, *(_section(s) for s in pack_lines(lines, max_sections=max(1, budget))), *tail]


# --- the parent message -------------------------------------------------------------------


def parent_message(rollout: Rollout, *, eta: datetime | None = None) -> Message:
    """The one message per rollout, edited in place as it goes."""
    counts = rollout.counts()
    total = len(rollout.targets)
    done = total - counts[TargetStatus.PENDING] - counts[TargetStatus.UPDATING]
    icon = PHASE_ICON[rollout.phase]
    head = (
        f"{icon} *{title(rollout)}* · rollout {rollout_ref(rollout)} "
        f"by {user_ref(rollout.requested_by)} ({rollout.strategy.value})"
    )
    status = f"*{status_line(rollout)}*"
    bar = f"`{progress_bar(done, total)}` {done}/{total}"
    tail = counts_line(rollout)
    if eta is not None and rollout.active:
        tail += f" · ETA {clock(eta)}"
    text = f"{head}\n{status}\n{bar}\n{tail}"
    blocks: list[Block] = [_section(f"{head}\n{status}"), _section(f"{bar}\n{tail}")]
    buttons = parent_buttons(rollout)
    if buttons:
        blocks.append(_actions(f"rollout-{rollout.id}", buttons))
    return Message(text=text, blocks=tuple(blocks))


def parent_buttons(rollout: Rollout) -> list[Block]:
    value = button_value(rollout.id)
    if rollout.phase in {
        Phase.ROLLING_BACK,
        Phase.ROLLED_BACK,
        Phase.FAILED,
        Phase.CANCELLED,
        Phase.EXPIRED,
    }:
        return []
    if rollout.phase is Phase.COMPLETED:
        return [_button("Roll back", ACTION_ROLLBACK, value, style="danger")]
    toggle = (
        _button("Resume", ACTION_RESUME, value, style="primary")
        if rollout.phase is Phase.PAUSED
        else _button("Pause", ACTION_PAUSE, value)
    )
    return [
        toggle,
        _button("Cancel", ACTION_CANCEL, value),
        _button("Roll back", ACTION_ROLLBACK, value, style="danger"),
    ]


# --- thread replies -----------------------------------------------------------------------


def plan_message(
    rollout: Rollout,
    *,
    pilots: Sequence[str],
    batches: Sequence[Sequence[str]],
    estimate_seconds: int | None,
    dry_run: bool = False,
) -> Message:
    """The plan: pilots, gates, every batch with its tenants, waits, an estimate."""
    s = rollout.settings
    intro = ("Dry run — nothing will change. " if dry_run else "") + (
        f"*Plan for {title(rollout)}*" + ("" if dry_run else f" ({rollout_ref(rollout)})")
    )
    facts: list[str] = [f"{len(pilots) + sum(len(b) for b in batches)} tenants"]
    if pilots:
        facts.append(f"{len(pilots)} pilots, monitored {format_duration(s.pilot_monitor_seconds)}")
    if s.approval:
        who = f"{s.approvals_required} approval" + ("s" if s.approvals_required > 1 else "")
        facts.append(who + (" (four-eyes)" if s.four_eyes else ""))
    facts.append(f"{len(batches)} batches, {format_duration(s.wait_seconds)} apart")
    if estimate_seconds is not None:
        facts.append(f"about {format_duration(estimate_seconds)}")
    lines: list[str] = []
    if pilots:
        lines.append(f"*Pilots* ({len(pilots)}): {', '.join(pilots)}")
    if s.approval:
        lines.append("✋ *Approval gate*")
    for i, batch in enumerate(batches, start=1):
        lines.append(f"*Batch {i}* ({len(batch)}): {', '.join(batch)}")
    head = [_section(intro), _context(" · ".join(facts))]
    blocks = _blocks_with_budget(head, lines, [])
    text = "\n".join([intro, " · ".join(facts), *lines])
    return Message(text=text, blocks=tuple(blocks))


def batch_result_message(rollout: Rollout, batch: int) -> Message:
    """One reply per batch: every tenant with its status, time and failure reason."""
    targets = rollout.batch(batch)
    ok = sum(t.status is TargetStatus.UPDATED for t in targets)
    failed = [t for t in targets if t.status is TargetStatus.FAILED]
    name = batch_name(batch).capitalize()
    of = "" if batch == PILOT_BATCH else f" of {rollout.batch_count}"
    took = _span(targets)
    verdict = "all healthy" if not failed else f"{len(failed)} failed"
    icon = "❌" if failed else "✅"
    head_text = f"{icon} *{name}{of}* — {ok}/{len(targets)} updated, {verdict}{took}"
    # Failures first: with a hundred tenants in a batch, the ones that need a look lead.
    ordered = sorted(targets, key=lambda t: (t.status is not TargetStatus.FAILED, t.namespace))
    lines = [target_line(t) for t in ordered]
    blocks = _blocks_with_budget([_section(head_text)], lines, [])
    return Message(text="\n".join([head_text, *lines]), blocks=tuple(blocks))


def _span(targets: Iterable[Target]) -> str:
    starts = [t.started_at for t in targets if t.started_at]
    ends = [t.finished_at for t in targets if t.finished_at]
    if not starts or not ends:
        return ""
    return f" in {format_duration(int((max(ends) - min(starts)).total_seconds()))}"


def approval_request(rollout: Rollout, *, gate: int, approvers: Sequence[str]) -> Message:
    s = rollout.settings
    left = sum(1 for t in rollout.targets if t.status is TargetStatus.PENDING)
    has_pilots = any(t.batch == PILOT_BATCH for t in rollout.targets)
    what = (
        f"Pilots are healthy. Continue {title(rollout)} to the remaining {left} tenants?"
        if has_pilots
        else f"Start {title(rollout)} on {left} tenants?"
    )
    if rollout.strategy is Strategy.BLUE_GREEN:
        what = f"The new side of {title(rollout)} is healthy. Switch traffic to it?"
    need = f"{s.approvals_required} approval" + ("s" if s.approvals_required > 1 else "")
    shown = [user_ref(a) for a in approvers[:MAX_APPROVERS_SHOWN]]
    if len(approvers) > MAX_APPROVERS_SHOWN:
        shown.append(f"{len(approvers) - MAX_APPROVERS_SHOWN} more")
    rules = [f"Needs {need} from {', '.join(shown) or 'an approver'}"]
    if s.four_eyes:
        rules.append(f"not {user_ref(rollout.requested_by)} (four-eyes)")
    if rollout.deadline is not None:
        rules.append(f"expires {clock(rollout.deadline)}")
    recorded = [a for a in rollout.approvals if a.gate == gate and a.decision == "approve"]
    if recorded:
        rules.append("approved so far by " + ", ".join(user_ref(a.user) for a in recorded))
    head = f"✋ *Approval needed for {rollout_ref(rollout)}.* {what}"
    value = button_value(rollout.id, gate)
    blocks = (
        _section(head),
        _context(" · ".join(rules)),
        _actions(
            f"approval-{rollout.id}-{gate}",
            [
                _button("Approve", ACTION_APPROVE, value, style="primary"),
                _button("Reject", ACTION_REJECT, value, style="danger"),
            ],
        ),
    )
    return Message(text=f"{head}\n{' · '.join(rules)}", blocks=blocks)


def decided(message_text: str, *, user: str, verb: str, at: datetime) -> Message:
    """An approval or choice message after someone acted: who, what, when; no buttons."""
    first = message_text.split("\n", 1)[0]
    line = f"{verb} by {user_ref(user)} at {clock(at)}"
    return Message(text=f"{first}\n{line}", blocks=(_section(first), _context(line)))


def failure_choices(rollout: Rollout, batch: int) -> Message:
    failed = [t for t in rollout.batch(batch) if t.status is TargetStatus.FAILED]
    head = (
        f"❌ *{len(failed)} tenant{'s' if len(failed) != 1 else ''} failed in "
        f"{batch_name(batch)}.* Rollout {rollout_ref(rollout)} is paused. What next?"
    )
    lines = [target_line(t) for t in failed]
    value = button_value(rollout.id, batch)
    buttons = _actions(
        f"failure-{rollout.id}-{batch}",
        [
            _button("Roll back all", ACTION_ROLLBACK, value, style="danger"),
            _button("Retry failed", ACTION_RETRY, value, style="primary"),
            _button("Skip and continue", ACTION_SKIP, value),
        ],
    )
    blocks = _blocks_with_budget([_section(head)], lines, [buttons])
    return Message(text="\n".join([head, *lines]), blocks=tuple(blocks))


def auto_rollback_notice(rollout: Rollout) -> Message:
    text = (
        f"↩️ *Rolling back {rollout_ref(rollout)} automatically* (auto_rollback is on): "
        f"{mentions(rollout.reason) or 'a tenant failed its health check'}"
    )
    return Message(text=text, blocks=(_section(text),))


def rollback_result(rollout: Rollout) -> Message:
    touched = [
        t
        for t in rollout.targets
        if t.status in {TargetStatus.ROLLED_BACK, TargetStatus.ROLLBACK_FAILED}
    ]
    bad = [t for t in touched if t.status is TargetStatus.ROLLBACK_FAILED]
    if rollout.strategy is Strategy.BLUE_GREEN and rollout.blue_green is not None:
        bg = rollout.blue_green
        head = (
            f"↩️ *{rollout_ref(rollout)} rolled back*: traffic is on "
            f"{bg.old_version or 'the old side'}; the new side was removed."
        )
        return Message(text=head, blocks=(_section(head),))
    head = (
        f"↩️ *{rollout_ref(rollout)} rolled back*: {len(touched) - len(bad)} tenants back on "
        "their previous image" + (f", {len(bad)} could not be rolled back" if bad else "")
    )
    lines = [
        target_line(t)
        if t.status is TargetStatus.ROLLBACK_FAILED
        else f"{STATUS_ICON[t.status]} {t.namespace} → {image_tag(t.previous_image)}"
        for t in sorted(
            touched, key=lambda t: (t.status is not TargetStatus.ROLLBACK_FAILED, t.namespace)
        )
    ]
    blocks = _blocks_with_budget([_section(head)], lines, [])
    return Message(text="\n".join([head, *lines]), blocks=tuple(blocks))


def summary(rollout: Rollout) -> Message:
    counts = rollout.counts()
    took = ""
    if rollout.finished_at is not None:
        elapsed = rollout.finished_at - rollout.created_at
        took = f" in {format_duration(int(elapsed.total_seconds()))}"
    outcome = {
        Phase.COMPLETED: "completed",
        Phase.ROLLED_BACK: "rolled back",
        Phase.CANCELLED: "cancelled",
        Phase.EXPIRED: "expired waiting for approval",
        Phase.FAILED: "failed",
    }.get(rollout.phase, rollout.phase.label)
    head = (
        f"{PHASE_ICON[rollout.phase]} *{title(rollout)} {outcome}*{took} ({rollout_ref(rollout)})"
    )
    facts = (
        f"{counts[TargetStatus.UPDATED]} updated · "
        f"{counts[TargetStatus.FAILED] + counts[TargetStatus.ROLLBACK_FAILED]} failed · "
        f"{counts[TargetStatus.SKIPPED]} skipped · {counts[TargetStatus.ROLLED_BACK]} rolled back"
    )
    if rollout.reason and rollout.phase is not Phase.COMPLETED:
        facts += f"\nReason: {mentions(rollout.reason)}"
    return Message(text=f"{head}\n{facts}", blocks=(_section(head), _context(facts)))


def refused(app: str, version: str, problems: Sequence[str], *, user: str) -> Message:
    head = f"🛑 *{app} {version} was not started*: preflight found {len(problems)} problem" + (
        "s" if len(problems) != 1 else ""
    )
    lines = [f"• {p}" for p in problems]
    blocks = _blocks_with_budget([_section(head)], lines, [_context("Nothing was changed.")])
    return Message(text="\n".join([head, *lines, "Nothing was changed."]), blocks=tuple(blocks))


def blue_green_switched(rollout: Rollout) -> Message:
    bg = rollout.blue_green
    old = bg.old_version if bg and bg.old_version else "the old side"
    window = format_duration(rollout.settings.monitor_seconds)
    text = (
        f"🔀 Traffic for {rollout.app} switched from {old} to {rollout.version}. "
        f"Watching it for {window}."
    )
    return Message(text=text, blocks=(_section(text),))


def remove_old_offer(rollout: Rollout) -> Message:
    bg = rollout.blue_green
    old = (bg.old_deployment if bg else None) or "the old deployment"
    text = f"🧹 {rollout.version} is stable. Remove {old} and its ConfigMap?"
    blocks = (
        _section(text),
        _actions(
            f"remove-old-{rollout.id}",
            [
                _button("Remove old deployment", ACTION_REMOVE_OLD, button_value(rollout.id)),
            ],
        ),
    )
    return Message(text=text, blocks=blocks)


def old_removed(rollout: Rollout) -> Message:
    bg = rollout.blue_green
    old = (bg.old_deployment if bg else None) or "the old deployment"
    text = f"🧹 Removed {old} and its ConfigMap."
    return Message(text=text, blocks=(_section(text),))


def person_action(rollout: Rollout, *, user: str, verb: str) -> Message:
    text = f"{user_ref(user)} {verb} {rollout_ref(rollout)}."
    return Message(text=text, blocks=(_context(text),))


# --- the notify channel -------------------------------------------------------------------

_NOTIFY: Mapping[str, str] = {
    "started": "🚀 {title} rollout {ref} started by {user}",
    "awaiting-approval": "✋ {title} rollout {ref} is waiting for approval",
    "completed": "✅ {title} rollout {ref} completed: {updated}",
    "failed": "❌ {title} rollout {ref} failed: {reason}",
    "rolled-back": "↩️ {title} rollout {ref} was rolled back: {reason}",
    "expired": "⌛ {title} rollout {ref} expired waiting for approval",
    "cancelled": "🚫 {title} rollout {ref} was cancelled",
}

NOTIFY_KINDS = frozenset(_NOTIFY)


def notify_line(kind: str, rollout: Rollout, *, link: str | None) -> Message:
    """One short line for stakeholders, with a link to the thread."""
    text = _NOTIFY[kind].format(
        title=title(rollout),
        ref=rollout_ref(rollout),
        user=user_ref(rollout.requested_by),
        updated=(
            f"traffic is on {rollout.version}"
            if rollout.strategy is Strategy.BLUE_GREEN
            else f"{rollout.counts()[TargetStatus.UPDATED]} tenants updated"
        ),
        reason=mentions(rollout.reason) or "see the thread",
    )
    if link:
        text += f" · <{link}|thread>"
    return Message(text=text, blocks=(_section(text),))


# --- answers to one person ----------------------------------------------------------------


def usage_error(reply: str) -> Message:
    """A refused command: what is wrong, what to do, and the usage line."""
    return Message(text=reply, blocks=(_section(reply),))


def refusal(reason: str) -> Message:
    text = f"🚫 {mentions(reason)}"
    return Message(text=text, blocks=(_section(text),))


def accepted(text: str) -> Message:
    return Message(text=text, blocks=(_context(text),))


def status_message(rollouts: Sequence[Rollout], *, empty: str = "No active rollouts.") -> Message:
    if not rollouts:
        return Message(text=empty, blocks=(_section(empty),))
    lines = [
        f"{PHASE_ICON[r.phase]} {rollout_ref(r)} *{title(r)}* — {phase_line(r)} · {counts_line(r)}"
        + (f" — {mentions(r.reason)}" if r.reason else "")
        for r in rollouts
    ]
    blocks = _blocks_with_budget([], lines, [])
    return Message(text="\n".join(lines), blocks=tuple(blocks))


def history_message(rollouts: Sequence[Rollout], *, app: str | None) -> Message:
    scope = f" of {app}" if app else ""
    if not rollouts:
        text = f"No rollouts{scope} yet."
        return Message(text=text, blocks=(_section(text),))
    head = f"*Recent rollouts{scope}*"
    lines = [
        f"{PHASE_ICON[r.phase]} {rollout_ref(r)} {title(r)} · {r.phase.label} · "
        f"{r.created_at.strftime('%Y-%m-%d %H:%M UTC')} by {user_ref(r.requested_by)}"
        for r in rollouts
    ]
    blocks = _blocks_with_budget([_section(head)], lines, [])
    return Message(text="\n".join([head, *lines]), blocks=tuple(blocks))


def rollout_detail(rollout: Rollout, *, eta: datetime | None = None) -> Message:
    """`/deploy status ID`: the parent message plus the tenants that need attention."""
    parent = parent_message(rollout, eta=eta)
    notable = [
        t for t in rollout.targets if t.status not in {TargetStatus.PENDING, TargetStatus.UPDATED}
    ]
    lines = [target_line(t) for t in notable]
    head = [b for b in parent.blocks if b["type"] != "actions"]
    blocks = _blocks_with_budget(head, lines, [])
    return Message(text="\n".join([parent.text, *lines]), blocks=tuple(blocks))


def help_message(deploy_usage: str, rollback_usage: str) -> Message:
    text = (
        "*rollbot* rolls releases out to Kubernetes.\n"
        f"```{deploy_usage}\n{rollback_usage}```\n"
        "Examples: `/deploy isp v1.3.0 batch=5` · `/deploy isp v1.3.0 dry-run` · "
        "`/deploy status 42` · `/rollback 42`"
    )
    return Message(text=text, blocks=(_section(text),))


# --- short thread replies of the Slack delivery (bot.slack) -------------------------------

_PERSON_VERBS: Mapping[str, str] = {
    "approve": "approved",
    "reject": "rejected",
    "pause": "paused",
    "resume": "resumed",
    "retry": "chose Retry failed for",
    "skip": "chose Skip and continue for",
    "rollback": "started a roll back of",
}


def person_event(rollout: Rollout, *, user: str, action: str) -> Message:
    """Who acted on the rollout, by inbox action name: `<@U0BOB> approved #42.`"""
    return person_action(rollout, user=user, verb=_PERSON_VERBS.get(action, action))


def closed(message_text: str, *, phase: Phase, at: datetime) -> Message:
    """An approval or choice message nobody needs to answer any more, because the rollout
    ended (expired, cancelled, ...): its first line, how it ended and when; no buttons."""
    first = message_text.split("\n", 1)[0]
    line = f"{PHASE_ICON[phase]} {phase.label.capitalize()} at {clock(at)}"
    return Message(text=f"{first}\n{line}", blocks=(_section(first), _context(line)))
