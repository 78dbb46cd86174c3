"""The build commands (`release.install`, `release.shared_build`) as subprocesses.

Each runs through ``/bin/sh -c`` in the work tree, as a person would type it, in a process
group of its own so that a stop or a timeout ends pnpm and every child it started (node
scripts, esbuild, ...), not only the shell. Output, stdout and stderr together, goes to
the step's log file as it comes. Called from the release runner's worker thread, never
from an event loop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bot.build.stop import Stop

GRACE_SECONDS = 2.0  # after SIGTERM, before SIGKILL


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str = ""  # why it failed: exit status, timed out, stopped


def run_command(
    command: str,
    *,
    cwd: Path,
    log_path: Path,
    timeout: float,
    stop: Stop,
    env: dict[str, str] | None = None,
) -> Outcome:
    """Run `command`; its output is appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"$ {command}\n".encode())
        log.flush()
        process = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, env=env,
        )  # fmt: skip
        with stop.closing(lambda: _end_group(process)):
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _end_group(process)
                log.write(f"\nrollbot: timed out after {timeout:.0f}s; stopped\n".encode())
                return Outcome(False, f"timed out after {_seconds(timeout)}")
        if stop.requested:
            log.write(f"\nrollbot: stopped by {stop.by or 'request'}\n".encode())
            return Outcome(False, f"stopped by {stop.by}" if stop.by else "stopped")
        if code != 0:
            return Outcome(False, f"`{command}` exited with status {code}")
        return Outcome(True)


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group, SIGKILL to what is left after a grace period."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        return
    _signal(group, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal(group, signal.SIGKILL)  # children may outlive the shell; the group goes too
    process.wait()


def _signal(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def _seconds(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
