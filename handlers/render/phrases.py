"""Small phrases shared by Slack and the terminal, and the :class:`Message` every
rendering returns, so both faces word a rollout alike."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from handlers.render.blocks import Block
from rollout.health import lead_cause
from rollout.images import tag_of
from rollout.model import (
    PILOT_BATCH,
    Phase,
    Retries,
    Rollout,
    Target,
    TargetStatus,
)
from rollout.options import format_duration, format_elapsed
from rollout.outcomes import Outcomes, causes_of, digest, outcomes
from rollout.plan import Estimate

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
    Phase.REFUSED: "🛑",
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
    if phase is Phase.SCHEDULED and rollout.start_at is not None:
        return f"scheduled for {rollout.start_at:%Y-%m-%d %H:%M} UTC"
    if phase is Phase.PREFLIGHT:
        # Nothing has changed yet, and preflight may still refuse it.
        return "checking the fleet…" if rollout.strategy.per_tenant else "checking the cluster…"
    if phase is Phase.PILOT:
        return "rolling the pilots"
    if phase is Phase.BATCH:
        return f"batch {rollout.current_batch} of {rollout.batch_count}"
    if phase is Phase.WAITING:
        return f"waiting before batch {rollout.current_batch + 1} of {rollout.batch_count}"
    if phase is Phase.MONITORING and rollout.strategy.per_tenant:
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
        return _first_upper(phase)
    reason = thread_reason(rollout)
    if reason.lower().startswith(rollout.phase.label):
        return reason[:1].upper() + reason[1:]
    return f"{_first_upper(phase)} — {reason}"


def _first_upper(text: str) -> str:
    """A sentence's first letter up, the rest as written (`str.capitalize` would lower
    "UTC")."""
    return text[:1].upper() + text[1:]


def thread_reason(rollout: Rollout) -> str:
    """The rollout's reason as the thread's head and summary say it: the failed tenants'
    causes, which their batch result already gives, become a count, so the thread tells
    each cause once."""
    failed = outcomes(rollout.targets).failed
    causes = digest(causes_of(failed)) if failed else ""
    reason = rollout.reason
    if causes and causes in reason:
        count = f"{counted(len(failed), 'tenant')} failed"
        reason = reason.replace(causes, count)
    return mentions(reason)


_REASONED = frozenset(
    {
        Phase.PAUSED,
        Phase.FAILED,
        Phase.REFUSED,
        Phase.ROLLED_BACK,
        Phase.ROLLING_BACK,
        Phase.CANCELLED,
        Phase.EXPIRED,
    }
)


@dataclass(frozen=True)
class Progress:
    """What a rollout's progress bar counts: `done` of `total`, of `unit` ("pilots")
    when it counts only some of its tenants."""

    done: int
    total: int
    unit: str = ""

    @property
    def count(self) -> str:
        """`3/12`, or `1/2 pilots`."""
        return f"{self.done}/{self.total}" + (f" {self.unit}" if self.unit else "")


# Nothing can have changed yet, or nothing ever will: a bar would only say "0 of N".
_NO_PROGRESS = frozenset({Phase.SCHEDULED, Phase.PREFLIGHT, Phase.REFUSED, Phase.FAILED})


def progress_of(rollout: Rollout) -> Progress | None:
    """The bar of the parent message and of the terminal's progress line, from where the
    rollout truly is: none before any tenant can have changed (scheduled, preflight, or
    refused, or ended before it began); the pilots alone while they roll; otherwise the
    tenants running the new version now, of all its tenants (a failed, skipped or rolled
    back tenant is not done)."""
    started = any(t.status is not TargetStatus.PENDING for t in rollout.targets)
    if rollout.phase in _NO_PROGRESS or (rollout.phase.terminal and not started):
        return None
    counted = rollout.targets
    unit = ""
    if rollout.phase is Phase.PILOT:
        counted, unit = rollout.batch(PILOT_BATCH), "pilots"
    on_new = sum(t.status is TargetStatus.UPDATED for t in counted)
    return Progress(done=on_new, total=len(counted), unit=unit)


def progress_bar(done: int, total: int, *, width: int = PROGRESS_WIDTH) -> str:
    if total <= 0:
        return "░" * width
    filled = round(width * done / total)
    return "▓" * filled + "░" * (width - filled)


def counts_line(rollout: Rollout) -> str:
    """`12 updated · 1 failed · 17 left`, and what else applies: skipped, rolled back."""
    counted = outcomes(rollout.targets)
    parts = [f"{counted.updated} updated", f"{len(counted.failed)} failed"]
    # "Left" while the rollout may still reach them; after it ended, or once it turned
    # back, the tenants it never reached were simply not started.
    going_on = rollout.active and rollout.phase is not Phase.ROLLING_BACK
    if going_on or not counted.pending:
        parts.append(f"{counted.left} left")
    else:
        parts.append(f"{counted.pending} not started")
    parts += _aftermath(counted)
    return " · ".join(parts)


def summary_counts(counted: Outcomes) -> str:
    """The final summary's counts: updated, failed, skipped, rolled back, and the rest."""
    parts = [
        f"{counted.updated} updated",
        f"{len(counted.failed)} failed",
        f"{counted.skipped} skipped",
        f"{counted.rolled_back} rolled back",
    ]
    if counted.not_rolled_back:
        parts.append(f"{len(counted.not_rolled_back)} could not be rolled back")
    if counted.pending:
        parts.append(f"{counted.pending} not started")
    return " · ".join(parts)


def _aftermath(counted: Outcomes) -> list[str]:
    parts = []
    if counted.skipped:
        parts.append(f"{counted.skipped} skipped")
    if counted.rolling_back:
        parts.append(f"{counted.rolling_back} rolling back")
    if counted.rolled_back:
        parts.append(f"{counted.rolled_back} rolled back")
    if counted.not_rolled_back:
        parts.append(f"{len(counted.not_rolled_back)} could not be rolled back")
    return parts


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 pilot`, `3 pilots`, `1 batch`, `2 batches`: a count with its noun, plural
    unless it is one."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def tenants_failed(count: int, batch: int) -> str:
    """`2 tenants failed in pilots`."""
    return f"{counted(count, 'tenant')} failed in {batch_name(batch)}"


_CALLS: Mapping[str, tuple[str, str]] = {
    "patch": ("patch", "patches"),
    "watch": ("watch", "watches"),
}


def retries_line(retries: Retries) -> str:
    """`12 Kubernetes calls were retried (9 patches, 3 reads) after API errors.`; "" when
    none were."""
    total = retries.total
    if not total:
        return ""
    kinds = ", ".join(
        f"{n} {_CALLS.get(kind, (kind, kind + 's'))[n != 1]}"
        for kind, n in sorted(retries.by_kind, key=lambda kind_n: (-kind_n[1], kind_n[0]))
    )
    if total == 1:
        return f"1 Kubernetes call was retried ({kinds}) after an API error."
    return f"{total} Kubernetes calls were retried ({kinds}) after API errors."


def target_line(
    target: Target, *, status: TargetStatus | None = None, why: bool = True
) -> str:
    """One tenant: icon, how long it took, and its root cause when something went wrong
    (`why` False leaves it to a line above; `reason_rest` gives the rest). `status`
    chooses the icon when it is not the tenant's status now (a batch result shows how
    the update settled, whatever came after)."""
    icon = STATUS_ICON[status or target.status]
    took = ""
    if target.started_at and target.finished_at:
        took = f" {format_elapsed((target.finished_at - target.started_at).total_seconds())}"
    reason = f" — {lead_cause(target.reason)[0]}" if target.reason and why else ""
    return f"{icon} {target.namespace}{took}{helm_revisions(target)}{reason}"


def reason_rest(target: Target) -> str:
    """What else was wrong with a tenant after its root cause: "" when nothing was."""
    rest = lead_cause(target.reason)[1] if target.reason else ()
    return f"    also: {'; '.join(rest)}" if rest else ""


def helm_revisions(target: Target) -> str:
    """A Helm release's revisions as a tenant line shows them: ` · Helm revision 1 → 2`
    (` · Helm revision 2` when rollbot did not change it); nothing for other tenants."""
    before, now = target.previous_revision, target.revision
    if before is None and now is None:
        return ""
    if before is None or now is None or before == now:
        return f" · Helm revision {now if now is not None else before}"
    return f" · Helm revision {before} → {now}"


def back_on(target: Target) -> str:
    """What a rolled back tenant runs again: its image tag, or for a Helm release the
    revision it went back to and the one that made (`Helm revision 1, as revision 3`)."""
    if target.previous_revision is None:
        return image_tag(target.previous_image)
    made = target.revision
    again = f", as revision {made}" if made is not None and made != target.previous_revision else ""
    return f"Helm revision {target.previous_revision}{again}"


def image_tag(image: str | None) -> str:
    """The tag people talk about (v1.2.3), not the whole registry path; `?` when the
    image names none."""
    return (tag_of(image) if image else None) or "?"


def estimate_phrase(estimate: Estimate) -> str:
    """How long a plan should take and what that rests on, the same on both faces:
    `about 2m10s (waits 2m, rollout ~4s per batch from the last 5 rollouts)`, or, before
    any rollout of the app completed, `(...; no past rollouts, assuming 1m per batch)`.
    Time at an approval gate is people's, so it is named, not guessed."""
    pace = estimate.pace
    # A blue-green plan's one "batch" is its new side coming up.
    blue_green = any(step.kind == "monitor" for step in estimate.steps)
    each = "for the new side" if blue_green else "per batch"
    took = _roughly(estimate.batch_seconds, about="~" if pace.measured else "")
    waits = format_duration(estimate.wait_seconds) if estimate.wait_seconds else ""
    if pace.measured:
        last = "rollout" if pace.rollouts == 1 else f"{pace.rollouts} rollouts"
        why = f"rollout {took} {each} from the last {last}"
        basis = f"waits {waits}, {why}" if waits else why
    else:
        why = f"no past rollouts, assuming {took} {each}"
        basis = f"waits {waits}; {why}" if waits else why
    gate = " plus the approval" if estimate.awaits_approval else ""
    return f"{_roughly(estimate.total_seconds, about='about ')}{gate} ({basis})"


def _roughly(seconds: float, *, about: str) -> str:
    """`about 2m10s` (with `about` "about "), `~4s`; `under 1s` rather than `~0s`."""
    return "under 1s" if 0 < seconds < 0.5 else f"{about}{format_duration(seconds)}"


def batch_name(index: int) -> str:
    return "pilots" if index == PILOT_BATCH else f"batch {index}"
