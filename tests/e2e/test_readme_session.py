"""The README's terminal session, run as printed, in an empty folder with no config.

A new user's first minutes are that session: `rollbot sim`, then `plan`, a `deploy` in
one terminal, bob's `approve` from another account, `status`, `history` and a
`rollback`. This test reads the commands from README.md itself, so the two cannot
drift: each runs through a shell as written, and must exit 0 and print the first line
the README shows under it (local times and the approving account aside).

Four-eyes counts OS accounts, so bob's command runs under another uid: a user
namespace maps uid 1000 onto this account for file access while rollbot sees a
different user. Where user namespaces are not allowed, the test is skipped.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cli_support import CLI_TIMEOUT, REPO, wait_for

AS_BOB = ("unshare", "--user", "--map-user=1000", "--map-group=1000")
_PROMPT = re.compile(r"^(?:(?P<who>[\w.-]+)@[\w.-]+)?\$ (?P<command>.+)$")
_STAMP = re.compile(r"^\d\d:\d\d:\d\d  ")
_VARIES = re.compile(r"(from a terminal: [^)]+|http://127\.0\.0\.1:\d+)")


@dataclass
class Step:
    """One command of the session: who types it, the words, the lines shown under it."""

    who: str | None
    command: str
    comment: str
    shows: list[str]

    @property
    def first_line(self) -> str:
        return self.shows[0]


def session_steps() -> list[Step]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("A session against the simulator", 1)[1].split("```", 2)[1]
    steps: list[Step] = []
    for line in block.splitlines():
        found = _PROMPT.match(line)
        if found is not None:
            command, _, comment = found["command"].partition("  #")
            steps.append(Step(found["who"], command.strip(), comment.strip(), []))
        elif steps and line.strip() and line != "...":
            steps[-1].shows.append(_STAMP.sub("", line).strip())
    return steps


class Terminal:
    """A command in a terminal of its own: its lines, read as they come on a thread so a
    silent command fails the wait instead of hanging it."""

    def __init__(self, shell: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(shell, cwd=cwd, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for_line(self, readme_line: str) -> None:
        """Until it has printed `readme_line`, as the README shows it."""
        pattern = shown(readme_line)
        wait_for(lambda: any(pattern.search(line) for line in list(self.lines)),
                 timeout=CLI_TIMEOUT, what=f"{readme_line!r} in:\n{''.join(self.lines)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)  # it ends at the output's end
        if self.process.stdout is not None:
            self.process.stdout.close()


def shown(readme_line: str) -> re.Pattern[str]:
    """The README's line as a pattern: the sim's port and the account an approval came
    from differ from run to run."""
    parts = _VARIES.split(readme_line)
    return re.compile("".join(
        re.escape(part) if i % 2 == 0 else _VARIES.pattern for i, part in enumerate(parts)
    ))


def bob_types(step: Step, shell: list[str], *, cwd: Path, env: dict[str, str]) -> None:
    """Bob's command, under his own OS account, and what it must show."""
    done = subprocess.run([*AS_BOB, *shell], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=CLI_TIMEOUT, check=False)
    assert done.returncode == 0, (step.command, done.stdout, done.stderr)
    assert shown(step.first_line).search(done.stdout), (step, done.stdout)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """An empty folder, and `rollbot` on the PATH as this checkout runs it."""
    if subprocess.run([*AS_BOB, "true"], check=False, capture_output=True).returncode:
        pytest.skip("user namespaces are not available for a second OS account")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "rollbot"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m bot.cli "$@"\n')
    shim.chmod(0o755)
    here = tmp_path / "session"
    here.mkdir()
    yield here


def test_the_readme_session_runs_as_printed(folder: Path) -> None:
    own = ("ROLLBOT_", "KUBE", "SLACK_", "REGISTRY_", "XDG_", "PYTHON")
    base = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    base |= {"PATH": f"{folder.parent / 'bin'}:{base.get('PATH', '')}",
             "XDG_STATE_HOME": str(folder.parent / "state")}
    exported: dict[str, str] = {}
    background: list[tuple[Step, Terminal]] = []  # the sim first
    steps = session_steps()
    assert [s.command.split()[0] for s in steps][:2] == ["rollbot", "export"]
    try:
        for step in steps:
            shell = ["bash", "-c", step.command.removesuffix("&").strip()]
            if not step.shows:  # a command the README shows no output for
                step.shows.append("")
            if step.command.startswith("export "):
                # Given the shell's exports, as the README sets them
                for pair in shlex.split(step.command)[1:]:
                    name, _, value = pair.partition("=")
                    exported[name] = value.replace("$PWD", str(folder))
                continue
            if step.who == "bob":  # another account, with only what his command sets
                bob_types(step, shell, cwd=folder, env=base)
                for earlier, job in background[1:]:  # alice's deploy now runs to its end
                    code = job.process.wait(timeout=CLI_TIMEOUT)
                    job.stop()
                    assert code == 0, (earlier.command, "".join(job.lines))
                del background[1:]
                continue
            env = base | exported
            if step.command.endswith("&") or "in one terminal" in step.comment:
                # When a command runs in a terminal of its own, it shows what the README does
                job = Terminal(shell, cwd=folder, env=env)
                background.append((step, job))
                job.wait_for_line(step.first_line)
                job.wait_for_line(step.shows[-1])
                continue
            done = subprocess.run(shell, cwd=folder, env=env, text=True, capture_output=True,
                                  timeout=CLI_TIMEOUT, check=False)
            # Then every command exits 0 and says what the README says it says
            assert done.returncode == 0, (step.command, done.stdout, done.stderr)
            assert shown(step.first_line).search(done.stdout), (step, done.stdout)
            if " plan " in step.command:
                assert not (folder / "rollbot.db").exists(), "a plan creates no journal"
    finally:
        for _, job in background:
            job.stop()
