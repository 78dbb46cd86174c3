"""`rollbot demo --release`, run as a new user runs it: a fresh process, nothing configured.

Given an environment with no rollbot, Slack, cluster or registry settings, when `rollbot
demo --release --fast` runs, then it writes the fixture monorepo, starts a Docker engine
and a registry of its own, plays `/release v1.3.1` through Slack (both images built at
once, pushed, verified; admin switched blue-green; isp approved by bob and rolled out to
every tenant), checks the end state against the registry and the simulated cluster,
exits 0 and stops what it started. On a machine without a Docker engine it says so in one
line, exits 2 and starts nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.demo.release_world import NEEDS
from sim.docker import missing_needs
from tests.e2e.test_demo import clean_env

RUN_TIMEOUT = 240.0  # about half a minute here; this only stops a hang
CANNOT_EXIT = 2


def release_demo(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", "demo", "--release", "--fast"],
                          cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8",
                          timeout=RUN_TIMEOUT, check=False)


@pytest.mark.skipif(bool(missing_needs(NEEDS)), reason="needs what scripts/setup installs")
def test_the_release_demo_builds_pushes_and_deploys_every_tenant(tmp_path: Path) -> None:
    # Given a fresh process with nothing configured
    # When the release demo runs
    done = release_demo(tmp_path, clean_env())
    out = done.stdout
    # Then it exits 0 after the whole release
    assert done.returncode == 0, f"{out}\n{done.stderr}"
    assert "→ alice (U0ALICE) types “/release v1.3.1” in #releases" in out
    assert "→ bob (U0BOB) clicks [Approve]" in out
    registry = re.search(r"registry  docker-registry  (127\.0\.0\.1:\d+)", out)
    assert registry is not None, out
    host = registry.group(1)
    # And its checks read the registry and the cluster: both tags pushed, admin switched,
    # every tenant on the new version
    checks = out[out.index("Checked against the registry and the simulated cluster"):]
    for wanted in (
        "✓ release: R1 completed",
        "✓ images: both builds ran at the same time",
        f"✓ registry: {host}/dotmac/platform-admin-app:v1.3.1 pushed",
        f"✓ registry: {host}/dotmac/isp-ops-app:v1.3.1 pushed",
        "✓ admin: switched, the Service selects version v1.3.1",
        f"✓ admin: platform-admin-app-v1-3-1 runs {host}/dotmac/platform-admin-app:v1.3.1",
        f"✓ isp: all 12 tenants run v1.3.1 from {host}, rolled out and ready",
        "approved by bob",
    ):
        assert wanted in checks, checks
    assert "✗" not in checks and "Demo complete." in out
    # And the engine it started is stopped, its folder gone
    socket = re.search(r"unix://(/tmp/rbd-[^/\s]+)/docker\.sock", out)
    assert socket is not None and not Path(socket.group(1)).exists()
    assert list(tmp_path.iterdir()) == []


def test_without_a_docker_engine_it_says_what_it_needs_in_one_line_and_starts_nothing(
    tmp_path: Path,
) -> None:
    # Given a PATH with everything the release demo needs but dockerd
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in set(NEEDS) - {"dockerd"}:
        found = shutil.which(name)
        if found is not None:
            os.symlink(found, bin_dir / name)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**clean_env(), "PATH": str(bin_dir), "TMPDIR": str(temp)}
    # When the release demo is asked for
    done = release_demo(tmp_path, env)
    # Then it says in one line what it needs and how to get it, and exits 2
    assert done.returncode == CANNOT_EXIT, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("rollbot demo --release needs a Docker engine")
    assert "run scripts/setup as root" in lines[0] and "docker.io (dockerd)" in lines[0]
    # And nothing was started: not a line of the demo, no temporary home
    assert done.stdout == ""
    assert list(temp.iterdir()) == []
