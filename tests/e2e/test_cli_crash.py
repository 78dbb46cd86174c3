"""Crash safety of the terminal face: SIGKILL the deploy, then `rollbot resume`.

Given a foreground `rollbot deploy` killed with SIGKILL at a point read from the journal
and the simulator (at the approval gate, during the wait between batches, in the middle
of a batch whose patches went out), when `rollbot resume` runs in a new process, then the
rollout completes with every tenant on the new image and each patched exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rollout.model import Phase, Rollout, TargetStatus
from tests.e2e.cli_support import (
    APPROVER,
    ISP_IMAGE,
    Rollbot,
    Sim,
    assert_no_traceback,
    rollout_id_from,
    running_sim,
    wait_for,
)

NEW = "v1.4.0"
TENANTS = 10  # pilot=1 batch=3: one pilot, then batches of 3, 3, 3


def _at_gate(rollout: Rollout, sim: Sim) -> bool:
    return rollout.phase is Phase.AWAITING_APPROVAL


def _waiting(rollout: Rollout, sim: Sim) -> bool:
    return rollout.phase is Phase.WAITING and rollout.current_batch == 1


def _mid_batch(rollout: Rollout, sim: Sim) -> bool:
    """Batch 2's patches reached the cluster but its tenants have not all settled."""
    if rollout.phase is not Phase.BATCH or rollout.current_batch != 2:
        return False
    batch = rollout.batch(2)
    if not any(t.status is TargetStatus.UPDATING for t in batch):
        return False
    return any(sim.patches().get(t.namespace) for t in batch)


POINTS: dict[str, tuple[Callable[[Rollout, Sim], bool], list[str], float]] = {
    # point: (when to kill, deploy options, the sim's pod ready delay)
    "at-the-gate": (_at_gate, ["batch=3", "pilot=1"], 0.05),
    "during-a-wait": (_waiting, ["batch=3", "pilot=1", "wait=2s", "--auto-approve"], 0.05),
    "mid-batch": (_mid_batch, ["batch=3", "pilot=1", "--auto-approve"], 0.6),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_then_resume_completes_with_no_tenant_skipped_or_patched_twice(
    tmp_path: Path, point: str
) -> None:
    kill_when, options, ready_delay = POINTS[point]
    with running_sim(tmp_path, tenants=TENANTS, ready_delay=ready_delay) as sim:
        # One OS account answers the gate it started (four-eyes off), and --auto-approve
        # is what CI does (terminal_auto_approve).
        rollbot = Rollbot.in_folder(tmp_path, sim, four_eyes=False, terminal_auto_approve=True)
        try:
            # Given a deploy killed at the chosen point
            job = rollbot.spawn("deploy", "isp", NEW, *options)
            rid = rollout_id_from(job)
            rollbot.wait_rollout(rid, lambda r: kill_when(r, sim), what=point, timeout=40)
            if point == "at-the-gate":
                # While the deploy lives, nobody else may take the rollout over.
                second = rollbot.run("resume", str(rid))
                assert second.returncode == 1
                assert "driven by another rollbot process" in second.stderr
            job.kill()
            before = sim.patches()
            killed = rollbot.rollout(rid)
            assert killed is not None
            at_kill = {t.namespace: t.status.value for t in killed.targets}
            assert job.process.returncode == -9

            # When the gate is answered with nobody driving, and resume takes over
            if point == "at-the-gate":
                approved = rollbot.run("approve", str(rid), "--as", APPROVER)
                assert approved.returncode == 0, approved.stderr
            resumed = rollbot.run("resume", str(rid), timeout=60)

            # Then it completes: no tenant skipped, none patched twice
            assert resumed.returncode == 0, resumed.stdout + resumed.stderr
            assert f"#{rid}" in resumed.stdout
            assert_no_traceback(resumed.stdout, resumed.stderr)
            images = sim.tenant_images()
            assert len(images) == TENANTS
            assert set(images.values()) == {f"{ISP_IMAGE}:{NEW}"}
            assert sim.patches() == dict.fromkeys(images, 1), (before, at_kill)
            final = wait_for(lambda: rollbot.rollout(rid), timeout=5, what="the journal")
            assert final.phase is Phase.COMPLETED
            assert {t.status for t in final.targets} == {TargetStatus.UPDATED}
        finally:
            rollbot.stop_all()
