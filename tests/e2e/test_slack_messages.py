"""What a rollout's thread says, read as a person reads it: causes before their
consequences, each fact once, times that match what happened, names Slack shows as names.

The bot is the in-process `serve` of `slack_fixtures`, talking HTTP to the Slack stand-in
and the simulated cluster; the tests read the messages the stand-in holds.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from rollout.actions import Action
from rollout.model import Phase, TargetStatus
from sim.kube.harness import start_sim
from sim.kube.seed import tenant_namespaces
from tests.e2e.slack_fixtures import ALICE, NOTIFY, WAIT, C, config_text, running_bot

NEW = "v1.3.1"


async def test_a_crash_loop_leads_its_tenant_line_and_is_told_once_per_thread(
    tmp_path: Path,
) -> None:
    # Given a fleet of six where the first tenant of batch 2 crash-loops on the new version
    config = config_text(approval=False, pilot=0, batch=2)
    sick = sorted(tenant_namespaces(6))[2]
    async with running_bot(tmp_path, tenants=6, config=config) as bot:
        await asyncio.to_thread(bot.sim.set_behaviour, sick, NEW, "crash")

        # When the rollout reaches it and pauses
        await bot.deploy(f"isp {NEW}", user=ALICE)
        paused = await bot.wait(1)
        assert paused.phase is Phase.PAUSED
        assert paused.target(sick).status is TargetStatus.FAILED
        choices = await bot.slack.wait_for_message_async(C, "failed in batch", timeout=WAIT)
        assert choices.thread_ts is not None
        thread = bot.slack.thread(C, choices.thread_ts)

    # Then the tenant's line in its batch result starts with the crash loop
    texts = [m.text for m in thread]
    (result,) = [t for t in texts if "Batch 2 of 3" in t]
    (line,) = [ln for ln in result.splitlines() if ln.startswith(f"❌ {sick}")]
    cause = line.split(" — ", 1)[1]
    assert re.match(r"(rollout stopped early: )?pod \S+.*CrashLoopBackOff", cause), line
    # and the thread (its head included) tells that cause once, however many messages
    # name the tenant
    told = sum(t.count(cause) for t in texts)
    assert told == 1, "\n---\n".join(texts)
    assert sick in choices.text


READY = 2.0  # seconds the simulated cluster takes to bring a tenant's new pods up


def _seconds(text: str) -> float:
    """`1m5s`, `12s` or `3.2s` as seconds."""
    found = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d)?)s)?", text)
    assert found is not None and text, text
    return int(found.group(1) or 0) * 60 + float(found.group(2) or 0)


async def test_each_duration_measures_what_its_words_say(tmp_path: Path) -> None:
    # Given tenants that take READY seconds to come up, and a crash loop in batch 2
    # that holds its batch far longer than its healthy neighbour
    config = config_text(approval=False, pilot=0, batch=2)
    fleet = sorted(tenant_namespaces(6))
    sick, neighbour = fleet[2], fleet[3]
    sim = await asyncio.to_thread(start_sim, tenants=6, ready_delay=READY)
    try:
        async with running_bot(tmp_path, tenants=6, config=config, sim=sim) as bot:
            await asyncio.to_thread(sim.set_behaviour, sick, NEW, "crash")
            await bot.deploy(f"isp {NEW}", user=ALICE)
            assert (await bot.wait(1)).phase is Phase.PAUSED
            choices = await bot.slack.wait_for_message_async(C, "failed in batch", timeout=WAIT)

            # When Alice rolls back, timed from her click to the rollout's end
            clicked = time.monotonic()
            await bot.click(Action.ROLLBACK.button_id, ts=choices.ts, user=ALICE)
            # (the click is acknowledged before the engine takes it: still PAUSED until then)
            assert (await bot.reach(1, Phase.ROLLED_BACK)).phase is Phase.ROLLED_BACK
            rolled_back = time.monotonic() - clicked
            assert choices.thread_ts is not None
            summary = await bot.slack.wait_for_message_async(
                C, "rolled back* in", thread_ts=choices.thread_ts, timeout=WAIT
            )
            texts = [m.text for m in bot.slack.thread(C, choices.thread_ts)]
    finally:
        await asyncio.to_thread(sim.stop)

    # Then each healthy tenant's time is its own, about READY, not its batch's
    results = [t for t in texts if re.search(r"Batch \d of 3", t)]
    shown = {
        found.group(1): _seconds(found.group(2))
        for text in results
        for found in re.finditer(r"^[✅❌] (tenant-\S+) (\S+)", text, re.MULTILINE)
    }
    assert set(shown) == set(fleet[:4]), results
    for namespace in (*fleet[:2], neighbour):
        assert abs(shown[namespace] - READY) <= 1, (namespace, shown, results)
    assert shown[sick] > shown[neighbour] + 1, shown
    # and the roll back's time is the roll back's, not the rollout's since it began
    took = re.search(r"rolled back\*? in (\S+)", summary.text)
    assert took is not None, summary.text
    # (measured from the click, so it also holds the moment the engine took to pick the
    # click up: the roll back's own time is within it, and at least one tenant's restart)
    shown_back = _seconds(took.group(1))
    assert READY - 1 <= shown_back <= rolled_back + 1, (summary.text, rolled_back)


async def test_a_rollout_refused_at_preflight_is_told_as_refused_never_as_started(
    tmp_path: Path,
) -> None:
    # Given a tenant rollbot may not patch, so preflight will refuse the rollout
    fleet = sorted(tenant_namespaces(4))
    async with running_bot(tmp_path, tenants=4) as bot:
        await asyncio.to_thread(
            bot.sim.deny_access, namespace=fleet[1], verb="patch", resource="deployments"
        )

        # When Alice asks for it
        rid = await bot.deploy(f"isp {NEW}", user=ALICE)
        refused = await bot.wait(rid)
        told = await bot.slack.wait_for_message_async(NOTIFY, "refused", timeout=WAIT)
        parent = await bot.slack.wait_for_async(
            lambda: next(
                (m for m in bot.slack.messages(C) if "rollout #" in m.text and "🛑" in m.text),
                None,
            ),
            WAIT,
        )
        replies = [m.text for m in bot.slack.thread(C, parent.ts)[1:]]
        notify = [m.text for m in bot.slack.messages(NOTIFY)]

    # Then it is recorded and shown as refused, and nobody is told it started or failed
    assert refused.phase is Phase.REFUSED
    assert f"#{rid} was refused at preflight" in told.text and fleet[1] in told.text
    assert notify == [told.text]
    assert "Refused" in parent.text.splitlines()[1], parent.text
    assert not [t for t in [*replies, *notify] if "started by" in t or "failed:" in t]
    assert any("was not started" in t for t in replies)


_BARE_ID = re.compile(r"(?<![@^\w])[UWS]0[A-Z0-9]{3,}\b")  # an ID not inside a Slack mention


async def test_people_and_groups_are_mentions_slack_renders(tmp_path: Path) -> None:
    # Given approvers that include a user group (S0LEADS)
    async with running_bot(tmp_path, tenants=4) as bot:
        # When a rollout reaches its approval gate
        rid = await bot.deploy(f"isp {NEW} batch=2 pilot=1", user=ALICE)
        request = await bot.approval_message(rid)
        texts = [
            m.text
            for channel in (C, NOTIFY)
            for m in bot.slack.messages(channel, include_replies=True)
        ]

    # Then the group is a user-group mention and the people user mentions, in every message
    assert "<!subteam^S0LEADS>" in request.text and "<@U0BOB>" in request.text
    assert not [t for t in texts if _BARE_ID.search(t)], texts
