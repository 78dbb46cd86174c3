"""The rollout conversation in Slack, as the Slack stand-in receives it over HTTP.

Given a story of engine events (rollouts built directly from the model), when a
SlackDelivery publishes them against the stand-in, then the release channel holds one
parent message per rollout, edited in place, with the thread replies of SPEC section 5 in
order, and the notify channel one line per milestone with a link to the thread. Faults,
restarts and scale are in test_slack_delivery_faults.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.slack import SlackDelivery
from bot.store import SqliteStore
from rollout.actions import Action
from rollout.model import Approval, EventKind, Phase, RolloutEvent, Strategy, TargetStatus
from sim.slack import SlackHandle, start_slack
from tests.adapters.slack_delivery_support import (
    NOTIFY,
    RELEASES,
    WAIT,
    at,
    blue_green,
    deliver,
    event,
    happy_story,
    has_buttons,
    make_delivery,
    parent_of,
    replies,
    rolling,
    settle,
)


@pytest.fixture
def slack() -> Iterator[SlackHandle]:
    with start_slack(usergroups={"S0LEADS": ["U0BOB", "U0CAROL"]}) as handle:
        yield handle


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "rollbot.db"


@pytest.fixture(scope="module")
def happy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlackHandle]:
    """The stand-in after a whole rollout from start to completion, shared read-only."""
    with start_slack(usergroups={"S0LEADS": ["U0BOB", "U0CAROL"]}) as handle:
        deliver(handle, tmp_path_factory.mktemp("happy") / "rollbot.db", happy_story())
        yield handle


def test_parent_is_posted_once_and_edited_as_the_rollout_moves(happy: SlackHandle) -> None:
    parent = parent_of(happy)
    assert len(happy.calls("chat.postMessage")) == len(
        happy.messages(RELEASES, include_replies=True)
    ) + len(happy.messages(NOTIFY))
    assert parent.edited
    assert "isp v1.3.0" in parent.text and "Completed" in parent.text
    assert "12 updated" in parent.text
    # Finished: only Roll back is left on it.
    actions = [b for b in parent.blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == ["rollbot_rollback"]


def test_thread_replies_come_in_the_order_things_happened(happy: SlackHandle) -> None:
    texts = [m.text for m in replies(happy)]
    expected = [
        "*Plan for isp v1.3.0* (#7)",
        "*Pilots* — 2/2 updated, all healthy",
        "*Approval needed for #7.*",
        "<@U0BOB> approved #7.",
        "*Batch 1 of 2* — 5/5 updated",
        "*Batch 2 of 2* — 5/5 updated",
        "*isp v1.3.0 completed*",
    ]
    assert len(texts) == len(expected), texts
    for text, part in zip(texts, expected, strict=True):
        assert part in text


def test_approval_request_is_edited_to_say_who_approved_and_when(happy: SlackHandle) -> None:
    approval = next(m for m in replies(happy) if "Approval needed" in m.text)
    assert approval.edited
    assert "Approved by <@U0BOB> at 09:40 UTC" in approval.text
    assert not has_buttons(approval)
    assert any(b["type"] == "actions" for b in approval.versions[0].blocks)


def test_notify_channel_gets_a_line_per_milestone_linking_the_thread(happy: SlackHandle) -> None:
    parent = parent_of(happy)
    lines = [m.text for m in happy.messages(NOTIFY)]
    assert len(lines) == 3
    assert "started by <@U0ALICE>" in lines[0]
    assert "waiting for approval" in lines[1]
    assert "completed: 12 tenants updated" in lines[2]
    link = happy.calls("chat.getPermalink")[0]
    assert link.args["message_ts"] == parent.ts
    for line in lines:
        assert f"/archives/{RELEASES}/p{parent.ts.replace('.', '')}|thread>" in line
    # The permalink is asked once per parent, not once per line.
    assert len(happy.calls("chat.getPermalink")) == 1


def test_mark_decided_edits_the_clicked_message_once(slack: SlackHandle, db: Path) -> None:
    story = happy_story()
    until_gate = story[: [e.kind for e in story].index(EventKind.AWAITING_APPROVAL) + 1]
    delivery = make_delivery(slack, db)
    try:
        delivery.start()
        for e in until_gate:
            delivery.publish(e)
        assert delivery.flush(WAIT)
        approval = replies(slack)[-1]
        assert has_buttons(approval)

        delivery.mark_decided(
            channel=RELEASES, ts=approval.ts, user="U0CAROL", action=Action.APPROVE, at=at(39)
        )
        delivery.publish(story[len(until_gate)])  # the engine's APPROVED follows the click
        assert delivery.flush(WAIT)
    finally:
        delivery.close()

    edited = slack.message(RELEASES, approval.ts)
    assert edited is not None and not has_buttons(edited)
    assert "Approved by <@U0CAROL> at 09:39 UTC" in edited.text
    edits = [c for c in slack.calls("chat.update") if c.args.get("ts") == approval.ts]
    assert len(edits) == 1


def test_message_ref_names_the_parent_message(slack: SlackHandle, db: Path) -> None:
    story = happy_story()
    deliver(slack, db, story[:2])

    delivery = make_delivery(slack, db)
    try:
        assert delivery.message_ref(7) == (RELEASES, parent_of(slack).ts)
        assert delivery.message_ref(99) is None
    finally:
        delivery.close()


def test_failure_posts_the_choices_and_a_choice_closes_them(slack: SlackHandle, db: Path) -> None:
    r = settle(rolling(12, approval=False), 0, minute=3)
    r = replace(r.with_phase(Phase.BATCH), current_batch=1)
    failed = settle(r, 1, minute=6, failed=("tenant-0004",), reason="readiness probe failed")
    paused = replace(
        failed.with_phase(Phase.PAUSED, reason="tenant-0004: readiness probe failed"),
        paused_from=Phase.BATCH,
    )
    story = [
        event(EventKind.STARTED, r, 0),
        event(EventKind.FAILED, paused, 6, batch=1, detail=paused.reason),
        event(EventKind.RESUMED, r, 8, user="U0ALICE", detail="retrying tenant-0004",
              action=Action.RETRY),
    ]
    deliver(slack, db, story)

    choices, chosen = replies(slack)
    assert "1 tenant failed in batch 1" in choices.text
    assert "tenant-0004 2m — readiness probe failed" in choices.versions[0].text
    assert "Retry chosen by <@U0ALICE>" in choices.text
    assert not has_buttons(choices)
    assert chosen.text == "<@U0ALICE> chose Retry failed for #7."
    notify = [m.text for m in slack.messages(NOTIFY)]
    assert any("failed: tenant-0004: readiness probe failed" in line for line in notify)


@pytest.mark.parametrize(
    ("choice", "said", "done"),
    [
        (Action.SKIP, "chose Skip and continue for", "Skip chosen"),
        (Action.RETRY, "chose Retry failed for", "Retry chosen"),
    ],
    ids=["skip", "retry"],
)
def test_the_choice_is_told_by_its_value_whatever_the_event_says_in_words(
    slack: SlackHandle, db: Path, choice: Action, said: str, done: str
) -> None:
    # Given a failure that paused batch 1 and posted the choices
    r = settle(rolling(12, approval=False), 0, minute=3)
    r = replace(r.with_phase(Phase.BATCH), current_batch=1)
    failed = settle(r, 1, minute=6, failed=("tenant-0004",), reason="readiness probe failed")
    paused = replace(failed.with_phase(Phase.PAUSED, reason="tenant-0004 failed"),
                     paused_from=Phase.BATCH)

    # When Alice's choice is told with wording that names neither choice
    story = [
        event(EventKind.STARTED, r, 0),
        event(EventKind.FAILED, paused, 6, batch=1, detail=paused.reason),
        event(EventKind.RESUMED, r, 8, user="U0ALICE", detail="carrying on", action=choice),
    ]
    deliver(slack, db, story)

    # Then the thread and the settled choices say the choice she made
    choices, chosen = replies(slack)
    assert f"{done} by <@U0ALICE>" in choices.text
    assert not has_buttons(choices)
    assert chosen.text == f"<@U0ALICE> {said} #7."


def test_automatic_rollback_is_announced_with_its_result(slack: SlackHandle, db: Path) -> None:
    r = settle(rolling(7, auto_rollback=True), 0, minute=3, failed=("tenant-0001",), reason="5xx")
    why = "rolled back automatically: tenant-0001: 5xx"
    back = r.with_phase(Phase.ROLLING_BACK, reason=why)
    undone = back.with_targets(
        t.with_status(TargetStatus.ROLLED_BACK, at=at(5), reason=t.reason) for t in back.batch(0)
    )
    ended = replace(undone.with_phase(Phase.ROLLED_BACK), finished_at=at(5))
    story = [
        event(EventKind.STARTED, r, 0),
        event(EventKind.FAILED, back, 3, batch=0, detail="tenant-0001: 5xx"),
        event(EventKind.ROLLING_BACK, back, 3, detail=why),
        event(EventKind.ROLLED_BACK, ended, 5, detail=why),
    ]
    deliver(slack, db, story)

    texts = [m.text for m in replies(slack)]
    assert len(texts) == 3, texts
    assert "Rolling back #7 automatically" in texts[0]
    assert "#7 rolled back*: 2 tenants back on their previous image" in texts[1]
    assert "isp v1.3.0 rolled back" in texts[2]
    assert not any(has_buttons(m) for m in replies(slack))
    notify = [m.text for m in slack.messages(NOTIFY)]
    assert ["started" in notify[0], "failed" in notify[1], "rolled back" in notify[2]] == [True] * 3


def test_refused_rollout_says_why_in_the_channel(slack: SlackHandle, db: Path) -> None:
    r = rolling(12)
    refused = r.with_phase(Phase.FAILED, reason="preflight found 2 problems")
    problems = ("image tag v1.3.0 not found", "tenant-0003 has no deployment isp-ops-app")
    story = [
        event(EventKind.STARTED, replace(r, phase=Phase.PREFLIGHT), 0),
        event(EventKind.REFUSED, refused, 1, problems=problems),
    ]
    deliver(slack, db, story)

    shown = [m.text for m in slack.messages(RELEASES)]  # the channel, not only the thread
    assert len(shown) == 2
    assert "was not started*: preflight found 2 problems" in shown[1]
    assert problems[1] in shown[1]
    assert "failed" in slack.messages(NOTIFY)[-1].text


def test_blue_green_switch_offer_and_removal(slack: SlackHandle, db: Path) -> None:
    r = blue_green()
    assert r.blue_green is not None
    switched = replace(
        r.with_phase(Phase.MONITORING), blue_green=replace(r.blue_green, switched=True)
    )
    done = replace(switched.with_phase(Phase.COMPLETED), finished_at=at(10))
    removed = replace(done, blue_green=replace(r.blue_green, switched=True, old_removed=True))
    story = [
        event(EventKind.STARTED, r, 0),
        event(EventKind.SWITCHED, switched, 2),
        event(EventKind.COMPLETED, done, 10),
        event(EventKind.OLD_REMOVED, removed, 12),
    ]
    deliver(slack, db, story)

    texts = [m.text for m in replies(slack)]
    assert "switched from v1.2.0 to v1.3.0" in texts[0]
    assert "admin v1.3.0 completed" in texts[1]
    assert "Remove platform-admin-app-v1-2-0" in texts[2] and has_buttons(replies(slack)[2])
    assert "Removed platform-admin-app-v1-2-0" in texts[3]


def test_publish_only_journals_until_the_worker_runs(slack: SlackHandle, db: Path) -> None:
    delivery = make_delivery(slack, db)
    try:
        for e in happy_story()[:3]:
            delivery.publish(e)
        counts = delivery.outbox_counts()
        assert set(counts) == {"pending"} and counts["pending"] >= 4
        assert slack.calls() == []
        assert not delivery.flush(0.05)
    finally:
        delivery.close()


def test_an_expired_approval_request_loses_its_buttons(slack: SlackHandle, db: Path) -> None:
    story = happy_story()[:4]
    waiting = story[-1].rollout
    expired = replace(
        waiting.with_phase(Phase.EXPIRED, reason="no approval within 4h"), finished_at=at(273)
    )
    deliver(slack, db, [*story, event(EventKind.EXPIRED, expired, 273)])

    approval = next(m for m in replies(slack) if "Approval needed" in m.text)
    assert not has_buttons(approval)
    assert approval.text.endswith("⌛ Expired at 13:33 UTC")
    assert "expired waiting for approval" in replies(slack)[-1].text
    assert "expired waiting for approval" in slack.messages(NOTIFY)[-1].text


def test_a_partial_approval_is_shown_and_the_buttons_stay(slack: SlackHandle, db: Path) -> None:
    story = happy_story()[:4]
    waiting = replace(
        story[-1].rollout,
        settings=replace(story[-1].rollout.settings, approvals_required=2),
    )
    story[-1] = event(EventKind.AWAITING_APPROVAL, waiting, 33)
    one = replace(waiting, approvals=(Approval("U0BOB", "approve", at(35), 1),))
    story.append(event(EventKind.APPROVAL_RECORDED, one, 35, user="U0BOB", detail="1 of 2",
                       action=Action.APPROVE))

    deliver(slack, db, story)

    approval = next(m for m in replies(slack) if "Approval needed" in m.text)
    assert approval.edited and has_buttons(approval)
    assert "Needs 2 approvals" in approval.text
    assert "approved so far by <@U0BOB>" in approval.text
    assert replies(slack)[-1].text == "<@U0BOB> approved #7."


def test_the_outbox_lives_in_the_engines_journal_file(slack: SlackHandle, db: Path) -> None:
    with SqliteStore(db) as journal:
        deliver(slack, db, happy_story()[:2])
        assert journal.list_rollouts() == []  # the engine's tables are untouched
    with SqliteStore(db) as reopened:
        assert reopened.schema_version >= 1
    delivery = make_delivery(slack, db)
    try:
        assert delivery.outbox_counts() == {"sent": 4}
    finally:
        delivery.close()


def test_old_sent_edits_are_forgotten_and_nothing_is_sent_twice_after(
    slack: SlackHandle, db: Path
) -> None:
    # Given a whole rollout delivered, its approval request decided
    story = happy_story()
    deliver(slack, db, story)
    approval = next(m for m in replies(slack) if "Approval needed" in m.text)
    assert "Approved by <@U0BOB>" in approval.text
    delivery = make_delivery(slack, db)
    try:
        delivery.start()
        before = delivery.outbox_counts()["sent"]
        calls = len(slack.calls())

        # When a week and a day have passed
        assert delivery.prune(now=time.time() + 6 * 86400) == 0  # not yet a week
        removed = delivery.prune(now=time.time() + 8 * 86400)

        # Then the parent's progress edits are gone, the posts and the decision stay,
        assert removed > 0
        assert delivery.outbox_counts() == {"sent": before - removed}
        # and the named messages published again are not posted again, nor is the clicked
        # approval request edited again by a second click
        named = {EventKind.PLANNED, EventKind.AWAITING_APPROVAL, EventKind.COMPLETED}
        for e in story:
            if e.kind in named:
                delivery.publish(e)
        delivery.mark_decided(
            channel=RELEASES, ts=approval.ts, user="U0BOB", action=Action.APPROVE, at=at(40)
        )
        assert delivery.flush(WAIT)
    finally:
        delivery.close()
    again = slack.calls()[calls:]
    posted = [c for c in again if c.method == "chat.postMessage"]
    assert [c for c in posted if c.args["channel"] == RELEASES] == []
    assert [c for c in again if c.args.get("ts") == approval.ts] == []


# --- where a rollout is posted ------------------------------------------------------------

DEPLOYS = "C0DEPLOYS"  # a channel that is not the release channel


def asked_in(channel: str, story: list[RolloutEvent]) -> list[RolloutEvent]:
    """The same story for a rollout asked for in `channel`."""
    return [replace(e, rollout=replace(e.rollout, channel=channel)) for e in story]


@pytest.fixture
def three_channels() -> Iterator[SlackHandle]:
    channels = {RELEASES: "releases", NOTIFY: "stakeholders", DEPLOYS: "deploys"}
    with start_slack(usergroups={"S0LEADS": ["U0BOB"]}, channels=channels) as handle:
        yield handle


def test_a_rollout_asked_for_in_a_channel_is_posted_there(
    three_channels: SlackHandle, db: Path
) -> None:
    slack = three_channels
    deliver(slack, db, asked_in(DEPLOYS, happy_story()))

    assert slack.messages(RELEASES, include_replies=True) == []
    (parent,) = slack.messages(DEPLOYS)
    assert "isp v1.3.0" in parent.text and "Completed" in parent.text
    thread = slack.thread(DEPLOYS, parent.ts)[1:]
    assert len(thread) == 7 and "*isp v1.3.0 completed*" in thread[-1].text
    link = f"/archives/{DEPLOYS}/p{parent.ts.replace('.', '')}|thread>"
    assert all(link in m.text for m in slack.messages(NOTIFY))


def test_without_release_channels_only_rollouts_asked_for_in_a_channel_are_posted(
    three_channels: SlackHandle, db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    slack = three_channels
    delivery = SlackDelivery(
        client=WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5),
        db_path=db,
        release_channel=None,
        notify_channel=NOTIFY,
        approvers=lambda app: ["S0LEADS"],
        min_interval=0.05,
    )
    from_terminal = happy_story()
    from_slack = asked_in(
        DEPLOYS, [replace(e, rollout=replace(e.rollout, id=8)) for e in happy_story()]
    )
    caplog.set_level(logging.INFO, logger="bot.slack.delivery")
    try:
        delivery.start()
        for e in [*from_terminal, *from_slack]:
            delivery.publish(e)
        assert delivery.flush(WAIT), delivery.outbox_counts()
    finally:
        delivery.close()

    (parent,) = slack.messages(DEPLOYS)
    assert "#8" in parent.text
    posted = {c.args.get("channel") for c in slack.calls("chat.postMessage")}
    assert posted == {DEPLOYS, NOTIFY}
    told = [r.getMessage() for r in caplog.records if "not posted in Slack" in r.getMessage()]
    assert len(told) == 1 and told[0].startswith("#7 isp v1.3.0")


S = TargetStatus


def as_helm(story: list[RolloutEvent]) -> list[RolloutEvent]:
    """The same story told of a helm app: each settled tenant moved from revision 1 to 2."""
    told = []
    for e in story:
        targets = tuple(
            replace(t, previous_revision=1, revision=2 if t.status is S.UPDATED else None)
            for t in e.rollout.targets
        )
        helm = replace(e.rollout, app="isp-helm", strategy=Strategy.HELM, targets=targets)
        told.append(replace(e, rollout=helm))
    return told


def test_a_helm_thread_reads_like_a_rolling_one_with_each_revision(
    slack: SlackHandle, db: Path
) -> None:
    # Given the happy story, told of a helm app
    deliver(slack, db, as_helm(happy_story()))

    # Then the thread has the rolling thread's replies, in order, and each batch names
    # every tenant's Helm revisions
    texts = [m.text for m in replies(slack)]
    expected = [
        "*Plan for isp-helm v1.3.0* (#7)",
        "*Pilots* — 2/2 updated, all healthy",
        "*Approval needed for #7.*",
        "<@U0BOB> approved #7.",
        "*Batch 1 of 2* — 5/5 updated",
        "*Batch 2 of 2* — 5/5 updated",
        "*isp-helm v1.3.0 completed*",
    ]
    assert len(texts) == len(expected), texts
    for text, part in zip(texts, expected, strict=True):
        assert part in text
    assert texts[4].count("· Helm revision 1 → 2") == 5
