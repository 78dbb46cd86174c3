"""The simulated cluster as a subprocess (``rollbot sim``), one fresh cluster per run.

A subprocess keeps the simulator's CPU and memory out of the measured clients and out of
the benchmark process; its ``/_sim/`` control API gives the request counters and the final
state of every deployment, which is how the bench checks that each tenant ended on the new
image without adding requests to the counts it reports.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

START_TIMEOUT_S = 60.0
POLL_S = 0.05
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 30.0
TENANT_DEPLOYMENT = "isp-ops-app"
_URL = re.compile(r"(http://127\.0\.0\.1:\d+)")


class SimError(RuntimeError):
    """The simulator did not start, or its control API did not answer."""


class SimProcess:
    """``rollbot sim --tenants N --kubeconfig PATH --ready-delay S`` and its control API."""

    def __init__(self, command: list[str], *, kubeconfig: Path, log: Path) -> None:
        self.command = command
        self.kubeconfig = kubeconfig
        self.log = log
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @classmethod
    def for_fleet(
        cls, rollbot: list[str], *, tenants: int, ready_delay: float, workdir: Path
    ) -> SimProcess:
        kubeconfig = workdir / "kubeconfig"
        command = [
            *rollbot, "sim", "--tenants", str(tenants), "--kubeconfig", str(kubeconfig),
            "--ready-delay", str(ready_delay),
        ]
        return cls(command, kubeconfig=kubeconfig, log=workdir / "sim.log")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start it and wait for the line that gives its URL (printed once seeded).

        Its output goes to a file, not a pipe, so nothing it writes later can block it."""
        self._log_file = self.log.open("wb")
        self._proc = subprocess.Popen(
            self.command, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._proc.poll() is None:
            found = _URL.search(self.log.read_text(errors="replace"))
            if found:
                self.url = found.group(1)
                return
            time.sleep(POLL_S)
        gone = self._gone()
        self.stop()
        if gone:
            raise SimError(f"simulator {gone} before it started (see {self.log})")
        raise SimError(f"simulator did not start within {timeout:.0f} s (see {self.log})")

    @property
    def exit_code(self) -> int | None:
        """None while it runs (or before it starts); a negative code is the killing signal."""
        return None if self._proc is None else self._proc.poll()

    def _gone(self) -> str:
        """How the simulator ended, when it has: a dead simulator explains a refused call."""
        code = self.exit_code
        if code is None:
            return ""
        if code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def control(self, path: str, *, method: str = "GET") -> Any:
        request = urllib.request.Request(f"{self.url}/_sim/{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
                return json.loads(answer.read())
        except OSError as exc:
            gone = self._gone()
            why = f"; the simulator {gone} (see {self.log})" if gone else ""
            raise SimError(f"simulator control API {method} /_sim/{path}: {exc}{why}") from exc

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control("counters")
        return result

    def reset_counters(self) -> None:
        self.control("counters", method="DELETE")

    def cpu_seconds(self) -> float:
        """User + system CPU the simulator has used so far (from /proc)."""
        if self._proc is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # Fields 14 and 15 of stat(5), counted after the ") " that ends the command name.
        ticks = int(fields[11]) + int(fields[12])
        return round(ticks / os.sysconf("SC_CLK_TCK"), 2)

    def tenant_images(self) -> dict[str, dict[str, Any]]:
        """Namespace -> {image, rolled_out} of every tenant's deployment."""
        state = self.control("state")
        return {
            d["namespace"]: {"image": d["image"], "rolled_out": bool(d["rolled_out"])}
            for d in state["deployments"]
            if d["name"] == TENANT_DEPLOYMENT
        }

