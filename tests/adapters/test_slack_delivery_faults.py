"""The Slack delivery when Slack misbehaves, when rollbot restarts, and at fleet scale.

Each test runs a story against the stand-in with scripted faults (429 with Retry-After,
503, connections dropped before or after Slack did the work, a message refused as
invalid) and checks what the channel ends up holding, mostly against a run of the same
story on a stand-in without faults: every message exactly once, in the same order, never
two in one channel closer than `min_interval`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rollout.actions import Action
from rollout.model import Approval, EventKind, Phase, RolloutEvent
from sim.slack import FaultKind, SlackHandle, start_slack
from tests.adapters.slack_delivery_support import (
    MIN_INTERVAL,
    NOTIFY,
    RELEASES,
    WAIT,
    at,
    deliver,
    event,
    gaps_below,
    happy_story,
    make_delivery,
    message_times,
    outbox_keys,
    parent_of,
    replies,
    rolling,
    settle,
)

GROUPS = {"S0LEADS": ["U0BOB", "U0CAROL"]}


@pytest.fixture
def slack() -> Iterator[SlackHandle]:
    with start_slack(usergroups=GROUPS) as handle:
        yield handle


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "rollbot.db"


def conversation(slack: SlackHandle) -> list[str]:
    """Everything both channels show, in order, with permalinks (which differ between
    stand-ins) reduced to a marker."""
    shown = [m.text for m in slack.messages(RELEASES)]
    shown += [m.text for m in replies(slack)]
    shown += [m.text for m in slack.messages(NOTIFY)]
    return [re.sub(r"<http[^|>]+\|thread>", "<LINK|thread>", text) for text in shown]


def baseline(story: list[RolloutEvent], tmp_path: Path, *, live: bool) -> list[str]:
    with start_slack(usergroups=GROUPS) as clean:
        deliver(clean, tmp_path / "baseline.db", story, live=live)
        return conversation(clean)


def assert_once_and_paced(slack: SlackHandle) -> None:
    for channel in (RELEASES, NOTIFY):
        keys = outbox_keys(slack, channel)
        assert len(keys) == len(set(keys)), f"posted twice in {channel}"
        assert gaps_below(message_times(slack, channel), MIN_INTERVAL) == []


def test_429s_503s_and_lost_answers_change_nothing_but_timing(
    slack: SlackHandle, db: Path, tmp_path: Path
) -> None:
    story = happy_story()
    rules = [
        slack.add_fault("*", FaultKind.RATE_LIMITED, every_nth=5, retry_after=0),
        slack.add_fault("*", FaultKind.SERVER_ERROR, probability=0.1, seed=3),
        slack.add_fault("chat.postMessage", FaultKind.DROP_AFTER, every_nth=7),
        slack.add_fault("chat.update", FaultKind.DROP, every_nth=6),
    ]

    deliver(slack, db, story)

    assert all(rule.fired for rule in rules), [(r.kind, r.fired) for r in rules]
    assert conversation(slack) == baseline(story, tmp_path, live=True)
    assert_once_and_paced(slack)


def test_retry_after_is_waited_out(slack: SlackHandle, db: Path) -> None:
    slack.add_fault("chat.postMessage", FaultKind.RATE_LIMITED, first=1, retry_after=1)

    deliver(slack, db, happy_story()[:1])

    refused, posted = slack.calls("chat.postMessage")[:2]
    assert refused.status == 429 and posted.ok
    assert posted.at - refused.at >= 1.0


def test_a_lost_answer_is_looked_up_before_posting_again(slack: SlackHandle, db: Path) -> None:
    slack.add_fault("chat.postMessage", FaultKind.DROP_AFTER, every_nth=2)

    deliver(slack, db, happy_story())

    assert len(replies(slack)) == 7
    assert slack.calls("conversations.history") and slack.calls("conversations.replies")
    assert_once_and_paced(slack)


def test_restart_mid_stream_delivers_the_rest_once(
    slack: SlackHandle, db: Path, tmp_path: Path
) -> None:
    story = happy_story(42)  # 8 batches
    first = make_delivery(slack, db)
    for e in story:
        first.publish(e)
    first.start()
    slack.wait_for(lambda: len(slack.calls("chat.postMessage")) >= 5, timeout=WAIT)
    first.stop()
    assert first.outbox_counts().get("pending", 0) > 0
    first.close()

    second = make_delivery(slack, db)
    try:
        second.start()
        assert second.flush(WAIT)
    finally:
        second.close()

    assert conversation(slack) == baseline(story, tmp_path, live=False)
    assert_once_and_paced(slack)


def test_a_post_made_just_before_a_crash_is_not_made_again(slack: SlackHandle, db: Path) -> None:
    # Slack posts the parent, the answer is lost, and rollbot stops before it learns more:
    # the row stays pending and marked unsure in the journal.
    slack.add_fault("chat.postMessage", FaultKind.DROP_AFTER, first=1)
    crashed = make_delivery(slack, db, retry_base=60.0)
    crashed.publish(happy_story()[0])
    crashed.start()
    slack.wait_for(lambda: slack.calls("chat.postMessage"), timeout=WAIT)
    crashed.stop()
    assert crashed.outbox_counts() == {"pending": 2}
    crashed.close()

    restarted = make_delivery(slack, db)
    try:
        restarted.start()
        assert restarted.flush(WAIT)
        assert restarted.message_ref(7) == (RELEASES, parent_of(slack).ts)
    finally:
        restarted.close()

    posts = [c for c in slack.calls("chat.postMessage") if c.args["channel"] == RELEASES]
    assert len(posts) == 1
    assert len(slack.calls("conversations.history")) == 1
    assert len(slack.messages(NOTIFY)) == 1


def asks_for_approval(args: Mapping[str, Any]) -> bool:
    return str(args.get("text", "")).startswith("✋ *Approval needed")


def test_a_refused_message_is_posted_as_plain_text_instead(slack: SlackHandle, db: Path) -> None:
    # Slack refuses the approval request's first post as invalid_blocks, once.
    refuse = slack.add_fault(
        "chat.postMessage",
        FaultKind.API_ERROR,
        error="invalid_blocks",
        first=1,
        where=asks_for_approval,
    )
    story = happy_story()
    gate = [e.kind for e in story].index(EventKind.APPROVED) + 1

    deliver(slack, db, story[:gate])

    assert refuse.fired == 1
    assert [c.error for c in slack.calls("chat.postMessage") if c.error] == ["invalid_blocks"]
    refused, resent = [c for c in slack.calls("chat.postMessage") if asks_for_approval(c.args)]
    assert refused.args.get("blocks") and not resent.args.get("blocks")  # once, as plain text
    approval = next(m for m in replies(slack) if "Approval needed" in m.text)
    assert approval.versions[0].blocks == ()
    assert approval.versions[0].text.startswith("✋ *Approval needed for #7.*")
    assert "Approved by <@U0BOB>" in approval.text  # the decision still edits it


def test_what_slack_will_never_take_is_given_up_not_retried(tmp_path: Path) -> None:
    with start_slack(channels={"C0OTHER": "other", NOTIFY: "stakeholders"}) as slack:
        delivery = make_delivery(slack, tmp_path / "rollbot.db")
        try:
            delivery.start()
            for e in happy_story()[:3]:
                delivery.publish(e)
            assert delivery.flush(WAIT)
            assert "pending" not in delivery.outbox_counts()
        finally:
            delivery.close()
        to_releases = [c for c in slack.calls("chat.postMessage") if c.args["channel"] == RELEASES]
        assert {c.error for c in to_releases} == {"channel_not_found"}
        assert len(to_releases) == 3  # parent, plan, pilots: each tried once
        notify = [m.text for m in slack.messages(NOTIFY)]
        assert len(notify) == 1 and "<LINK" not in notify[0] and "|thread>" not in notify[0]


def thousand_tenants() -> list[RolloutEvent]:
    """1,000 tenants in batches of 50; batch 3 has 40 failures with long reasons."""
    r = rolling(1000, batch=50, approval=True)
    story = [event(EventKind.STARTED, r, 0), event(EventKind.PLANNED, r, 1)]
    r = settle(r, 0, minute=3).with_phase(Phase.AWAITING_APPROVAL, deadline=at(300))
    story += [event(EventKind.BATCH_DONE, r, 3, batch=0), event(EventKind.AWAITING_APPROVAL, r, 4)]
    r = replace(r, approvals=(Approval("U0BOB", "approve", at(5), 1),))
    story.append(
        event(EventKind.APPROVED, r.with_phase(Phase.BATCH), 5, user="U0BOB", action=Action.APPROVE)
    )
    reason = "deployment isp-ops-app did not become ready: " + "container frontend crashed " * 8
    for index in range(1, r.batch_count + 1):
        minute = 10.0 * index
        bad = [t.namespace for t in r.batch(index)][:40] if index == 3 else []
        r = settle(replace(r, current_batch=index), index, minute=minute, failed=bad, reason=reason)
        r = r.with_phase(Phase.WAITING)
        story.append(event(EventKind.BATCH_DONE, r, minute, batch=index))
        if bad:
            paused = replace(
                r.with_phase(Phase.PAUSED, reason="40 failed"), paused_from=Phase.BATCH
            )
            story.append(event(EventKind.FAILED, paused, minute, batch=index))
            story.append(event(EventKind.RESUMED, r, minute + 1, user="U0ALICE", detail="skipping",
                               action=Action.SKIP))
    done = replace(r.with_phase(Phase.COMPLETED), finished_at=at(300))
    story.append(event(EventKind.COMPLETED, done, 300))
    return story


def test_a_thousand_tenant_rollout_fits_slacks_limits(slack: SlackHandle, db: Path) -> None:
    story = thousand_tenants()

    deliver(slack, db, story, live=False)

    assert [c for c in slack.calls() if c.error] == []
    thread = replies(slack)
    assert len(thread) < 40  # tens of messages, not thousands
    assert all(m.versions[0].blocks for m in thread)  # none fell back to plain text
    failures = next(m for m in thread if "Batch 3 of 20" in m.text)
    shown = "\n".join(b["text"]["text"] for b in failures.blocks)
    assert all(f"❌ tenant-{i:04d}" in shown for i in range(102, 142))  # every failure shown
    assert_once_and_paced(slack)
