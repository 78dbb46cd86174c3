"""The guide's versioning strategy through the real CLI against `rollbot sim` (SPEC 12):
on a fleet running v1.2.3 with the example's `versions:` policy and a weekend window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from rollout.model import Phase
from sim.kube.seed import tenant_namespaces
from tests.e2e.cli_support import (
    Rollbot,
    Sim,
    assert_no_traceback,
    rollout_id_from,
    running_sim,
)

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
def rollbot(tmp_path: Path, sim: Sim) -> Iterator[Rollbot]:
    """Given the example's policy for isp and a weekend release window."""
    bot = Rollbot.in_folder(tmp_path, sim, versions=POLICY)
    data = yaml.safe_load(bot.config.read_text(encoding="utf-8"))
    data.setdefault("release", {})["windows"] = WINDOWS
    bot.config.write_text(yaml.safe_dump(data), encoding="utf-8")
    yield bot
    bot.stop_all()


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
    done = rollbot.run("plan", "isp", "v2.0.0", f"at={next_saturday_3am():%Y-%m-%dT%H:%M:%SZ}")

    assert done.returncode == 0, done.stderr
    assert "Version: major v1.2.3 → v2.0.0: all tenants in one batch, no pilots, 2 approvals" \
        in done.stdout
    assert f"Batch 1 ({TENANTS})" in done.stdout and "Batch 2" not in done.stdout
    assert "2 approvals" in done.stdout
    assert "refused" not in done.stdout


def test_a_major_deployed_at_a_window_time_is_scheduled_as_one_batch_with_two_approvals(
    rollbot: Rollbot, sim: Sim
) -> None:
    sim.reset_counters()

    # When the major is deployed at a time inside the weekend window
    job = rollbot.spawn("deploy", "isp", "v2.0.0", f"at={next_saturday_3am():%Y-%m-%dT%H:%M:%SZ}")
    rid = rollout_id_from(job)
    scheduled = rollbot.wait_rollout(rid, lambda r: r.phase is Phase.SCHEDULED, what="scheduled")
    header = job.output()

    # Then it waits for its time with every tenant in one batch and two approvals
    # required, its header says why, and nothing was patched
    assert {t.batch for t in scheduled.targets} == {1} and len(scheduled.targets) == TENANTS
    assert scheduled.settings.approvals_required == 2
    assert "Version: major v1.2.3 → v2.0.0: all tenants in one batch, no pilots, " \
        "2 approvals, release window" in header
    assert sim.patches() == {}


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


def test_tenants_on_another_version_are_listed_in_the_plan(tmp_path: Path) -> None:
    # Given a fleet of its own where one tenant already runs the patch v1.2.4
    (tmp_path / "mixed").mkdir()
    with running_sim(tmp_path / "mixed", tenants=TENANTS) as sim:
        bot = Rollbot.in_folder(tmp_path, sim, versions=POLICY)
        ahead = sorted(tenant_namespaces(TENANTS))[0]
        done = bot.run("deploy", "isp", "v1.2.4", f"tenants={ahead}")
        assert done.returncode == 0, done.stderr

        # When v1.3.0 is planned
        shown = bot.run("plan", "isp", "v1.3.0")

    # Then the bump is from the highest version, and the others are listed by version
    assert shown.returncode == 0, shown.stderr
    assert "Version: minor v1.2.4 → v1.3.0" in shown.stdout
    assert f"{TENANTS - 1} tenants run another version than v1.2.4:" in shown.stdout
    assert f"• v1.2.3 ({TENANTS - 1}): " in shown.stdout
    assert "and 1 more" in shown.stdout  # ten names at most


def test_plan_lists_every_preflight_problem_deploy_would_refuse_with(
    rollbot: Rollbot, sim: Sim
) -> None:
    # Given a tenant where rollbot may not patch deployments
    denied = sorted(tenant_namespaces(TENANTS))[3]
    sim.control("POST", "access", {"namespace": denied, "verb": "patch",
                                   "resource": "deployments"})
    try:
        sim.reset_counters()

        # When the deploy is planned
        shown = rollbot.run("plan", "isp", "v1.3.0")
        writes = sim.writes()
        rollouts = rollbot.run("history")
    finally:
        sim.control("DELETE", "access")

    # Then the plan says a deploy would be refused, and why, and nothing was started
    assert shown.returncode == 0, shown.stderr
    assert "A deploy would be refused:" in shown.stdout
    assert f"• {denied}: rollbot may not patch deployments" in shown.stdout
    assert writes == 0
    assert "#1" not in rollouts.stdout
