"""The scripted release of SPEC section 8, step by step, through Slack.

1. Alice deploys the admin app blue-green, and removes the old side once it is live.
2. Alice rolls the ISP app out to every tenant, five at a time. After the pilots she
   tries to approve her own rollout (four-eyes refuses), Bob approves, the batches run,
   one tenant's new image crashes, the rollout pauses with the choices, and Alice picks
   Roll back all.
3. The stakeholders' channel, as they saw it.

Each step records what it saw in an `Outcome` for the checks at the end, or raises
StepFailed saying what happened instead of the expected outcome.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.demo.people import People, StepFailed, ended_badly
from bot.demo.printer import plain
from bot.demo.world import ALICE, BOB, NEW_VERSION, STAKEHOLDERS
from rollout.actions import Action
from rollout.model import Phase, Rollout, TargetStatus
from sim.slack.transcript import render_channel

STEPS = 3


@dataclass
class Outcome:
    """What the script saw happen, for the checks at the end."""

    admin: Rollout | None = None
    isp: Rollout | None = None
    doomed: str | None = None  # the tenant whose new image was made to crash
    refusal: str = ""  # what Alice was told when she tried to approve her own rollout


async def blue_green(people: People, outcome: Outcome) -> None:
    out, watch = people.out, people.world.watch
    out.heading(f"Step 1 of {STEPS} · admin {NEW_VERSION}, blue-green")
    out.line("A new side starts next to the live one; rollbot checks its health, switches")
    out.line("the Service to it, watches it for the monitor window, then offers to remove")
    out.line("the old side.")
    known = {r.id for r in watch.rollouts()}
    await people.type(ALICE, f"admin {NEW_VERSION}")
    rollout = await people.new_rollout("admin", known=known, user=ALICE)
    offer = await people.button(rollout.id, Action.REMOVE_OLD.button_id,
                                ends_ok=frozenset({Phase.COMPLETED}),
                                what="the Remove old deployment button")
    await people.click(ALICE, offer, action_id=Action.REMOVE_OLD.button_id,
                       label="Remove old deployment")

    def removed() -> Rollout | None:
        latest = watch.latest(rollout.id)
        bg = latest.blue_green if latest is not None else None
        return latest if bg is not None and bg.old_removed else None

    outcome.admin = await people.until(removed, what="the old admin side to be removed")
    await people.settle()


async def rolling(people: People, outcome: Outcome) -> None:
    out, world = people.out, people.world
    out.heading(f"Step 2 of {STEPS} · isp {NEW_VERSION} to every tenant, five at a time")
    out.line("Pilot tenants first, then an approval gate (four-eyes: the requester may not")
    out.line("approve), then batches of five with health checks after each.")
    known = {r.id for r in world.watch.rollouts()}
    await people.type(ALICE, f"isp {NEW_VERSION} batch=5")
    rollout = await people.new_rollout("isp", known=known, user=ALICE)
    gated = await people.phase(rollout.id, {Phase.AWAITING_APPROVAL},
                               what="the approval gate after the pilots")
    if gated.phase is not Phase.AWAITING_APPROVAL:
        raise ended_badly(gated, expected="to wait for approval after the pilots")
    outcome.doomed = await _doom_one_tenant(people, gated)
    await _approvals(people, outcome, rollout.id)
    paused = await people.phase(rollout.id, {Phase.PAUSED}, what="the batches to run")
    if paused.phase is not Phase.PAUSED:
        raise ended_badly(paused, expected=f"to pause when {outcome.doomed} failed")
    failed = [t.namespace for t in paused.targets if t.status is TargetStatus.FAILED]
    if failed != [outcome.doomed]:
        raise StepFailed(f"#{rollout.id} paused with {', '.join(failed) or 'no tenant'} failed; "
                         f"only {outcome.doomed} should have")
    choices = await people.button(rollout.id, Action.ROLLBACK.button_id,
                                  beside=Action.RETRY.button_id, what="the choices after a failure")
    await people.click(ALICE, choices, action_id=Action.ROLLBACK.button_id, label="Roll back all")
    ended = await people.phase(rollout.id, set(), what="the rollback to finish")
    if ended.phase is not Phase.ROLLED_BACK:
        raise ended_badly(ended, expected="to be rolled back")
    outcome.isp = ended
    await people.settle()


async def _doom_one_tenant(people: People, rollout: Rollout) -> str:
    """Make the new image crash in one tenant of the last batch, and say so."""
    last = rollout.batch(rollout.batch_count) or rollout.targets
    doomed = last[len(last) // 2].namespace
    await asyncio.to_thread(people.world.kube.set_behaviour, doomed, NEW_VERSION, "crash")
    batch = f"batch {rollout.batch_count}" if rollout.batch_count else "the rollout"
    people.out.note(f"behind the scenes: the simulated cluster will crash {NEW_VERSION} in "
                    f"{doomed} ({batch}); every other tenant stays healthy")
    return doomed


async def _approvals(people: People, outcome: Outcome, rollout_id: int) -> None:
    """Alice tries her own gate (refused), then Bob approves."""
    slack = people.world.slack
    gate = await people.button(rollout_id, Action.APPROVE.button_id, what="the approval request")
    seen = len(slack.ephemerals(ALICE))
    await people.click(ALICE, gate, action_id=Action.APPROVE.button_id, label="Approve",
                       why="on her own rollout")
    refusal = await people.ephemeral(ALICE, after=seen, what="rollbot's answer to Alice")
    outcome.refusal = refusal.text
    latest = people.world.watch.latest(rollout_id)
    if latest is None or latest.phase is not Phase.AWAITING_APPROVAL:
        raise StepFailed("Alice's own approval moved the rollout on; four-eyes should refuse it")
    await people.click(BOB, gate, action_id=Action.APPROVE.button_id, label="Approve")


async def stakeholders(people: People, *, step: str = f"Step 3 of {STEPS}") -> None:
    people.out.heading(f"{step} · what the stakeholders saw in #stakeholders")
    slack = people.world.slack
    shown = render_channel(slack.messages(STAKEHOLDERS, include_replies=True),
                           names=slack.workspace.user_names())
    people.out.wrapped([plain(line) for line in shown.splitlines()] or ["(nothing)"])
