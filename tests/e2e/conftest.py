"""Fixtures for end-to-end tests: ``rollbot sim`` as a real subprocess, kubectl pointed
at it, and the shared reference material (the guide's script) found beside the repo."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cli_support import REPO, Sim, running_sim

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
class KubeSim(Sim):
    """A ``rollbot sim`` process and a kubectl that talks to it."""

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


@pytest.fixture
def kube_sim(tmp_path: Path, kubectl_path: str) -> Iterator[KubeSim]:
    """``python -m bot.cli sim`` with seven tenants, short delays and deadlines."""
    with running_sim(tmp_path, tenants=7, start_timeout=START_TIMEOUT) as sim:
        yield KubeSim(sim.process, sim.url, sim.kubeconfig, kubectl_path, tmp_path / "kube-cache")
    code = sim.process.returncode
    assert code == 0, f"rollbot sim exited with {code}: {(tmp_path / 'sim.log').read_text()}"
