"""The guide's versioning strategy through the real CLI against `rollbot sim` (SPEC 12):
on a fleet running v1.2.3 with the example's `versions:` policy and a weekend window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.e2e.cli_support import Rollbot, Sim, assert_no_traceback, running_sim

TENANTS = 12
POLICY = {
    "patch": {"pilot": 1, "approval": False},
    "minor": {"pilot": 2, "approval": True},
    "major": {"pilot": 0, "batch": "100%", "approvals_required": 2, "window": "required"},
}
WINDOWS = [{"days": ["sat", "sun"], "from": "02:00", "to": "05:00", "tz": "UTC"}]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    with running_sim(tmp_path_factory.mktemp("sim"), tenants=TENANTS) as handle:
        yield handle


@pytest.fixture
def rollbot(tmp_path: Path, sim: Sim) -> Rollbot:
    """Given the example's policy for isp and a weekend release window."""
    bot = Rollbot.in_folder(tmp_path, sim, versions=POLICY)
    data = yaml.safe_load(bot.config.read_text(encoding="utf-8"))
    data.setdefault("release", {})["windows"] = WINDOWS
    bot.config.write_text(yaml.safe_dump(data), encoding="utf-8")
    return bot


def next_saturday_3am() -> datetime:
    now = datetime.now(UTC)
    days = (5 - now.weekday()) % 7 or 7
    return (now + timedelta(days=days)).replace(hour=3, minute=0, second=0, microsecond=0)


def test_a_patch_plans_one_pilot_and_no_gate(rollbot: Rollbot) -> None:
    done = rollbot.run("plan", "isp", "v1.2.4")

    assert done.returncode == 0, done.stderr
    assert "Version: patch v1.2.3 → v1.2.4: 1 pilot, no approval" in done.stdout
    assert "Pilots (1)" in done.stdout
    assert "Approval gate" not in done.stdout


def test_a_minor_plans_pilots_and_the_gate(rollbot: Rollbot) -> None:
    done = rollbot.run("plan", "isp", "v1.3.0")

    assert done.returncode == 0, done.stderr
    assert "Version: minor v1.2.3 → v1.3.0" in done.stdout
    assert "Pilots (2)" in done.stdout and "Approval gate" in done.stdout


def test_a_major_without_at_is_refused_naming_the_window(rollbot: Rollbot, sim: Sim) -> None:
    sim.reset_counters()

    done = rollbot.run("deploy", "isp", "v2.0.0")

    assert done.returncode == 1
    assert "a major version must be scheduled inside a release window with at=" in done.stderr
    assert "the next window opens Sat " in done.stderr
    assert sim.writes() == 0
    assert_no_traceback(done.stdout, done.stderr)


def test_a_major_at_a_window_time_is_one_batch_with_two_approvals(rollbot: Rollbot) -> None:
    at = next_saturday_3am().strftime("%Y-%m-%dT%H:%M:%SZ")

    done = rollbot.run("plan", "isp", "v2.0.0", f"at={at}")

    assert done.returncode == 0, done.stderr
    assert "Version: major v1.2.3 → v2.0.0: all tenants in one batch, no pilots, 2 approvals" \
        in done.stdout
    assert f"Batch 1 ({TENANTS})" in done.stdout and "Batch 2" not in done.stdout
    assert "2 approvals" in done.stdout
    assert "refused" not in done.stdout


def test_a_downgrade_is_refused_with_the_rollback_hint_and_nothing_is_patched(
    rollbot: Rollbot, sim: Sim
) -> None:
    sim.reset_counters()

    done = rollbot.run("deploy", "isp", "v1.2.2")

    assert done.returncode == 1
    assert "v1.2.2 is lower than v1.2.3" in done.stderr
    assert "rollbot rollback isp to=v1.2.2" in done.stderr
    assert sim.patches() == {}
    assert sim.writes() == 0


def test_plan_shows_the_problems_deploy_would_refuse_with(rollbot: Rollbot) -> None:
    done = rollbot.run("plan", "isp", "v1.2.2")

    assert done.returncode == 0, done.stderr
    assert "A deploy would be refused:" in done.stdout
    assert "rollbot rollback isp to=v1.2.2" in done.stdout
