"""rollbot over Socket Mode: envelopes on a websocket the bot opened itself.

Given the bot connected to the Slack stand-in's Socket Mode endpoint, when Slack asks it
to reconnect in the middle of a rollout, or the connection is cut without ceremony, then
the bot is back at once, the rollout goes on untouched, and commands and clicks sent
over the new connection are acked within three seconds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from rollout.actions import Action
from rollout.model import Phase, TargetStatus
from tests.e2e.slack_fixtures import (
    ACK_DEADLINE,
    ALICE,
    BOB,
    MALLORY,
    Bot,
    C,
    loop_watch,
    running_bot,
)


async def _command(bot: Bot, text: str, *, user: str = ALICE) -> float:
    sent = await bot.slack.send_slash_command_socket_async(text=text, user_id=user, channel_id=C)
    assert sent.acked and sent.latency is not None
    return sent.latency


async def test_a_rollout_goes_on_through_a_requested_reconnect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with loop_watch(caplog) as slow_callbacks:
        async with running_bot(tmp_path, tenants=8, socket_mode=True) as bot:
            assert await _command(bot, "isp v1.3.1 batch=3 pilot=2") < ACK_DEADLINE
            await bot.reply(ALICE, "accepted")
            await bot.reach(1, Phase.PILOT, Phase.MONITORING, Phase.AWAITING_APPROVAL)

            assert await asyncio.to_thread(bot.slack.request_reconnect)
            await bot.slack.wait_socket_connected_async(opened=2, timeout=15)
            assert (await bot.wait(1)).phase is Phase.AWAITING_APPROVAL
            request = await bot.approval_message(1)

            refused = await bot.slack.send_block_action_socket_async(
                action_id=Action.APPROVE.button_id,
                user_id=MALLORY,
                message_ts=request.ts,
                channel_id=C,
            )
            assert refused.acked and refused.connection_id == 2
            await bot.reply(MALLORY, "not an approver")
            approved = await bot.slack.send_block_action_socket_async(
                action_id=Action.APPROVE.button_id, user_id=BOB, message_ts=request.ts, channel_id=C
            )
            assert approved.acked and approved.latency is not None
            assert approved.latency < ACK_DEADLINE
            await bot.decided(request.ts, "Approved")
            done = await bot.wait(1)
            assert done.phase is Phase.COMPLETED
            assert all(t.status is TargetStatus.UPDATED for t in done.targets)
        assert slow_callbacks() == []


async def test_an_abrupt_drop_heals_and_commands_keep_working(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=3, socket_mode=True) as bot:
        assert await _command(bot, "status") < ACK_DEADLINE
        await bot.reply(ALICE, "No active rollouts")

        assert await asyncio.to_thread(bot.slack.drop_connection)
        await bot.slack.wait_socket_connected_async(opened=2, timeout=15)
        assert await _command(bot, "nonsense words") < ACK_DEADLINE
        assert "Usage: /deploy" in (await bot.reply(ALICE, "Usage", after=1)).text

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{bot.base_url}/healthz") as resp:
                assert resp.status == 200
                assert (await resp.json())["mode"] == "socket"
            async with http.get(f"{bot.base_url}/metrics") as resp:
                metrics = await resp.text()
        assert 'rollbot_ack_seconds_count{kind="command"} 2' in metrics
        assert 'rollbot_slack_calls_total{operation="apps.connections.open"} 2' in metrics
