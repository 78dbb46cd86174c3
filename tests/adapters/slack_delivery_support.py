"""Rollouts and event stories for the Slack delivery tests, and ways to read the result.

Rollouts are built directly from :mod:`rollout.model` (no engine): each story is the list
of events an engine would publish, with the rollout as it stands after each one. Times
are fixed, so a story renders the same text every run and two runs can be compared.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient

from bot.slack import SlackDelivery
from rollout.actions import Action
from rollout.model import (
    PILOT_BATCH,
    Approval,
    BlueGreen,
    EventKind,
    Phase,
    Rollout,
    RolloutEvent,
    Settings,
    Strategy,
    TargetStatus,
)
from sim.slack import Message, SlackHandle
from tests.builders import make_rollout, planned_targets

RELEASES = "C0RELEASES"
NOTIFY = "C0STAKEHOLDERS"
T0 = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
MIN_INTERVAL = 0.05
WAIT = 20.0  # bound on any flush in these tests


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def make_delivery(
    slack: SlackHandle, db: Path, *, approvers: Sequence[str] = ("S0LEADS",), **kw: Any
) -> SlackDelivery:
    client = WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)
    options: dict[str, Any] = {"min_interval": MIN_INTERVAL, "retry_base": 0.02, "retry_cap": 0.2}
    options.update(kw)
    return SlackDelivery(
        client=client,
        db_path=db,
        release_channel=RELEASES,
        notify_channel=NOTIFY,
        approvers=lambda app: list(approvers),
        **options,
    )


def deliver(
    slack: SlackHandle, db: Path, events: Sequence[RolloutEvent], *, live: bool = True, **kw: Any
) -> None:
    """Deliver a whole story and stop. `live`: each event is delivered before the next is
    published, as when the engine takes its time; else all are queued before the worker
    starts (a backlog, as after a restart)."""
    delivery = make_delivery(slack, db, **kw)
    try:
        if live:
            delivery.start()
        for event in events:
            delivery.publish(event)
            if live:
                assert delivery.flush(WAIT), delivery.outbox_counts()
        delivery.start()
        assert delivery.flush(WAIT), delivery.outbox_counts()
    finally:
        delivery.close()


# --- rollouts -----------------------------------------------------------------------------


def rolling(
    tenants: int = 12, *, pilots: int = 2, batch: int = 5, rollout_id: int = 7, **settings: Any
) -> Rollout:
    """A planned rolling rollout: `pilots` tenants in batch 0, then batches of `batch`."""
    names = [f"tenant-{i:04d}" for i in range(tenants)]
    plan = {n: PILOT_BATCH for n in names[:pilots]}
    rest = names[pilots:]
    plan.update({n: i // batch + 1 for i, n in enumerate(rest)})
    options: dict[str, Any] = {"batch_size": batch, "pilot_count": pilots}
    options.update(settings)
    return make_rollout(
        id=rollout_id,
        image="registry.example/dotmac/isp-ops-app",
        created_at=T0,
        settings=Settings(**options),
        phase=Phase.PILOT,
        targets=planned_targets(plan),
        batch_count=(len(rest) + batch - 1) // batch,
    )


def settle(
    rollout: Rollout, batch: int, *, minute: float, failed: Sequence[str] = (), reason: str = ""
) -> Rollout:
    """Every target of `batch` updated (or failed, with `reason`), taking two minutes."""
    changed = []
    for t in rollout.batch(batch):
        started = t.with_status(TargetStatus.UPDATING, at=at(minute - 2))
        started = replace(started, attempts=t.attempts + 1, previous_image="isp:v1.2.0")
        if t.namespace in failed:
            changed.append(started.with_status(TargetStatus.FAILED, at=at(minute), reason=reason))
        else:
            changed.append(started.with_status(TargetStatus.UPDATED, at=at(minute)))
    return rollout.with_targets(changed)


def event(
    kind: EventKind, rollout: Rollout, minute: float, **kw: Any
) -> RolloutEvent:  # fmt: skip
    return RolloutEvent(kind=kind, rollout=rollout, at=at(minute), **kw)


def happy_story(tenants: int = 12, *, batch: int = 5) -> list[RolloutEvent]:
    """Start, plan, pilots, approval by U0BOB, every batch, completed."""
    r = rolling(tenants, batch=batch)
    story = [
        event(EventKind.STARTED, replace(r, phase=Phase.PREFLIGHT, targets=(), batch_count=0), 0),
        event(EventKind.PLANNED, r, 1),
    ]
    r = settle(r, PILOT_BATCH, minute=3)
    r = r.with_phase(Phase.MONITORING, deadline=at(33))
    story.append(event(EventKind.BATCH_DONE, r, 3, batch=PILOT_BATCH))
    r = r.with_phase(Phase.AWAITING_APPROVAL, deadline=at(33 + 240))
    story.append(event(EventKind.AWAITING_APPROVAL, r, 33))
    approval = Approval(user="U0BOB", decision="approve", at=at(40), gate=1)
    r = replace(r.with_phase(Phase.BATCH), approvals=(approval,), current_batch=1)
    story.append(event(EventKind.APPROVED, r, 40, user="U0BOB", action=Action.APPROVE))
    minute = 40.0
    for index in range(1, r.batch_count + 1):
        r = replace(r.with_phase(Phase.BATCH), current_batch=index)
        story.append(event(EventKind.PROGRESS, r, minute, batch=index))
        minute += 2
        r = settle(r, index, minute=minute).with_phase(Phase.WAITING, deadline=at(minute + 1))
        story.append(event(EventKind.BATCH_DONE, r, minute, batch=index))
        minute += 1
    done = replace(r.with_phase(Phase.COMPLETED), finished_at=at(minute))
    story.append(event(EventKind.COMPLETED, done, minute))
    return story


def blue_green() -> Rollout:
    bg = BlueGreen(
        namespace="platform-admin",
        service="platform-admin-app",
        old_version="v1.2.0",
        old_deployment="platform-admin-app-v1-2-0",
        old_config_map="platform-admin-config-v1.2.0",
        new_deployment="platform-admin-app-v1-3-0",
        new_config_map="platform-admin-config-v1.3.0",
    )
    return make_rollout(
        id=8,
        app="admin",
        strategy=Strategy.BLUE_GREEN,
        image="registry.example/dotmac/platform-admin-app",
        created_at=T0,
        settings=Settings(approval=False, monitor_seconds=300),
        phase=Phase.STAGING,
        targets=planned_targets({"platform-admin": 1}),
        batch_count=1,
        current_batch=1,
        blue_green=bg,
    )


# --- reading the stand-in -------------------------------------------------------------------


def parent_of(slack: SlackHandle) -> Message:
    top = [m for m in slack.messages(RELEASES) if not m.is_reply]
    assert len(top) == 1, [m.text for m in top]
    return top[0]


def replies(slack: SlackHandle) -> list[Message]:
    return slack.thread(RELEASES, parent_of(slack).ts)[1:]


def has_buttons(message: Message) -> bool:
    return any(b.get("type") == "actions" for b in message.blocks)


def message_times(slack: SlackHandle, channel: str) -> list[float]:
    """When each message or edit Slack accepted reached it, per channel, in order."""
    return sorted(
        c.at
        for c in slack.calls()
        if c.method in {"chat.postMessage", "chat.update"}
        and c.ok
        and c.args.get("channel") == channel
    )


def gaps_below(times: Sequence[float], interval: float) -> list[float]:
    # 1 ms of slack for float rounding in recorded times; the pacing itself has none.
    return [b - a for a, b in itertools.pairwise(times) if b - a < interval - 0.001]


def outbox_keys(slack: SlackHandle, channel: str) -> list[str]:
    return [
        str((m.metadata or {}).get("event_payload", {}).get("outbox_key"))
        for m in slack.messages(channel, include_replies=True)
    ]
