"""`rollbot plan` estimates from what the fleet measured, not from a guess.

Given a simulated fleet whose new pods take a known time to come up, the plan before any
rollout says its per-batch time is assumed; after one rollout it says it measured it, and
its total comes within a stated tolerance of how long that rollout really took.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.model import Phase
from tests.e2e.cli_support import Rollbot, Sim, running_sim

TENANTS = 7  # two pilots, then batches of 3 and 2
READY = 0.6  # seconds the simulated new pods take to become ready
# How close the estimate must come to the measured run: 25% of it, and never tighter
# than 1.5 s (start-up and journal writes are not modelled).
TOLERANCE = 0.25
FLOOR = 1.5


@pytest.fixture
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    folder = tmp_path_factory.mktemp("sim")
    with running_sim(folder, tenants=TENANTS, ready_delay=READY) as handle:
        yield handle


def _estimate(out: str) -> tuple[float, str]:
    """The plan's total, in seconds, and the words after it that say what it rests on."""
    found = re.search(r"about (?:(\d+)m)?(?:(\d+)s)? \(([^)]*)\)", out)
    assert found is not None, out
    minutes, seconds, basis = found.groups()
    return int(minutes or 0) * 60 + int(seconds or 0), basis


def test_a_plan_after_a_rollout_expects_what_that_rollout_took(tmp_path: Path, sim: Sim) -> None:
    # Given a fleet that has never been rolled out to by rollbot
    rollbot = Rollbot.in_folder(
        tmp_path, sim, approval=False, batch=3, pilot=2, wait="1s", pilot_monitor="1s"
    )
    before = rollbot.run("plan", "isp", "v1.3.0")
    assert before.returncode == 0, before.stderr
    _, basis = _estimate(before.stdout)
    assert "no past rollouts, assuming 1m per batch" in basis

    # When one rollout runs to the end
    done = rollbot.run("deploy", "isp", "v1.3.0")
    assert done.returncode == 0, done.stdout + done.stderr
    first = rollbot.rollout(1)
    assert first is not None and first.phase is Phase.COMPLETED
    assert first.finished_at is not None
    took = (first.finished_at - first.created_at).total_seconds()

    # Then the next plan says it measured the fleet, and expects about that long
    after = rollbot.run("plan", "isp", "v1.3.1")
    assert after.returncode == 0, after.stderr
    expected, basis = _estimate(after.stdout)
    assert "waits 2s" in basis and "from the last rollout" in basis, basis
    assert abs(expected - took) <= max(FLOOR, TOLERANCE * took), (expected, took, after.stdout)
