"""In Slack, the dry run and the plan in a rollout's thread estimate from the app's
measured rollouts, as `rollbot plan` does: the bot wires the engine's measure of each
app's pace into what it posts."""

from __future__ import annotations

from pathlib import Path

from rollout.model import Phase
from tests.e2e.slack_fixtures import ALICE, WAIT, C, config_text, running_bot


async def test_after_a_rollout_slack_estimates_from_it(tmp_path: Path) -> None:
    config = config_text(approval=False, pilot=1, batch=3)
    async with running_bot(tmp_path, tenants=4, config=config) as bot:
        # Given an app never rolled out by rollbot: its dry run assumes a time per batch
        await bot.command("isp v1.3.1 dry-run", user=ALICE)
        before = await bot.reply(ALICE, "Dry run")
        assert "no past rollouts, assuming 1m per batch" in before.text, before.text

        # When one rollout of it completes
        first = await bot.deploy("isp v1.3.1", user=ALICE)
        assert (await bot.wait(first)).phase is Phase.COMPLETED

        # Then the next dry run and the next rollout's plan say they measured it
        seen = len(bot.replies(ALICE))
        await bot.command("isp v1.3.2 dry-run", user=ALICE)
        after = await bot.reply(ALICE, "Dry run", after=seen)
        assert "from the last rollout)" in after.text, after.text
        second = await bot.deploy("isp v1.3.2", user=ALICE)
        plan = await bot.slack.wait_for_message_async(C, f"(#{second})", timeout=WAIT)
        assert "Plan for isp v1.3.2" in plan.text
        assert "from the last rollout)" in plan.text, plan.text
