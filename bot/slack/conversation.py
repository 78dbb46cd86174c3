"""What each engine event says in Slack: the rollout's conversation of SPEC section 5.

A pure mapping from one event (and what the outbox already holds) to the posts and edits
it calls for: the parent message posted once and then edited, replies in its thread (plan,
batch results, approval request, decisions, failure choices, roll back, summary), and one
line in the notify channel for the moments stakeholders care about. Every word comes from
:mod:`handlers.render`; this module only chooses which message goes where.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.slack import refs
from bot.slack.outbox import Outgoing
from handlers import render
from rollout.actions import Action
from rollout.machine.commands import GATE
from rollout.model import (
    PILOT_BATCH,
    EventKind,
    OsAccount,
    Phase,
    Rollout,
    RolloutEvent,
    TargetStatus,
)
from rollout.plan import ASSUMED, Pace, Plan, estimate, eta

# Event kinds with a notify-channel line, and the line's kind in render.notify_line. A
# rollout has started once preflight passed and it was planned: one refused at preflight
# never started, and stakeholders hear only that it was refused.
NOTIFY: dict[EventKind, str] = {
    EventKind.PLANNED: "started",
    EventKind.AWAITING_APPROVAL: "awaiting-approval",
    EventKind.COMPLETED: "completed",
    EventKind.FAILED: "failed",
    EventKind.REFUSED: "refused",
    EventKind.ROLLED_BACK: "rolled-back",
    EventKind.EXPIRED: "expired",
    EventKind.CANCELLED: "cancelled",
}
APPROVAL = "approval"  # outbox purposes of messages whose buttons are a one-time decision
CHOICES = "choices"
SUMMARY_KINDS = frozenset(
    {EventKind.COMPLETED, EventKind.CANCELLED, EventKind.EXPIRED, EventKind.ROLLED_BACK}
)


class Known(Protocol):
    """What the outbox already holds, as far as composing needs it."""

    def queued(self, ref: str) -> bool: ...

    def text_of(self, ref: str) -> str | None: ...

    def decided(self, ref: str) -> bool: ...

    def open_messages(self, rollout_id: int, purpose: str) -> list[str]: ...


@dataclass(frozen=True)
class Conversation:
    """Where a rollout's messages go, and who may approve it."""

    channel_for: Callable[[Rollout], str]
    notify_channel: str | None
    approvers: Callable[[str], Sequence[str]]
    # How fast a rollout's app rolls, for the plan's estimate and the parent's ETA.
    pace_of: Callable[[Rollout], Pace] = lambda rollout: ASSUMED

    def compose(self, event: RolloutEvent, known: Known) -> list[Outgoing]:
        rollout = event.rollout
        channel = self.channel_for(rollout)
        thread = _Thread(channel=channel, rollout=rollout)
        parent = refs.parent(rollout.id)
        pace = self.pace_of(rollout)
        now_parent = render.parent_message(rollout, eta=eta(rollout, now=event.at, pace=pace))
        fresh = not known.queued(parent)
        out: list[Outgoing] = []
        if fresh:
            out.append(Outgoing("post", channel, now_parent, rollout.id, ref=parent))
        out += self._replies(event, thread, known, pace)
        if not fresh:
            out.append(Outgoing("update", channel, now_parent, rollout.id, ref=parent))
        out += self._notify(event, parent)
        return out

    def decided_edit(
        self, *, ref: str, text: str, rollout_id: int | None, channel: str, user: str,
        action: Action, at: datetime, os_account: OsAccount | None = None,
    ) -> Outgoing:  # fmt: skip
        """A decided approval or choice message: who did what and when, buttons gone."""
        edited = render.decided(text, user=user, action=action, at=at, os_account=os_account)
        return Outgoing("update", channel, edited, rollout_id, ref=ref, purpose="decided")

    def _replies(
        self, event: RolloutEvent, thread: _Thread, known: Known, pace: Pace
    ) -> list[Outgoing]:
        r, kind = event.rollout, event.kind
        if kind is EventKind.PLANNED and r.strategy.per_tenant:
            return [thread.reply(_plan(r, pace), ref=refs.plan(r.id))]
        if kind is EventKind.BATCH_DONE and event.batch is not None:
            return [thread.reply(render.batch_result_message(r, event.batch))]
        if kind is EventKind.AWAITING_APPROVAL:
            request = render.approval_request(r, gate=GATE, approvers=self.approvers(r.app))
            return [thread.reply(request, ref=refs.approval(r.id, GATE), purpose=APPROVAL)]
        if kind in {EventKind.APPROVAL_RECORDED, EventKind.APPROVED, EventKind.REJECTED}:
            return self._decision(event, thread, known)
        if kind is EventKind.FAILED:
            return self._failed(event, thread)
        if kind in {EventKind.PAUSED, EventKind.RESUMED, EventKind.ROLLING_BACK}:
            return self._person(event, thread, known)
        if kind is EventKind.REFUSED:
            refused = render.refused(r.app, r.version, event.problems, user=r.requested_by)
            return [thread.reply(refused, ref=refs.refused(r.id), broadcast=True)]
        if kind is EventKind.SWITCHED:
            return [thread.reply(render.blue_green_switched(r))]
        if kind is EventKind.OLD_REMOVED:
            return [thread.reply(render.old_removed(r))]
        if kind in SUMMARY_KINDS:
            return self._close_open(event, thread, known) + self._ending(event, thread)
        return []

    def _decision(self, event: RolloutEvent, thread: _Thread, known: Known) -> list[Outgoing]:
        r, kind, user, action = event.rollout, event.kind, event.user, event.action
        ref = refs.approval(r.id, GATE)
        out: list[Outgoing] = []
        text = known.text_of(ref)
        if text is not None and not known.decided(ref):
            if kind is EventKind.APPROVAL_RECORDED:
                # Re-rendered, it names who approved so far; the buttons stay for the rest.
                request = render.approval_request(r, gate=GATE, approvers=self.approvers(r.app))
                out.append(Outgoing("update", thread.channel, request, r.id, ref=ref))
            elif user and action:
                out.append(
                    self.decided_edit(
                        ref=ref, text=text, rollout_id=r.id, channel=thread.channel,
                        user=user, action=action, at=event.at, os_account=event.os_account,
                    )
                )  # fmt: skip
        if user and action and not out:
            # Said once: the edited request already names who decided; a reply says so
            # only when no message in the thread does.
            said = render.person_event(r, user=user, action=action, os_account=event.os_account)
            out.append(thread.reply(said))
        return out

    def _failed(self, event: RolloutEvent, thread: _Thread) -> list[Outgoing]:
        r = event.rollout
        if r.phase is not Phase.PAUSED:
            return []  # rolling back on its own: the ROLLING_BACK event says so
        batch = r.current_batch if event.batch is None else event.batch
        failed = [t for t in r.batch(batch) if t.status is TargetStatus.FAILED]
        attempt = max((t.attempts for t in failed), default=0)
        choices = render.failure_choices(r, batch)
        ref = refs.failure(r.id, batch, attempt)
        return [thread.reply(choices, ref=ref, purpose=CHOICES)]

    def _person(self, event: RolloutEvent, thread: _Thread, known: Known) -> list[Outgoing]:
        r, user, action = event.rollout, event.user, event.action
        if event.kind is EventKind.ROLLING_BACK and not user:
            return [thread.reply(render.auto_rollback_notice(r))]
        if not user or action is None:
            return []
        out: list[Outgoing] = []
        if event.kind is not EventKind.PAUSED:
            for ref in known.open_messages(r.id, CHOICES):
                text = known.text_of(ref) or ""
                out.append(
                    self.decided_edit(
                        ref=ref, text=text, rollout_id=r.id, channel=thread.channel,
                        user=user, action=action, at=event.at, os_account=event.os_account,
                    )
                )  # fmt: skip
        if not out:  # an edited choices message already says who chose what
            said = render.person_event(r, user=user, action=action, os_account=event.os_account)
            out.append(thread.reply(said))
        return out

    def _close_open(self, event: RolloutEvent, thread: _Thread, known: Known) -> list[Outgoing]:
        """The rollout ended: approval requests and choices still open lose their buttons."""
        r = event.rollout
        out = []
        for ref in known.open_messages(r.id, APPROVAL) + known.open_messages(r.id, CHOICES):
            ended = render.closed(known.text_of(ref) or "", phase=r.phase, at=event.at)
            out.append(Outgoing("update", thread.channel, ended, r.id, ref=ref, purpose="decided"))
        return out

    def _ending(self, event: RolloutEvent, thread: _Thread) -> list[Outgoing]:
        r = event.rollout
        out: list[Outgoing] = []
        if event.kind is EventKind.ROLLED_BACK:
            out.append(thread.reply(render.rollback_result(r)))
        out.append(thread.reply(render.summary(r), ref=refs.summary(r.id, event.kind.value)))
        bg = r.blue_green
        if (
            event.kind is EventKind.COMPLETED
            and bg is not None
            and bg.old_deployment
            and not bg.old_removed
            and r.settings.remove_old_after_seconds is None
        ):
            out.append(thread.reply(render.remove_old_offer(r), ref=refs.remove_offer(r.id)))
        return out

    def _notify(self, event: RolloutEvent, parent: str) -> list[Outgoing]:
        kind = NOTIFY.get(event.kind)
        if self.notify_channel is None or kind is None:
            return []
        r = event.rollout
        return [
            Outgoing(
                "post",
                self.notify_channel,
                render.notify_line(kind, r, link=refs.LINK_SLOT),
                r.id,
                link=parent,
                unlinked=render.notify_line(kind, r, link=None),
            )
        ]


@dataclass(frozen=True)
class _Thread:
    channel: str
    rollout: Rollout

    def reply(
        self,
        message: render.Message,
        *,
        ref: str | None = None,
        purpose: str = "",
        broadcast: bool = False,
    ) -> Outgoing:
        return Outgoing(
            "post",
            self.channel,
            message,
            self.rollout.id,
            ref=ref,
            thread=refs.parent(self.rollout.id),
            purpose=purpose,
            broadcast=broadcast,
        )


def _plan(rollout: Rollout, pace: Pace) -> render.Message:
    """The plan as the rollout's targets hold it: pilots, then batches 1..N in order."""
    pilots = tuple(t.namespace for t in rollout.targets if t.batch == PILOT_BATCH)
    batches = tuple(
        tuple(t.namespace for t in rollout.batch(i)) for i in range(1, rollout.batch_count + 1)
    )
    gate = GATE if rollout.settings.approval and batches else None
    plan = Plan(pilots=pilots, batches=batches, approval_before=gate)
    expected = estimate(plan, rollout.settings, pace=pace, strategy=rollout.strategy)
    return render.plan_message(rollout, pilots=pilots, batches=batches, estimate=expected)
