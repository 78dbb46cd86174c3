"""`rollbot demo`, run as a new user runs it: a fresh process, nothing configured.

Given an empty working directory and an environment with no ROLLBOT_*, SLACK_*,
KUBECONFIG or registry settings, when `rollbot demo --fast` runs, then it plays the whole
scripted release through Slack (blue-green admin, isp pilots, a refused four-eyes click,
an approval, a failing tenant, Roll back all), prints the conversation as text, checks
the simulated cluster's end state, exits 0 and leaves nothing behind. Ctrl-C ends it
quietly. The printer's rendering of edits and replies is pinned down in-process.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.demo import world
from bot.demo.printer import Printer, changed_lines, plain
from bot.demo.run import parse_args, run
from sim.slack.records import BOT_USER_ID, ChatEvent, Ephemeral, Message, Version

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 120.0  # the demo takes about half a minute; this only stops a hang
START_TIMEOUT = 60.0
FAST_LIMIT = 10.0  # seconds `rollbot demo --fast` may take, start-up included
RUN_SECONDS: list[float] = []  # how long the shared run took
OWN_SETTINGS = ("ROLLBOT_", "SLACK_", "KUBECONFIG", "REGISTRY_")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def demo_command() -> list[str]:
    return [sys.executable, "-m", "bot.cli", "demo", "--fast"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str],
                                                                  Path]:
    """One run of the demo, shared by the assertions about it (it takes under 10 seconds)."""
    cwd = tmp_path_factory.mktemp("demo-cwd")
    started = time.monotonic()
    done = subprocess.run(demo_command(), cwd=cwd, env=clean_env(), capture_output=True,
                          text=True, encoding="utf-8", timeout=RUN_TIMEOUT, check=False)
    RUN_SECONDS.append(time.monotonic() - started)
    return done, cwd


def test_the_fast_demo_takes_under_ten_seconds(
        demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, _ = demo_run
    assert done.returncode == 0, done.stdout
    assert RUN_SECONDS[-1] < FAST_LIMIT, f"rollbot demo --fast took {RUN_SECONDS[-1]:.1f}s"


def test_the_demo_plays_the_whole_release_and_exits_0(
        demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, _ = demo_run
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    out = done.stdout
    for expected in (
        "rollbot demo: a scripted release, end to end",
        "Step 1 of 3 · admin v1.3.0, blue-green",
        "→ alice (U0ALICE) types “/deploy admin v1.3.0” in #releases",
        "Traffic for admin switched from v1.2.3 to v1.3.0",
        "→ alice (U0ALICE) clicks [Remove old deployment]",
        "Step 2 of 3 · isp v1.3.0",
        "→ alice (U0ALICE) types “/deploy isp v1.3.0 batch=5” in #releases",
        "[Approve] [Reject]",
        "→ alice (U0ALICE) clicks [Approve] on her own rollout",
        "rollbot (only alice sees this)",
        "→ bob (U0BOB) clicks [Approve]",
        "CrashLoopBackOff",
        "[Roll back all] [Retry failed] [Skip and continue]",
        "→ alice (U0ALICE) clicks [Roll back all]",
        "Step 3 of 3 · what the stakeholders saw in #stakeholders",
        "✓ isp: all 12 tenants run v1.2.3 again, rolled out and ready",
        "✓ admin: the Service selects version v1.3.0",
        "Demo complete.",
    ):
        assert expected in out, f"missing {expected!r} in:\n{out}"
    assert "✗" not in out


def test_the_conversation_reads_as_channels_threads_and_edits(
        demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    out = demo_run[0].stdout
    lines = out.splitlines()
    assert any("#releases" in line and " rollbot: " in line for line in lines)
    assert any("#releases" in line and "↳ rollbot: " in line for line in lines)
    assert any("#releases" in line and "✎ rollbot edited" in line for line in lines)
    assert any("#stakeholders" in line and " rollbot: " in line for line in lines)
    # Plain text for a terminal: no Slack markup or JSON left in the conversation.
    assert "<@U0" not in out and '{"' not in out and "*isp v1.3.0*" not in out
    # Each person's move comes before what rollbot said about it.
    refused = out.index("(only alice sees this): 🚫")
    assert out.index("clicks [Approve] on her own rollout") < refused


def test_the_demo_reads_no_settings_and_leaves_nothing_behind(
        demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, cwd = demo_run
    assert list(cwd.iterdir()) == []
    assert "Traceback" not in done.stdout + done.stderr


def _wait_for_line(process: subprocess.Popen[str], text: str, timeout: float) -> list[str]:
    """Read stdout on a helper thread until a line holds `text`; the lines read so far."""
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if text in line:
                found.set()
        found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout):
        process.kill()
        process.wait(timeout=10)
        pytest.fail(f"the demo never printed {text!r}: {''.join(seen)}", pytrace=False)
    return seen


def test_ctrl_c_ends_the_demo_without_a_traceback(tmp_path: Path) -> None:
    # The demo started as from a terminal: a shell's background job (`pytest &`, as some
    # CI runners start it) ignores Ctrl-C, and a child would inherit that.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(demo_command(), cwd=tmp_path, env=clean_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   encoding="utf-8")
    finally:
        signal.signal(signal.SIGINT, before)
    try:
        _wait_for_line(process, "types “/deploy admin v1.3.0”", START_TIMEOUT)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        code = process.wait(timeout=30)
        assert process.stderr is not None
        err = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert code == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert time.monotonic() - started < 20
    assert list(tmp_path.iterdir()) == []


# --- the printer, in-process --------------------------------------------------------------


def _message(*texts: str, thread_ts: str | None = None) -> Message:
    versions = tuple(Version(text, (), float(i)) for i, text in enumerate(texts))
    return Message(channel="C0RELEASES", ts="100.000001", user=BOT_USER_ID, versions=versions,
                   thread_ts=thread_ts)


def _printer() -> tuple[Printer, io.StringIO]:
    out = io.StringIO()
    printer = Printer(out, channel_names={"C0RELEASES": "releases"},
                      user_names={"U0ALICE": "alice"})
    return printer, out


def test_an_edit_prints_only_the_lines_that_changed() -> None:
    printer, out = _printer()
    before = "🚀 *isp v1.3.0* · rollout #2\n*Batch 1 of 2*\n`▓▓░░` 2/12"
    after = "🚀 *isp v1.3.0* · rollout #2\n*Batch 2 of 2*\n`▓▓▓▓` 7/12"
    printer.on_chat(ChatEvent("edit", "C0RELEASES", message=_message(before, after)))
    lines = out.getvalue().splitlines()
    assert "#releases" in lines[0] and "✎ rollbot edited “🚀 isp v1.3.0 · rollout #2”" in lines[0]
    assert [line.strip() for line in lines[1:]] == ["Batch 2 of 2", "▓▓▓▓ 7/12"]


def test_an_edit_that_only_removes_buttons_says_so_and_an_invisible_one_prints_nothing() -> None:
    assert changed_lines(["a", "[Approve] [Reject]"], ["a"]) == ([], ["[Approve] [Reject]"])
    printer, out = _printer()
    printer.on_chat(ChatEvent("edit", "C0RELEASES", message=_message("same", "same")))
    assert out.getvalue() == ""


def test_replies_are_marked_and_ephemerals_name_who_sees_them() -> None:
    printer, out = _printer()
    printer.on_chat(ChatEvent("message", "C0RELEASES",
                              message=_message("Plan for <@U0ALICE>", thread_ts="99.000001")))
    eph = Ephemeral(channel="C0RELEASES", user="U0ALICE", text="🚫 Four-eyes", blocks=(),
                    ts="101.000001", at=0.0)
    printer.on_chat(ChatEvent("ephemeral", "C0RELEASES", ephemeral=eph))
    text = out.getvalue()
    assert "↳ rollbot: Plan for @alice" in text
    assert "rollbot (only alice sees this): 🚫 Four-eyes" in text


def test_slack_marks_are_dropped_for_the_terminal() -> None:
    assert plain("*Batch 2 of 2* · `▓▓░░` 5*2") == "Batch 2 of 2 · ▓▓░░ 5*2"


def test_long_lines_are_wrapped_under_their_message() -> None:
    printer, out = _printer()
    printer.on_chat(ChatEvent("message", "C0RELEASES", message=_message("word " * 60)))
    lines = out.getvalue().splitlines()
    assert len(lines) > 1 and all(len(line) <= printer.width for line in lines)


def test_a_line_of_one_long_word_stays_indented_under_its_message() -> None:
    """Given a reply whose second line is a digest too long for the terminal, when it is
    printed, then that line stays indented under the message, broken to the width."""
    printer, out = _printer()
    digest = "sha256:" + "ab" * 40  # fits the width alone, not behind the indent
    printer.on_chat(ChatEvent("message", "C0RELEASES",
                              message=_message(f"✅ Verify admin done\n{digest}")))
    first, *rest = out.getvalue().splitlines()
    body = first.index("rollbot:")
    assert rest and all(line.startswith(" " * body) for line in rest), out.getvalue()
    assert all(len(line) <= printer.width for line in rest)


# --- a step that goes wrong ---------------------------------------------------------------


def test_a_step_without_the_expected_outcome_says_what_happened_and_exits_1(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a registry that lacks the admin image, the first step is refused at preflight:
    the demo shows rollbot's refusal, names the step and what it expected, and exits 1."""
    monkeypatch.setattr(world, "REPOSITORIES", ("dotmac/isp-ops-app",))
    out = io.StringIO()
    code = asyncio.run(run(parse_args(["--fast", "--tenants", "8"]), out))
    text = out.getvalue()
    assert code == 1, text
    assert "preflight found 1 problem" in text and "is not in the registry" in text
    assert "✗ Step 1 did not go as scripted: #1 of admin ended refused" in text
    assert "Step 2 of 3" not in text and "Demo complete" not in text


async def test_a_wait_on_the_demo_pulse_is_cancelled_even_as_it_is_poked() -> None:
    # Given the demo script waiting on its pulse for something that never comes
    changes = world.Changes(asyncio.get_running_loop())
    waiting = asyncio.create_task(changes.until(lambda: None, limit=10, what="nothing"))
    await asyncio.sleep(0)

    # When a poke and Ctrl-C's cancellation arrive at the same moment
    changes.poke()
    await asyncio.sleep(0)
    waiting.cancel()

    # Then the wait ends cancelled, as on Python 3.11 asyncio.wait_for would not
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 2)
