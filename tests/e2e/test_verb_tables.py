"""Adding a verb is one entry per face: the `rollbot` table in bot/cli.py and the slash
command table in handlers/slash.py each hold a verb's usage, help and handler together.

Given a verb added to a face's table and nowhere else, then that face lists it, shows its
usage, takes its words and flags, and runs its handler.
"""

from __future__ import annotations

import signal
from collections.abc import Collection, Iterator
from datetime import datetime
from pathlib import Path
from typing import TextIO

import pytest
import yaml

from bot import cli
from bot.terminal.words import Args
from handlers import render
from handlers.edge import Edge
from handlers.slash import COMMANDS, SlashCommand, SlashRequest
from tests.e2e.cli_support import REPO
from tests.e2e.slack_fixtures import ALICE, running_bot


def echo_verb(args: Args, out: TextIO) -> int:
    """The handler of the test's `rollbot echo`."""
    words = " ".join(args.words)
    out.write((words.upper() if args.flag("--loud") else words) + "\n")
    return 0


@pytest.fixture
def sigterm_kept() -> Iterator[None]:
    """`rollbot <verb>` installs a SIGTERM handler for its process; give pytest its own back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


@pytest.mark.usefixtures("sigterm_kept")
def test_a_terminal_verb_is_one_entry_in_the_rollbot_table(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given `echo` added to the table: its help, usage, flags and where its code is
    echo = cli.Verb(
        "say the words back",
        f"{__name__}:echo_verb",
        usage="rollbot echo <words> [--loud]",
        flags=("--loud",),
    )
    monkeypatch.setitem(cli.VERBS, "echo", echo)

    # When it is listed, asked for its usage, and run with and without a flag
    assert cli.main(["help"]) == 0
    listed = capfd.readouterr().out
    assert cli.main(["echo", "--help"]) == 0
    usage = capfd.readouterr().out
    assert cli.main(["echo", "hello", "there", "--loud"]) == 0
    said = capfd.readouterr().out
    refused = cli.main(["echo", "hello", "--quiet"])
    complaint = capfd.readouterr().err

    # Then the face knows it from that one entry
    assert "  echo      say the words back" in listed.splitlines()
    assert usage == "Usage: rollbot echo <words> [--loud]\n"
    assert said == "HELLO THERE\n"
    assert refused == 2
    assert "Unknown option --quiet" in complaint and "Options: --loud." in complaint
    assert "Usage: rollbot echo <words> [--loud]" in complaint


def parse_echo(text: str, *, apps: Collection[str], now: datetime) -> str:
    del apps, now
    return text.strip()


async def answer_echo(edge: Edge, request: SlashRequest, words: str) -> render.Message:
    del edge
    return render.accepted(f"{request.command} heard: {words}")


async def test_a_slash_command_is_one_entry_in_the_slash_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given `/echo` added to the table: its usage, parser, handler and an example
    echo = SlashCommand("/echo <words>", parse_echo, answer_echo, examples=("/echo hi",))
    monkeypatch.setitem(COMMANDS, "/echo", echo)  # type: ignore[index]

    async with running_bot(tmp_path, tenants=1) as bot:
        # When someone types it, and then asks for help
        await bot.command("hello there", command="/echo")
        heard = await bot.reply(ALICE, "heard")
        await bot.command("help")
        helped = await bot.reply(ALICE, "rolls releases")

    # Then its handler answered, and help shows its usage and example beside the others
    assert heard.text == "/echo heard: hello there"
    assert "/echo <words>" in helped.text and "`/echo hi`" in helped.text
    assert "/deploy status [ID]" in helped.text and "`/rollback 42`" in helped.text


def test_every_slash_command_of_the_table_is_in_the_slack_app_manifest() -> None:
    """Given the slash table, then Slack is told of each command by the manifest operators
    paste, with the scopes their messages need (files:write for a release step's log)."""
    manifest = yaml.safe_load((REPO / "app-manifest.yml").read_text())
    listed = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert sorted(listed) == sorted(COMMANDS)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "files:write"} <= scopes
