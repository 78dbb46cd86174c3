"""The issue's Slack "Done when", each as one story told end to end.

Each test drives rollbot the way people do (signed slash commands, button clicks on the
messages it posted) and checks what a person would see: the messages in the Slack
stand-in, in their channel and thread, and the tenants' images in the simulated cluster.
Nothing is patched; the bot is either the in-process `serve` of `slack_fixtures` or, for
the crash story, `rollbot serve` as a real child process killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rollout.actions import Action
from rollout.model import PILOT_BATCH, Phase, TargetStatus
from sim.kube.harness import start_sim
from sim.kube.seed import BASE_VERSION, tenant_namespaces
from sim.slack import FaultKind, SlackHandle
from tests.e2e.slack_fixtures import (
    ACK_DEADLINE,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    MALLORY,
    NOTIFY,
    WAIT,
    C,
    config_text,
    running_bot,
    slack_standin,
)
from tests.e2e.slack_story_support import (
    ClusterAtPost,
    first_lines,
    patches,
    posted,
    repeated,
    retry_after_ignored,
    serve_env,
    serve_process,
    tenant_tags,
    thread_link,
)

NEW = "v1.3.1"
DECIDED_AT = r"at \d\d:\d\d UTC"


async def test_the_whole_story_over_http(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=12) as bot:
        at_request = ClusterAtPost(bot.slack, bot.sim, "Approval needed")
        sent = await bot.command(f"isp {NEW} batch=5 pilot=2", user=BOB)
        assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
        assert "#1" in (await bot.reply(BOB, "accepted")).text

        request = await bot.approval_message(1)
        (parent,) = bot.slack.messages(C)
        assert f"isp {NEW}" in parent.text and "rollout #1" in parent.text
        thread = bot.slack.thread(C, parent.ts)
        heads = first_lines(thread[1:])
        assert request.thread_ts == parent.ts
        assert heads[0].startswith(f"*Plan for isp {NEW}*"), heads
        assert heads[1].startswith("✅ *Pilots* — 2/2 updated"), heads
        assert "Approval needed for #1" in heads[2] and len(heads) == 3, heads

        # Not before the pilots: both were on the new image and rolled out, the rest not.
        cluster = await at_request.state(within=WAIT)
        pilots = {t.namespace for t in (await bot.rollout(1)).batch(PILOT_BATCH)}
        assert len(pilots) == 2 and len(cluster) == 12
        assert {ns for ns, (tag, done) in cluster.items() if tag == NEW and done} == pilots
        assert {tag for ns, (tag, _) in cluster.items() if ns not in pilots} == {BASE_VERSION}

        await bot.click(Action.APPROVE.button_id, ts=request.ts, user=MALLORY)
        assert "not an approver" in (await bot.reply(MALLORY, "🚫")).text
        await bot.click(Action.APPROVE.button_id, ts=request.ts, user=BOB)
        assert "Four-eyes" in (await bot.reply(BOB, "🚫")).text
        assert (await bot.rollout(1)).phase is Phase.AWAITING_APPROVAL
        audit = await asyncio.to_thread(bot.runtime.store.audit_log)
        refused = {e.user for e in audit if e.outcome == "refused" and "approve" in e.action}
        assert refused == {MALLORY, BOB}, audit

        sent = await bot.click(Action.APPROVE.button_id, ts=request.ts, user=CAROL)
        assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
        edited = await bot.decided(request.ts, "Approved")
        assert re.search(rf"Approved by <@{CAROL}> {DECIDED_AT}", edited.text), edited.text
        assert "actions" not in [b["type"] for b in edited.blocks]
        done = await bot.wait(1)
        assert done.phase is Phase.COMPLETED
        assert set((await asyncio.to_thread(tenant_tags, bot.sim)).values()) == {NEW}

        # Stakeholders: three lines, in order, each linking to the rollout's thread.
        await bot.slack.wait_for_message_async(NOTIFY, "completed", timeout=WAIT)
        lines = [m.text for m in bot.slack.messages(NOTIFY)]
        assert [_notify_kind(line) for line in lines] == ["started", "waiting", "completed"]
        assert all(thread_link(parent) in line for line in lines), lines
        assert "12 tenants updated" in lines[-1]


def _notify_kind(line: str) -> str:
    return next((k for k in ("started", "waiting", "completed") if k in line), line)


async def test_a_sigkill_at_the_gate_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    slack = await asyncio.to_thread(slack_standin)
    sim = await asyncio.to_thread(start_sim, tenants=5, ready_delay=0.02)
    config = tmp_path / "rollbot.yaml"
    await asyncio.to_thread(config.write_text, config_text(pilot=1, batch=2))
    env = serve_env(slack=slack, sim=sim, config=config, db=tmp_path / "rollbot.db")
    try:
        async with serve_process(env) as first:
            sent = await slack.send_slash_command_async(
                first.events_url, text=f"isp {NEW}", user_id=ALICE, channel_id=C
            )
            assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
            request = await slack.wait_for_message_async(C, "Approval needed for #1", timeout=WAIT)
            assert await first.kill() == -9
        async with serve_process(env) as second:
            clicked = await slack.send_block_action_async(
                second.events_url,
                action_id=Action.APPROVE.button_id,
                user_id=BOB,
                message_ts=request.ts,
                channel_id=C,
            )
            assert clicked.status == 200 and clicked.elapsed < ACK_DEADLINE, second.log
            await slack.wait_for_message_async(NOTIFY, "completed", timeout=WAIT)
            summary = await slack.wait_for_message_async(C, f"isp {NEW} completed", timeout=WAIT)
            assert summary.thread_ts == request.thread_ts
            await slack.wait_for_async(lambda: _shows(slack, request.ts, "Approved by"), WAIT)
            assert await second.stop() == 0, second.log

        tags = await asyncio.to_thread(tenant_tags, sim)
        assert set(tags.values()) == {NEW} and len(tags) == 5
        per_namespace = await asyncio.to_thread(patches, sim)
        assert {ns: per_namespace.get(ns, 0) for ns in tags} == dict.fromkeys(tags, 1)
        for channel in (C, NOTIFY):
            assert repeated(posted(slack, channel)) == [], slack.transcript(channel)
        assert len(slack.messages(C)) == 1, slack.transcript(C)
        notify = [_notify_kind(m.text) for m in slack.messages(NOTIFY)]
        assert notify == ["started", "waiting", "completed"], slack.transcript(NOTIFY)
    finally:
        await asyncio.to_thread(slack.close)
        await asyncio.to_thread(sim.stop)


async def test_rate_limited_slack_still_gets_every_message_once_in_order(tmp_path: Path) -> None:
    config = config_text(approval=False, pilot=1, batch=2)
    async with running_bot(tmp_path, tenants=6, config=config) as bot:
        # Every fifth call about a channel (posts, edits, permalinks) is answered 429.
        rule = bot.slack.add_fault(
            "*", FaultKind.RATE_LIMITED, retry_after=1, every_nth=5, where=_in_a_channel
        )
        await bot.deploy(f"isp {NEW}")
        assert (await bot.wait(1)).phase is Phase.COMPLETED
        await bot.slack.wait_for_message_async(NOTIFY, "completed", timeout=WAIT)
        (parent,) = bot.slack.messages(C)
        await bot.slack.wait_for_message_async(
            C, f"isp {NEW} completed", thread_ts=parent.ts, timeout=WAIT
        )
        await bot.slack.wait_for_async(lambda: _shows(bot.slack, parent.ts, "6/6"), WAIT)

        assert rule.fired >= 2 and rule.fired == len([c for c in bot.slack.calls() if c.fault])
        thread = first_lines(bot.slack.thread(C, parent.ts)[1:])
        expected = ["*Plan for", "✅ *Pilots*", "✅ *Batch 1 of 3*", "✅ *Batch 2 of 3*"]
        expected += ["✅ *Batch 3 of 3*", f"✅ *isp {NEW} completed*"]
        assert len(thread) == len(expected), bot.slack.transcript(C)
        assert all(h.startswith(e) for h, e in zip(thread, expected, strict=True)), thread
        for channel in (C, NOTIFY):
            assert repeated(posted(bot.slack, channel)) == [], bot.slack.transcript(channel)
        notify = [m.text for m in bot.slack.messages(NOTIFY)]
        assert [_notify_kind(line) for line in notify] == ["started", "completed"]
        assert all(thread_link(parent) in line for line in notify), notify

        interval = bot.server.settings.post_interval
        assert bot.slack.rate_violations(min_interval=interval) == []
        assert retry_after_ignored(bot.slack.calls(), retry_after=1.0) == []
        assert set((await asyncio.to_thread(tenant_tags, bot.sim)).values()) == {NEW}


def _in_a_channel(args: Mapping[str, Any]) -> bool:
    return bool(args.get("channel"))


def _shows(slack: SlackHandle, ts: str, text: str) -> bool:
    message = slack.message(C, ts)
    return message is not None and text in message.text


async def test_a_failing_tenant_pauses_and_roll_back_all_restores_every_tenant(
    tmp_path: Path,
) -> None:
    config = config_text(approval=False, pilot=0, batch=2)
    fleet = sorted(tenant_namespaces(6))
    failing = fleet[2]  # first of batch 2: batch 1 is on the new image by then
    async with running_bot(tmp_path, tenants=6, config=config) as bot:
        await asyncio.to_thread(bot.sim.set_behaviour, failing, NEW, "unhealthy")
        await bot.deploy(f"isp {NEW}", user=ALICE)
        paused = await bot.wait(1)
        assert paused.phase is Phase.PAUSED and paused.current_batch == 2
        assert paused.target(failing).status is TargetStatus.FAILED
        choices = await bot.slack.wait_for_message_async(C, "failed in batch", timeout=WAIT)
        assert failing in choices.text
        assert "[Roll back all] [Retry failed] [Skip and continue]" in bot.slack.transcript(C)
        before = await asyncio.to_thread(tenant_tags, bot.sim)
        changed = {ns for ns, tag in before.items() if tag == NEW}
        assert set(fleet[:2]) | {failing} <= changed

        await bot.click(Action.ROLLBACK.button_id, ts=choices.ts, user=MALLORY)
        assert "may not roll back" in (await bot.reply(MALLORY, "🚫")).text
        await bot.click(Action.ROLLBACK.button_id, ts=choices.ts, user=DAVE)  # via S0RELEASE
        edited = await bot.decided(choices.ts, "Roll back chosen")
        assert re.search(rf"Roll back chosen by <@{DAVE}> {DECIDED_AT}", edited.text)
        assert (await bot.wait(1)).phase is Phase.ROLLED_BACK

        tags = await asyncio.to_thread(tenant_tags, bot.sim)
        assert tags == dict.fromkeys(fleet, BASE_VERSION)
        result = await bot.slack.wait_for_message_async(
            C, "#1 rolled back", thread_ts=choices.thread_ts, timeout=WAIT
        )
        assert f"{len(changed)} tenants back on their previous image" in result.text
        for namespace in changed:
            assert f"{namespace} → {BASE_VERSION}" in result.text, result.text
