"""The App Home tab, told end to end through the Slack stand-in.

The bot is `serve` in-process (see `slack_fixtures`): the stand-in sends it signed
`app_home_opened` events and clicks on the Home view it published, and records every
views.publish. People are the fixtures': Alice deploys, Carol approves through S0LEADS,
Mallory may do nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rollout.actions import Action
from rollout.model import Phase
from sim.slack.views import HomeView
from tests.e2e.slack_fixtures import ALICE, CAROL, MALLORY, WAIT, C, loop_watch, running_bot

NEW = "v1.3.1"
REPO = Path(__file__).resolve().parents[2]


def buttons(home: HomeView) -> dict[str, str]:
    """action_id -> value of every button on the view."""
    return {
        e["action_id"]: e["value"]
        for block in home.blocks if block["type"] == "actions"
        for e in block["elements"]
    }


def words(home: HomeView) -> str:
    found: list[str] = []
    for block in home.blocks:
        text: Any = block.get("text")
        if isinstance(text, dict):
            found.append(str(text["text"]))
        found += [str(e["text"]) for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return "\n".join(found)


async def test_an_approver_approves_from_home_and_sees_the_rollout_finish(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=12) as bot:
        # Given a rollout of Alice's waiting for approval after its pilots
        rollout_id = await bot.deploy(f"isp {NEW} batch=5 pilot=2", user=ALICE)
        await bot.reach(rollout_id, Phase.AWAITING_APPROVAL)

        # When Carol (an approver) and Alice (its requester, no approver) open the Home tab
        opened = await bot.slack.send_app_home_opened_async(bot.events_url, user_id=CAROL)
        assert opened.status == 200 and opened.within_deadline
        await bot.slack.send_app_home_opened_async(bot.events_url, user_id=ALICE)
        carols = await bot.slack.wait_for_home_async(CAROL, "Awaiting approval", timeout=WAIT)
        alices = await bot.slack.wait_for_home_async(ALICE, "Awaiting approval", timeout=WAIT)

        # Then both see it with its progress; only Carol may approve, both may pause
        assert f"*isp {NEW}* · rollout #{rollout_id}" in words(carols)
        assert "2/12" in words(carols)
        assert buttons(carols)[Action.APPROVE.button_id] == f"{rollout_id}:1"
        assert Action.APPROVE.button_id not in buttons(alices)
        assert set(buttons(alices)) == {Action.PAUSE.button_id, Action.CANCEL.button_id}

        # When Carol clicks Approve on her Home tab
        seen = len(bot.slack.homes(CAROL))
        clicked = await bot.slack.send_home_action_async(
            bot.events_url, action_id=Action.APPROVE.button_id, user_id=CAROL
        )
        assert clicked.status == 200 and clicked.within_deadline

        # Then the engine took her approval, as from the thread, and the rollout goes on
        # (the click is acked before the engine takes it: wait for the end, not for a pause)
        done = await bot.reach(rollout_id, Phase.COMPLETED)
        assert done.phase is Phase.COMPLETED
        assert [(a.user, a.decision) for a in done.approvals] == [(CAROL, Action.APPROVE)]
        request = await bot.approval_message(rollout_id)
        await bot.decided(request.ts, "Approved")

        # And her tab was drawn again without the gate, and lists the rollout as finished
        # with its outcome and a link to its thread
        def moved_on() -> HomeView | None:
            drawn = bot.slack.homes(CAROL)[seen:]
            return next((h for h in drawn if "Awaiting approval" not in words(h)), None)

        later = await bot.slack.wait_for_async(moved_on, WAIT)
        assert Action.APPROVE.button_id not in buttons(later)
        final = await bot.slack.wait_for_home_async(CAROL, "Nothing is rolling out", timeout=WAIT)
        parent = bot.slack.messages(C)[0]
        recent = words(final)
        assert f"rollout #{rollout_id} · Completed at " in recent and "12/12 updated" in recent
        assert f"archives/{C}/p{parent.ts.replace('.', '')}" in recent


async def test_a_refused_click_on_home_is_answered_in_the_clickers_dm(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=4) as bot:
        # Given a rollout waiting for approval, and Mallory's Home tab (no buttons for her)
        rollout_id = await bot.deploy(f"isp {NEW} pilot=1", user=ALICE)
        await bot.reach(rollout_id, Phase.AWAITING_APPROVAL)
        await bot.slack.send_app_home_opened_async(bot.events_url, user_id=MALLORY)
        home = await bot.slack.wait_for_home_async(MALLORY, "Awaiting approval", timeout=WAIT)
        assert buttons(home) == {}

        # When a click from her Home tab asks to pause it anyway (a view drawn before)
        sent = await bot.slack.send_home_action_async(
            bot.events_url, action_id=Action.PAUSE.button_id, value=str(rollout_id),
            user_id=MALLORY,
        )  # fmt: skip
        assert sent.status == 200

        # Then the refusal, with its reason, is in her conversation with rollbot
        answer = await bot.slack.wait_for_message_async("D0MALLORY", "🚫", timeout=WAIT)
        assert f"may not pause #{rollout_id}" in answer.text
        assert (await bot.rollout(rollout_id)).phase is Phase.AWAITING_APPROVAL


async def test_the_home_tab_opens_over_socket_mode_without_holding_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with loop_watch(caplog) as slow_callbacks:
        async with running_bot(tmp_path, tenants=4, socket_mode=True) as bot:
            # When Alice opens the Home tab with nothing running
            delivered = await bot.slack.send_app_home_opened_socket_async(user_id=ALICE)

            # Then the event was acked and her tab says so; no handler held the loop
            assert delivered.acked and delivered.within_deadline
            home = await bot.slack.wait_for_home_async(
                ALICE, "Nothing is rolling out", timeout=WAIT
            )
            assert buttons(home) == {}
            assert slow_callbacks() == []


def test_the_manifest_enables_the_home_tab_and_subscribes_to_its_event() -> None:
    manifest = yaml.safe_load((REPO / "app-manifest.yml").read_text())
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    # Answers to clicks on the tab are DMs: the Messages tab shows them.
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
