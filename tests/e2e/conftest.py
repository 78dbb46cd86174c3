"""Fixtures for end-to-end tests: ``rollbot sim`` as a real subprocess, kubectl pointed
at it, and the shared reference material (the guide's script) found beside the repo."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
KUBECTL_TIMEOUT = 60.0
START_TIMEOUT = 20.0


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``<repo>/../shared``: CI clones the repo with a copy of shared/ beside it."""
    found = REPO.parent / "shared"
    if not (found / "reference" / "deploy-all-tenants.sh").is_file():
        pytest.fail(
            f"the shared reference material is missing: expected {found} next to the "
            f"repository (with reference/deploy-all-tenants.sh)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def kubectl_path() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl is not on PATH; the end-to-end tests drive it", pytrace=False)
    return path


@dataclass
class KubeSim:
    """A ``rollbot sim`` process and a kubectl that talks to it."""

    process: subprocess.Popen[str]
    url: str
    kubeconfig: Path
    kubectl_path: str
    cache_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.cache_dir),
        }

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.kubectl_path, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}"
            )
        return done

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the sim's ``/_sim/`` control API."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_sim/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def _first_line(process: subprocess.Popen[str]) -> str:
    """Read the start-up line on a helper thread, so a silent sim cannot hang the test."""
    lines: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        lines.append(process.stdout.readline())
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(START_TIMEOUT) or not lines[0]:
        process.kill()
        process.wait(timeout=10)
        pytest.fail("rollbot sim printed no start-up line", pytrace=False)
    return lines[0]


@pytest.fixture
def kube_sim(tmp_path: Path, kubectl_path: str) -> Iterator[KubeSim]:
    """``python -m bot.cli sim`` with seven tenants, short delays and deadlines."""
    kubeconfig = tmp_path / "kubeconfig"
    with (tmp_path / "sim.log").open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot.cli",
                "sim",
                "--tenants",
                "7",
                "--kubeconfig",
                str(kubeconfig),
                "--ready-delay",
                "0.05",
                "--deadline-scale",
                "0.01",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    line = _first_line(process)
    url = next(word for word in line.split() if word.startswith("http://"))
    sim = KubeSim(process, url, kubeconfig, kubectl_path, tmp_path / "kube-cache")
    try:
        yield sim
    finally:
        code = sim.stop()
    assert code == 0, f"rollbot sim exited with {code}: {(tmp_path / 'sim.log').read_text()}"
