"""Where a rollout stands, as its Slack parent message and the terminal's progress line
both say it: the same phase words and the same bar, derived from the rollout's own state.

First a table over every phase a person sees (the renderers alone), then a rollout in the
Slack stand-in, whose first parent message is posted while preflight still runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.plain import plain
from bot.terminal.printer import progress_line
from handlers import render
from rollout.model import PILOT_BATCH, Phase, Rollout, Strategy, Target, TargetStatus
from sim.kube.harness import start_sim
from sim.slack import SlackHandle
from sim.slack.records import Message
from tests.builders import T0, make_rollout, planned_targets
from tests.e2e.slack_fixtures import ALICE, WAIT, C, config_text, running_bot

NAMES = [f"tenant-{i:02d}" for i in range(12)]
PILOTS = NAMES[:2]
BATCH_1, BATCH_2 = NAMES[2:7], NAMES[7:]


def fleet(phase: Phase, *, updated: Sequence[str] = (), **fields: object) -> Rollout:
    """Twelve tenants: two pilots, then batches of five; `updated` are on the new version."""
    plan = {**dict.fromkeys(PILOTS, PILOT_BATCH), **dict.fromkeys(BATCH_1, 1),
            **dict.fromkeys(BATCH_2, 2)}  # fmt: skip
    r = make_rollout(targets=planned_targets(plan), batch_count=2, phase=phase, **fields)
    return r.with_targets(
        t.with_status(TargetStatus.UPDATING, at=T0).with_status(TargetStatus.UPDATED, at=T0)
        for t in r.targets
        if t.namespace in updated
    )


def with_status(r: Rollout, names: list[str], status: TargetStatus) -> Rollout:
    return r.with_targets(replace(t, status=status) for t in r.targets if t.namespace in names)


@dataclass(frozen=True)
class Case:
    rollout: Rollout
    status: str  # the parent message's status line, and (lower case) the terminal's phase
    count: str | None  # the bar's count; None: no bar at all


NO_BAR = None
CASES = {
    "scheduled": Case(
        fleet(Phase.SCHEDULED, start_at=T0 + timedelta(hours=2)),
        "Scheduled for 2026-03-01 14:00 UTC", NO_BAR,
    ),
    "preflight": Case(fleet(Phase.PREFLIGHT), "Checking the fleet…", NO_BAR),
    "pilots rolling": Case(
        with_status(
            fleet(Phase.PILOT, updated=PILOTS[:1]), PILOTS[1:], TargetStatus.UPDATING
        ),
        "Rolling the pilots", "1/2 pilots",
    ),
    "pilots watched": Case(
        fleet(Phase.MONITORING, updated=PILOTS), "Monitoring the pilots", "2/12"
    ),
    "gate": Case(
        fleet(Phase.AWAITING_APPROVAL, updated=PILOTS), "Awaiting approval", "2/12"
    ),
    "batch": Case(
        fleet(Phase.BATCH, updated=PILOTS + BATCH_1[:3], current_batch=1),
        "Batch 1 of 2", "5/12",
    ),
    "wait": Case(
        fleet(Phase.WAITING, updated=PILOTS + BATCH_1, current_batch=1),
        "Waiting before batch 2 of 2", "7/12",
    ),
    "paused on a failure": Case(
        with_status(
            fleet(Phase.PAUSED, updated=NAMES[:-1], current_batch=2, paused_from=Phase.BATCH),
            NAMES[-1:], TargetStatus.FAILED,
        ),
        "Paused in batch 2 of 2", "11/12",
    ),
    "completed": Case(fleet(Phase.COMPLETED, updated=NAMES), "Completed", "12/12"),
    "rolled back": Case(
        with_status(fleet(Phase.ROLLED_BACK, updated=PILOTS), PILOTS, TargetStatus.ROLLED_BACK),
        "Rolled back", "0/12",
    ),
    "refused": Case(fleet(Phase.REFUSED), "Refused", NO_BAR),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_both_faces_show_the_phase_and_the_bar_the_state_calls_for(case: Case) -> None:
    # Given a rollout in some phase
    # When Slack's parent message and the terminal's progress line are drawn
    slack = plain(render.parent_message(case.rollout).text).splitlines()
    terminal = progress_line(case.rollout)

    # Then both say where it is
    assert slack[1].startswith(case.status), slack
    assert f" · {case.status[:1].lower()}{case.status[1:]}" in terminal, terminal
    # and both show the same bar, or none
    bars = [line for line in slack if "░" in line or "▓" in line]
    if case.count is None:
        assert bars == [], slack
        assert "░" not in terminal and "▓" not in terminal, terminal
    else:
        assert [line.split(" ", 1)[1] for line in bars] == [case.count], slack
        assert f" {case.count} · " in terminal, terminal


def test_a_blue_green_rollout_in_preflight_checks_the_cluster() -> None:
    side = (Target("platform-admin", PILOT_BATCH),)
    r = replace(make_rollout(phase=Phase.PREFLIGHT), strategy=Strategy.BLUE_GREEN, targets=side)
    assert "Checking the cluster…" in render.parent_message(r).text


# --- in Slack ---------------------------------------------------------------------------------

READY = 0.8  # seconds new pods take: long enough for a post while the pilots roll
HELD = 2.0  # seconds the first access review of preflight is held by the cluster


async def test_the_first_parent_message_says_the_fleet_is_being_checked(tmp_path: Path) -> None:
    # Given a cluster that answers preflight's first access review slowly
    sim = await asyncio.to_thread(start_sim, tenants=12, ready_delay=READY)
    config = config_text(approval=False, pilot=2, batch=5)
    try:
        async with running_bot(tmp_path, tenants=12, config=config, sim=sim) as bot:
            await asyncio.to_thread(
                sim.add_fault, method="POST", path=".*selfsubjectaccessreviews.*",
                action="latency", latency=HELD, times=1,
            )  # fmt: skip

            # When Alice deploys and the rollout runs to the end
            rollout_id = await bot.deploy("isp v1.3.1", user=ALICE)
            done = await bot.wait(rollout_id)
            assert done.phase is Phase.COMPLETED
            parent = await bot.slack.wait_for_message_async(
                C, f"rollout #{rollout_id}", timeout=WAIT
            )
            parent = await _settled(bot.slack, parent)
            assert parent.thread_ts is None
            thread = bot.slack.thread(C, parent.ts)
    finally:
        await asyncio.to_thread(sim.stop)

    # Then its first version, posted before the plan, says the fleet is being checked,
    # with no bar
    versions = [plain(v.text) for v in parent.versions]
    first = versions[0].splitlines()
    assert first[1] == "Checking the fleet…", versions[0]
    assert not any("░" in line or "▓" in line for line in first), versions[0]
    plan = next(m for m in thread if "Plan for isp v1.3.1" in m.text)
    assert parent.versions[0].at <= plan.versions[0].at
    # and while the pilots rolled it counted only them; at the end, every tenant
    rolling = [v for v in versions if "Rolling the pilots" in v]
    assert rolling and all("/2 pilots" in v for v in rolling), versions
    assert "12/12" in versions[-1] and "Completed" in versions[-1], versions[-1]


async def _settled(slack: SlackHandle, parent: Message) -> Message:
    """The parent message once its last edit (the completed rollout) has arrived."""

    def completed() -> Message | None:
        now = slack.message(parent.channel, parent.ts)
        return now if now is not None and "Completed" in now.text else None

    found = await slack.wait_for_async(completed, WAIT)
    assert found is not None
    return found
