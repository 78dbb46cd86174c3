"""The guide's versioning strategy through Slack (SPEC 12): the Bolt app, the Slack
stand-in and the simulated fleet on v1.2.3, with the example's `versions:` policy and a
weekend release window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from rollout.model import Phase
from sim.kube.seed import tenant_namespaces
from tests.e2e.slack_fixtures import ALICE, WAIT, C, config_text, running_bot

POLICY = {
    "patch": {"pilot": 1, "approval": False},
    "minor": {"pilot": 2, "approval": True},
    "major": {"pilot": 0, "batch": "100%", "approvals_required": 2, "window": "required"},
}
TENANTS = 6


def policy_config() -> str:
    data = yaml.safe_load(config_text())
    data["apps"]["isp"]["versions"] = POLICY
    data["release"] = {"windows": [{"days": ["sat", "sun"], "from": "02:00", "to": "05:00"}]}
    return yaml.safe_dump(data)


def next_saturday_3am() -> str:
    now = datetime.now(UTC)
    days = (5 - now.weekday()) % 7 or 7
    at = (now + timedelta(days=days)).replace(hour=3, minute=0, second=0, microsecond=0)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def patches(counters: dict[str, object]) -> int:
    verbs = counters["verbs"]
    assert isinstance(verbs, dict)
    return int(verbs.get("patch", 0))


async def test_dry_runs_show_the_bump_and_what_its_rule_changed(tmp_path: Path) -> None:
    async with running_bot(tmp_path, tenants=TENANTS, config=policy_config()) as bot:
        # When Alice asks for the plans of a patch and of a minor
        await bot.command("isp v1.2.4 dry-run", user=ALICE)
        patch = await bot.reply(ALICE, "Plan for isp v1.2.4")
        await bot.command("isp v1.3.0 dry-run", user=ALICE)
        minor = await bot.reply(ALICE, "Plan for isp v1.3.0")

    # Then the patch has one pilot and no gate, the minor its pilots and the gate
    assert "patch v1.2.3 → v1.2.4: 1 pilot, no approval" in patch.text
    assert "*Pilots* (1)" in patch.text and "Approval gate" not in patch.text
    assert "minor v1.2.3 → v1.3.0" in minor.text
    assert "*Pilots* (2)" in minor.text and "Approval gate" in minor.text


async def test_a_major_needs_a_window_then_runs_as_one_batch_with_two_approvals(
    tmp_path: Path,
) -> None:
    async with running_bot(tmp_path, tenants=TENANTS, config=policy_config()) as bot:
        # When Alice deploys v2.0.0 without at=
        await bot.command("isp v2.0.0", user=ALICE)
        refused = await bot.reply(ALICE, "was not started")
        # and then at a time inside the weekend window
        rid = await bot.deploy(f"isp v2.0.0 at={next_saturday_3am()}", user=ALICE)
        scheduled = await bot.rollout(rid)
        parent = await bot.slack.wait_for_async(
            lambda: next((m for m in bot.slack.messages(C) if f"rollout #{rid}" in m.text
                          and "Version:" in m.text), None), WAIT)

    # Then the first is refused naming the next window, and the second is scheduled with
    # every tenant in one batch and two approvals, as the parent message says
    assert "must be scheduled inside a release window with at=" in refused.text
    assert "the next window opens Sat " in refused.text
    assert scheduled.phase is Phase.SCHEDULED
    assert {t.batch for t in scheduled.targets} == {1} and len(scheduled.targets) == TENANTS
    assert scheduled.settings.approvals_required == 2
    assert parent is not None
    assert "major v1.2.3 → v2.0.0: all tenants in one batch, no pilots, 2 approvals, " \
        "release window" in parent.text


async def test_a_downgrade_is_refused_with_the_rollback_command_and_patches_nothing(
    tmp_path: Path,
) -> None:
    async with running_bot(tmp_path, tenants=TENANTS, config=policy_config()) as bot:
        await asyncio.to_thread(bot.sim.reset_counters)

        # When Alice deploys a version lower than the one running
        await bot.command("isp v1.2.2", user=ALICE)
        refused = await bot.reply(ALICE, "was not started")
        counters = await asyncio.to_thread(bot.sim.counters)
        rollouts = await asyncio.to_thread(bot.runtime.store.list_rollouts, limit=5)

    # Then it is refused pointing at /rollback, no rollout exists and nothing was patched
    assert "v1.2.2 is lower than v1.2.3" in refused.text
    assert "/rollback isp to=v1.2.2" in refused.text
    assert rollouts == []
    assert patches(counters) == 0


async def test_a_dry_run_lists_the_preflight_problems_and_starts_nothing(
    tmp_path: Path,
) -> None:
    # Given a tenant where rollbot may not patch deployments
    async with running_bot(tmp_path, tenants=TENANTS, config=policy_config()) as bot:
        denied = sorted(tenant_namespaces(TENANTS))[2]
        await asyncio.to_thread(bot.sim.deny_access, namespace=denied, verb="patch",
                                resource="deployments")

        # When Alice asks for a dry run
        await bot.command("isp v1.3.0 dry-run", user=ALICE)
        plan = await bot.reply(ALICE, "Plan for isp v1.3.0")
        rollouts = await asyncio.to_thread(bot.runtime.store.list_rollouts, limit=5)

    # Then it shows why a deploy would be refused, and no rollout exists
    assert "A deploy would be refused" in plan.text
    assert f"{denied}: rollbot may not patch deployments" in plan.text
    assert rollouts == []
