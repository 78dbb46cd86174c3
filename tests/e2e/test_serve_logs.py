"""What `rollbot serve` writes to its log, as a process: text by default, one JSON object
a line with `--log-format json` or `ROLLBOT_LOG_FORMAT=json`, and a clear refusal to start
with any other format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from bot import serve
from sim.kube.harness import start_sim
from sim.slack import SignatureMode, SlackHandle
from tests.e2e.slack_fixtures import ACK_DEADLINE, ALICE, C, config_text, slack_standin
from tests.e2e.slack_story_support import serve_env, serve_process

FIELDS = {"time", "level", "logger", "message"}


@pytest.fixture
async def stand_ins(tmp_path: Path) -> AsyncIterator[tuple[SlackHandle, dict[str, str]]]:
    """The Slack stand-in, a small simulated cluster, and the environment for serve."""
    slack = await asyncio.to_thread(slack_standin)
    sim = await asyncio.to_thread(start_sim, tenants=2, ready_delay=0.02)
    config = tmp_path / "rollbot.yaml"
    await asyncio.to_thread(config.write_text, config_text())
    try:
        yield slack, serve_env(slack=slack, sim=sim, config=config, db=tmp_path / "rollbot.db")
    finally:
        await asyncio.to_thread(slack.close)
        await asyncio.to_thread(sim.stop)


async def served_log(slack: SlackHandle, env: Mapping[str, str], *args: str) -> list[str]:
    """The log of a serve process that answered one command and refused one forgery."""
    async with serve_process(env, args=args) as served:
        sent = await slack.send_slash_command_async(
            served.events_url, text="help", user_id=ALICE, channel_id=C
        )
        forged = await slack.send_slash_command_async(
            served.events_url,
            text="help",
            user_id=ALICE,
            channel_id=C,
            signature=SignatureMode.WRONG,
        )
        assert sent.status == 200 and sent.elapsed < ACK_DEADLINE
        assert forged.status == 401
        await slack.wait_for_async(lambda: slack.ephemerals(ALICE), 10)
        assert await served.stop() == 0, served.log
        return [line for line in served.lines if line.strip()]


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in lines]
    assert all(set(entry) >= FIELDS for entry in entries), entries
    return entries


async def test_json_lines_when_the_environment_asks(
    stand_ins: tuple[SlackHandle, dict[str, str]],
) -> None:
    slack, env = stand_ins

    lines = await served_log(slack, {**env, "ROLLBOT_LOG_FORMAT": "json"})

    entries = parsed(lines)
    messages = [(e["level"], e["logger"], e["message"]) for e in entries]
    assert any(m[2].startswith("rollbot serving (HTTP") for m in messages)
    assert ("WARNING", "bot.slack.events") in [m[:2] for m in messages if "bad signature" in m[2]]
    assert any(m[2] == "rollbot stopping" for m in messages)


async def test_the_flag_wins_over_the_environment(
    stand_ins: tuple[SlackHandle, dict[str, str]],
) -> None:
    slack, env = stand_ins

    lines = await served_log(slack, {**env, "ROLLBOT_LOG_FORMAT": "text"}, "--log-format", "json")

    assert any("bad signature" in e["message"] for e in parsed(lines))


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--log-format", "xml"], {}, "--log-format"),
        ([], {"ROLLBOT_LOG_FORMAT": "JSON"}, "ROLLBOT_LOG_FORMAT"),
        (["--log-format", ""], {"ROLLBOT_LOG_FORMAT": "json"}, "--log-format"),
    ],
)
def test_an_unknown_log_format_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    named: str,
) -> None:
    # Without Slack credentials: had the format been taken, start-up would stop there.
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ROLLBOT_LOG_FORMAT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert serve.main(args) == 2

    error = capsys.readouterr().err
    assert f"{named}: must be text or json" in error
    assert "SLACK_BOT_TOKEN" not in error
