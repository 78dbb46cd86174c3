"""Replies in a rollout's thread: the plan, each batch, approvals, failures, roll backs and
the summary, so the story of one rollout reads top to bottom in one place."""

from __future__ import annotations

from collections.abc import Sequence

from handlers.render.blocks import (
    APPROVAL_KIND,
    FAILURE_KIND,
    REMOVE_OLD_KIND,
    actions,
    blocks_with_budget,
    button,
    button_value,
    context,
    decision_block,
    section,
)
from handlers.render.phrases import (
    PHASE_ICON,
    STATUS_ICON,
    Message,
    back_on,
    batch_name,
    clock,
    counted,
    estimate_phrase,
    reason_rest,
    retries_line,
    rollout_ref,
    summary_counts,
    target_line,
    tenants_failed,
    thread_reason,
    title,
    user_ref,
)
from handlers.render.versions import bump_line, checked_lines
from rollout.actions import Action
from rollout.model import (
    PILOT_BATCH,
    Phase,
    Rollout,
    Strategy,
    Target,
    TargetStatus,
)
from rollout.options import format_duration, format_elapsed
from rollout.outcomes import outcomes
from rollout.plan import Estimate, Plan

MAX_APPROVERS_SHOWN = 10


def plan_message(
    rollout: Rollout,
    *,
    pilots: Sequence[str],
    batches: Sequence[Sequence[str]],
    estimate: Estimate | None,
    dry_run: bool = False,
    checked: Plan | None = None,
) -> Message:
    """The plan: pilots, gates, every batch with its tenants, waits, an estimate; with
    `checked` (a deploy's plan as checked), what runs now and why it would be refused."""
    s = rollout.settings
    intro = ("Dry run — nothing will change. " if dry_run else "") + (
        f"*Plan for {title(rollout)}*" + ("" if dry_run else f" ({rollout_ref(rollout)})")
    )
    facts: list[str] = [f"{len(pilots) + sum(len(b) for b in batches)} tenants"]
    if pilots:
        monitored = format_duration(s.pilot_monitor_seconds)
        facts.append(f"{counted(len(pilots), 'pilot')}, monitored {monitored}")
    if s.approval:
        who = counted(s.approvals_required, "approval")
        facts.append(who + (" (four-eyes)" if s.four_eyes else ""))
    apart = f", {format_duration(s.wait_seconds)} apart" if len(batches) > 1 else ""
    facts.append(counted(len(batches), "batch", "batches") + apart)
    if estimate is not None:
        facts.append(estimate_phrase(estimate))
    lines: list[str] = []
    if pilots:
        lines.append(f"*Pilots* ({len(pilots)}): {', '.join(pilots)}")
    if s.approval:
        lines.append("✋ *Approval gate*")
    for i, batch in enumerate(batches, start=1):
        lines.append(f"*Batch {i}* ({len(batch)}): {', '.join(batch)}")
    bump = bump_line(s, rollout.version)
    if bump is not None:
        intro += f"\nVersion: {bump}"
    if checked is not None:
        lines += checked_lines(checked)
    head = [section(intro), context(" · ".join(facts))]
    blocks = blocks_with_budget(head, lines, [])
    text = "\n".join([intro, " · ".join(facts), *lines])
    return Message(text=text, blocks=tuple(blocks))


def batch_result_message(rollout: Rollout, batch: int) -> Message:
    """One reply per batch: every tenant with how its update settled, its time, and the
    failure reason. It tells what the update did, even when a roll back has begun since."""
    targets = rollout.batch(batch)
    counted = outcomes(targets)
    name = batch_name(batch).capitalize()
    of = "" if batch == PILOT_BATCH else f" of {rollout.batch_count}"
    verdict = [f"{counted.updated}/{counted.total} updated"]
    if counted.all_healthy:
        verdict.append("all healthy")
    if counted.failed:
        verdict.append(f"{len(counted.failed)} failed")
    if counted.skipped:
        verdict.append(f"{counted.skipped} skipped")
    icon = "❌" if counted.failed else "✅" if counted.all_healthy else "⚠️"
    head_text = f"{icon} *{name}{of}* — {', '.join(verdict)}{_span(targets)}"
    # Failures first: with a hundred tenants in a batch, the ones that need a look lead.
    ordered = sorted(
        targets, key=lambda t: (t.update_result is not TargetStatus.FAILED, t.namespace)
    )
    lines = [
        line
        for t in ordered
        for line in (target_line(t, status=t.update_result), reason_rest(t))
        if line
    ]
    blocks = blocks_with_budget([section(head_text)], lines, [])
    return Message(text="\n".join([head_text, *lines]), blocks=tuple(blocks))


def _span(targets: Sequence[Target]) -> str:
    starts = [t.started_at for t in targets if t.started_at]
    ends = [t.finished_at for t in targets if t.finished_at]
    if not starts or not ends:
        return ""
    return f" in {format_elapsed((max(ends) - min(starts)).total_seconds())}"


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
    need = counted(s.approvals_required, "approval")
    shown = [user_ref(a) for a in approvers[:MAX_APPROVERS_SHOWN]]
    if len(approvers) > MAX_APPROVERS_SHOWN:
        shown.append(f"{len(approvers) - MAX_APPROVERS_SHOWN} more")
    rules = [f"Needs {need} from {', '.join(shown) or 'an approver'}"]
    if s.four_eyes:
        rules.append(f"not {user_ref(rollout.requested_by)} (four-eyes)")
    if rollout.deadline is not None:
        rules.append(f"expires {clock(rollout.deadline)}")
    recorded = [a for a in rollout.approvals if a.gate == gate and a.decision == Action.APPROVE]
    if recorded:
        rules.append("approved so far by " + ", ".join(user_ref(a.user) for a in recorded))
    head = f"✋ *Approval needed for {rollout_ref(rollout)}.* {what}"
    value = button_value(rollout.id, gate)
    blocks = (
        section(head),
        context(" · ".join(rules)),
        actions(
            decision_block(APPROVAL_KIND, rollout.id, gate),
            [
                button("Approve", Action.APPROVE, value, style="primary"),
                button("Reject", Action.REJECT, value, style="danger"),
            ],
        ),
    )
    return Message(text=f"{head}\n{' · '.join(rules)}", blocks=blocks)


def failure_choices(rollout: Rollout, batch: int) -> Message:
    """After a failure that paused the rollout: who failed and why, and the three ways on."""
    failed = outcomes(rollout.batch(batch)).failed
    head = (
        f"❌ *{tenants_failed(len(failed), batch)}.* Rollout {rollout_ref(rollout)} is paused. "
        "What next?"
    )
    # A batch's failures were given with their causes in its result just above, and the
    # thread says each cause once; a failure while monitoring came after that result.
    why = rollout.paused_from is Phase.MONITORING
    lines = [target_line(t, why=why) for t in failed]
    value = button_value(rollout.id, batch)
    buttons = actions(
        decision_block(FAILURE_KIND, rollout.id, batch),
        [
            button("Roll back all", Action.ROLLBACK, value, style="danger"),
            button("Retry failed", Action.RETRY, value, style="primary"),
            button("Skip and continue", Action.SKIP, value),
        ],
    )
    blocks = blocks_with_budget([section(head)], lines, [buttons])
    return Message(text="\n".join([head, *lines]), blocks=tuple(blocks))


def auto_rollback_notice(rollout: Rollout) -> Message:
    """A failure that rolls back without asking: what failed, and why nobody is asked."""
    failed = outcomes(rollout.targets).failed
    if rollout.strategy is Strategy.BLUE_GREEN:
        why = "the new side failed; a blue-green rollout always rolls back"
    else:
        batch = failed[0].batch if failed else rollout.current_batch
        why = f"{tenants_failed(len(failed), batch)} (auto_rollback is on)"
    head = f"↩️ *Rolling back {rollout_ref(rollout)} automatically*: {why}"
    lines = [target_line(t, status=TargetStatus.FAILED) for t in failed]
    blocks = blocks_with_budget([section(head)], lines, [])
    return Message(text="\n".join([head, *lines]), blocks=tuple(blocks))


_PUT_BACK = frozenset({TargetStatus.ROLLED_BACK, TargetStatus.ROLLBACK_FAILED})


def rollback_result(rollout: Rollout) -> Message:
    touched = [t for t in rollout.targets if t.status in _PUT_BACK]
    if rollout.strategy is Strategy.BLUE_GREEN and rollout.blue_green is not None:
        bg = rollout.blue_green
        head = (
            f"↩️ *{rollout_ref(rollout)} rolled back*: traffic is on "
            f"{bg.old_version or 'the old side'}; the new side was removed."
        )
        return Message(text=head, blocks=(section(head),))
    counted = outcomes(touched)
    bad = len(counted.not_rolled_back)
    previous = "Helm revision" if rollout.strategy is Strategy.HELM else "image"
    head = (
        f"↩️ *{rollout_ref(rollout)} rolled back*: {counted.rolled_back} tenants back on "
        f"their previous {previous}" + (f", {bad} could not be rolled back" if bad else "")
    )
    lines = [
        target_line(t)
        if t.status is TargetStatus.ROLLBACK_FAILED
        else f"{STATUS_ICON[t.status]} {t.namespace} → {back_on(t)}"
        for t in sorted(
            touched, key=lambda t: (t.status is not TargetStatus.ROLLBACK_FAILED, t.namespace)
        )
    ]
    blocks = blocks_with_budget([section(head)], lines, [])
    return Message(text="\n".join([head, *lines]), blocks=tuple(blocks))


def summary(rollout: Rollout) -> Message:
    """How the rollout ended: its counts (the batch results added up), why it ended when it
    did not complete, and the Kubernetes calls it had to try again, if any."""
    took = ""
    if rollout.phase is Phase.ROLLED_BACK:
        # A roll back's time is its own, from its start, not the rollout's it undid.
        took = _span([t for t in rollout.targets if t.status in _PUT_BACK])
    elif rollout.finished_at is not None:
        elapsed = rollout.finished_at - rollout.created_at
        took = f" in {format_elapsed(elapsed.total_seconds())}"
    outcome = {
        Phase.COMPLETED: "completed",
        Phase.ROLLED_BACK: "rolled back",
        Phase.CANCELLED: "cancelled",
        Phase.EXPIRED: "expired waiting for approval",
        Phase.FAILED: "failed",
        Phase.REFUSED: "was refused at preflight",
    }.get(rollout.phase, rollout.phase.label)
    head = (
        f"{PHASE_ICON[rollout.phase]} *{title(rollout)} {outcome}*{took} ({rollout_ref(rollout)})"
    )
    facts = [summary_counts(outcomes(rollout.targets))]
    if rollout.reason and rollout.phase is not Phase.COMPLETED:
        facts.append(f"Reason: {thread_reason(rollout)}")
    retried = retries_line(rollout.retries)
    if retried:
        facts.append(retried)
    text = "\n".join(facts)
    return Message(text=f"{head}\n{text}", blocks=(section(head), context(text)))


def refused(app: str, version: str, problems: Sequence[str], *, user: str) -> Message:
    head = (f"🛑 *{app} {version} was not started*: preflight found "
            f"{counted(len(problems), 'problem')}")
    lines = [f"• {p}" for p in problems]
    blocks = blocks_with_budget([section(head)], lines, [context("Nothing was changed.")])
    return Message(text="\n".join([head, *lines, "Nothing was changed."]), blocks=tuple(blocks))


def blue_green_switched(rollout: Rollout) -> Message:
    bg = rollout.blue_green
    old = bg.old_version if bg and bg.old_version else "the old side"
    window = format_duration(rollout.settings.monitor_seconds)
    text = (
        f"🔀 Traffic for {rollout.app} switched from {old} to {rollout.version}. "
        f"Watching it for {window}."
    )
    return Message(text=text, blocks=(section(text),))


def remove_old_offer(rollout: Rollout) -> Message:
    bg = rollout.blue_green
    old = (bg.old_deployment if bg else None) or "the old deployment"
    text = f"🧹 {rollout.version} is stable. Remove {old} and its ConfigMap?"
    blocks = (
        section(text),
        actions(
            decision_block(REMOVE_OLD_KIND, rollout.id),
            [
                button("Remove old deployment", Action.REMOVE_OLD, button_value(rollout.id)),
            ],
        ),
    )
    return Message(text=text, blocks=blocks)


def old_removed(rollout: Rollout) -> Message:
    bg = rollout.blue_green
    old = (bg.old_deployment if bg else None) or "the old deployment"
    text = f"🧹 Removed {old} and its ConfigMap."
    return Message(text=text, blocks=(section(text),))
