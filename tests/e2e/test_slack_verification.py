"""Only Slack's own, fresh requests reach the bot over HTTP.

Given `rollbot serve` in HTTP mode with the Slack stand-in and the simulated cluster, when
a request arrives whose timestamp is missing or malformed, whose signature is wrong, or
which is a byte-for-byte copy of one already taken, then it gets 401 and nothing else
happens: no handler runs, nothing is audited, nobody gets an answer, and the log says it
was refused and why without repeating what the request carried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import edge_of
from rollout.actions import Action
from rollout.model import Phase
from sim.slack import SignatureMode
from sim.slack.payloads import VERIFICATION_TOKEN
from sim.slack.signing import signature
from tests.e2e.slack_fixtures import ALICE, BOB, CAROL, WAIT, Bot, C, running_bot
from tests.e2e.slack_tap import FORM, SIGNATURE, TIMESTAMP, command_body, post, tap


def malformed(now: float) -> list[str]:
    """Timestamps that are not Unix seconds as Slack writes them, most of them near `now`."""
    near = str(int(now))
    return ["abc", "1e9", "", f"{now:.3f}", "9" * 5000, f"+{near}", f"{near[:4]}_{near[4:]}"]


def headers(*, timestamp: str | None, sig: str | None) -> dict[str, str]:
    found = {"Content-Type": FORM}
    if timestamp is not None:
        found[TIMESTAMP] = timestamp
    if sig is not None:
        found[SIGNATURE] = sig
    return found


async def handlers_done(bot: Bot) -> None:
    """Every handler that took a request has answered: each is tracked from before its
    ack, so once the HTTP answer is in, waiting for these is waiting for all of them."""
    tasks = set(edge_of(bot.server.app).tasks)
    if tasks:
        await asyncio.wait(tasks, timeout=WAIT)


async def nothing_ran(bot: Bot) -> None:
    """No handler ran: no audit row, no rollout, no answer to anyone."""
    await handlers_done(bot)  # had one taken a request, its traces are there by now
    store = bot.runtime.store
    assert await asyncio.to_thread(store.audit_log) == []
    assert await asyncio.to_thread(store.list_rollouts) == []
    assert bot.slack.ephemerals() == [] and bot.slack.responses() == []


async def metrics(bot: Bot) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{bot.base_url}/metrics") as resp:
        return await resp.text()


async def test_missing_and_malformed_timestamps_get_401_and_nothing_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_bot(tmp_path, tenants=3) as bot:
        body = command_body("isp v1.3.1", user=ALICE, channel=C, response_url=bot.slack.base_url)
        secret = bot.slack.signing_secret
        answers: dict[tuple[str | None, str], int] = {}
        for timestamp in [None, *malformed(time.time())]:
            signed_as = timestamp or ""
            for key in (secret, secret + "-wrong"):
                sig = signature(key, timestamp=signed_as, body=body)
                sent = await post(bot.events_url, body, headers(timestamp=timestamp, sig=sig))
                answers[(timestamp[:12] if timestamp else timestamp, key)] = sent.status

        assert set(answers.values()) == {401}, answers
        await nothing_ran(bot)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        counted = await metrics(bot)
        assert 'rollbot_slack_requests_refused_total{reason="missing_timestamp"} 2' in counted
        assert 'rollbot_slack_requests_refused_total{reason="malformed_timestamp"} 14' in counted

        # The bot keeps serving.
        helped = await bot.command("help")
        assert helped.status == 200
        await bot.reply(ALICE, "/deploy")


async def test_any_timestamp_and_signature_headers_get_401_never_500(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=3) as bot:
        loop = asyncio.get_running_loop()
        body = command_body("status", user=ALICE, channel=C, response_url=bot.slack.base_url)
        printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
        fresh = str(int(time.time()))
        timestamps = st.one_of(
            printable,
            st.integers().map(str),
            st.floats().map(str),
            st.just(fresh),
            st.none(),
        )
        signatures = st.one_of(printable, st.just("v0=" + "0" * 64), st.none())

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(timestamp=timestamps, sig=signatures)
        def property_holds(timestamp: str | None, sig: str | None) -> None:
            sending = post(bot.events_url, body, headers(timestamp=timestamp, sig=sig))
            answer = asyncio.run_coroutine_threadsafe(sending, loop).result(timeout=10)
            assert answer.status == 401, (timestamp, sig, answer)

        await asyncio.to_thread(property_holds)
        await nothing_ran(bot)


async def test_a_replayed_slash_command_is_refused_and_answered_once(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=3) as bot, tap(bot.events_url) as wire:
        first = await bot.slack.send_slash_command_async(
            wire.url, text="status", user_id=ALICE, channel_id=C
        )
        assert first.status == 200
        await bot.reply(ALICE, "")

        again = await wire.replay(wire.seen[0])

        assert again.status == 401
        await handlers_done(bot)
        assert len(bot.slack.ephemerals(ALICE)) == 1
        assert len(bot.slack.responses(first.response_url)) == 1
        assert 'rollbot_slack_requests_refused_total{reason="replay"} 1' in await metrics(bot)


async def test_a_replayed_button_click_is_refused_and_taken_once(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=4) as bot, tap(bot.events_url) as wire:
        await bot.deploy("isp v1.3.1 batch=3 pilot=1", user=BOB)
        await bot.wait(1)
        request = await bot.approval_message(1)
        clicked = await bot.slack.send_block_action_async(
            wire.url,
            action_id=Action.APPROVE.button_id,
            user_id=CAROL,
            message_ts=request.ts,
            channel_id=C,
        )
        assert clicked.status == 200
        await bot.decided(request.ts, "Approved")

        again = await wire.replay(wire.seen[0])

        assert again.status == 401
        await handlers_done(bot)
        assert bot.slack.ephemerals(CAROL) == []
        audit = await asyncio.to_thread(bot.runtime.store.audit_log)
        assert [(e.user, e.outcome) for e in audit if e.user == CAROL] == [(CAROL, "ok")]
        assert (await bot.wait(1)).phase is Phase.COMPLETED


async def test_the_same_body_signed_afresh_is_a_new_request(tmp_path: Path) -> None:
    # A Slack retry (X-Slack-Retry-Num) carries its own timestamp and signature.
    async with running_bot(tmp_path, tenants=3) as bot, tap(bot.events_url) as wire:
        first = await bot.slack.send_slash_command_async(
            wire.url, text="help", user_id=ALICE, channel_id=C
        )
        seen = wire.seen[0]
        timestamp = str(int(seen.headers[TIMESTAMP]) - 1)
        retry = {
            **seen.headers,
            TIMESTAMP: timestamp,
            SIGNATURE: signature(bot.slack.signing_secret, timestamp=timestamp, body=seen.body),
            "X-Slack-Retry-Num": "1",
        }

        again = await wire.send(seen.body, retry)

        assert (first.status, again.status) == (200, 200)
        await handlers_done(bot)
        assert len(bot.slack.responses(first.response_url)) == 2


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (SignatureMode.WRONG, "bad signature"),
        (SignatureMode.STALE, "stale timestamp"),
        (SignatureMode.UNSIGNED, "no X-Slack-Request-Timestamp"),
    ],
)
async def test_a_refusal_is_logged_with_its_reason_and_without_the_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: SignatureMode, reason: str
) -> None:
    caplog.set_level(logging.INFO)
    async with running_bot(tmp_path, tenants=3) as bot, tap(bot.events_url) as wire:
        sent = await bot.slack.send_slash_command_async(
            wire.url, text="isp v1.3.1", user_id=ALICE, channel_id=C, signature=mode
        )

        assert sent.status == 401
        seen = wire.seen[0]
        carried = [sent.response_url, VERIFICATION_TOKEN, "isp+v1.3.1"]
        carried += [seen.headers[SIGNATURE]] if SIGNATURE in seen.headers else []
        assert [c for c in carried if c in caplog.text] == []
        (refusal,) = [r for r in caplog.records if "refused a Slack request" in r.getMessage()]
        assert reason in refusal.getMessage()
        assert refusal.levelno == logging.WARNING
        await nothing_ran(bot)
