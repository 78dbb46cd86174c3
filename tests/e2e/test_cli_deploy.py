"""`rollbot deploy` in the foreground, with the gate decided from another terminal.

Given a simulated cluster in its own process and a journal file shared by every `rollbot`
process, when an operator deploys and an approver answers from a second process, then
the cluster ends in the state the plan promised and the exit code says how it ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.model import Phase, TargetStatus
from tests.e2e.cli_support import (
    APPROVER,
    DEPLOYER,
    ISP_IMAGE,
    OLD_VERSION,
    Rollbot,
    Sim,
    assert_no_traceback,
    planned_order,
    rollout_id_from,
    running_sim,
    started_in_batch_order,
    write_config,
)

NEW = "v1.3.0"


@pytest.fixture
def sim30(tmp_path: Path) -> Iterator[Sim]:
    with running_sim(tmp_path, tenants=30) as sim:
        yield sim


@pytest.fixture
def rollbot(tmp_path: Path, sim30: Sim) -> Iterator[Rollbot]:
    bot = Rollbot.in_folder(tmp_path, sim30)
    yield bot
    bot.stop_all()


def parse_plan(text: str) -> list[list[str]]:
    """Pilots, then every batch, from `rollbot plan` output."""
    groups: list[list[str]] = []
    for line in text.splitlines():
        head, _, names = line.partition(":")
        if names and head.lstrip().startswith(("Pilots", "Batch ")):
            groups.append([n.strip() for n in names.split(",") if n.strip()])
    return groups


def test_approved_from_a_second_process_updates_every_tenant_once_in_plan_order(
    rollbot: Rollbot, sim30: Sim
) -> None:
    # Every process here runs as one OS account, which four-eyes would take for the
    # requester at the gate (tests/e2e/test_cli_trust.py); this test is about the flow.
    write_config(rollbot.config, four_eyes=False)

    # Given the plan the operator was shown
    shown = rollbot.run("plan", "isp", NEW, "batch=5", "pilot=2")
    assert shown.returncode == 0, shown.stderr
    planned = parse_plan(shown.stdout)
    assert [len(g) for g in planned] == [2, 5, 5, 5, 5, 5, 3]
    sim30.reset_counters()

    # When the deploy reaches its gate and an approver answers from another process
    job = rollbot.spawn("deploy", "isp", NEW, "batch=5", "pilot=2")
    rid = rollout_id_from(job)
    assert job.output().lstrip().startswith(f"Rollout #{rid}")
    rollbot.wait_rollout(rid, lambda r: r.phase is Phase.AWAITING_APPROVAL, what="at its gate")
    assert set(sim30.patches()) == set(planned[0]), "only the pilots change before the gate"

    approved = rollbot.run("approve", str(rid), "--as", APPROVER)
    assert approved.returncode == 0, approved.stderr

    # Then the rollout completes: every tenant on the new image, patched exactly once
    assert job.finish() == 0, job.output() + job.errors()
    images = sim30.tenant_images()
    assert len(images) == 30
    assert set(images.values()) == {f"{ISP_IMAGE}:{NEW}"}
    assert sim30.patches() == dict.fromkeys(images, 1)
    reviews = sim30.counters()["resources"]["selfsubjectaccessreviews"]
    assert reviews == {"create": 1}, "one access review answers for all 30 namespaces"
    final = rollbot.rollout(rid)
    assert final is not None and final.phase is Phase.COMPLETED
    assert planned_order(final) == planned, "the journal follows the plan, pilots first"
    assert started_in_batch_order(final)
    assert all(t.previous_image == f"{ISP_IMAGE}:{OLD_VERSION}" for t in final.targets)
    assert any(a.user == APPROVER and a.decision == "approve" for a in final.approvals)
    assert_no_traceback(job.output(), job.errors())

    # And status and history read as text a person can follow
    status = rollbot.run("status", str(rid))
    assert status.returncode == 0
    assert f"#{rid}" in status.stdout and NEW in status.stdout
    assert "completed" in status.stdout.lower()
    history = rollbot.run("history", "isp")
    assert history.returncode == 0
    assert f"#{rid}" in history.stdout and "completed" in history.stdout
    nothing_active = rollbot.run("status")
    assert nothing_active.returncode == 0 and "No active rollouts" in nothing_active.stdout


def test_reject_at_the_gate_rolls_the_pilots_back_and_exits_non_zero(
    rollbot: Rollbot, sim30: Sim
) -> None:
    job = rollbot.spawn("deploy", "isp", NEW, "batch=10", "pilot=2")
    rid = rollout_id_from(job)
    at_gate = rollbot.wait_rollout(
        rid, lambda r: r.phase is Phase.AWAITING_APPROVAL, what="at its gate"
    )
    pilots = [t.namespace for t in at_gate.batch(0)]

    # The requester may not approve their own rollout (four-eyes), and is told why
    own = rollbot.run("approve", str(rid), "--as", DEPLOYER)
    assert own.returncode != 0
    assert "four-eyes" in own.stderr
    assert_no_traceback(own.stdout, own.stderr)

    rejected = rollbot.run("reject", str(rid), "--as", APPROVER)
    assert rejected.returncode == 0, rejected.stderr

    code = job.finish()
    assert code != 0
    final = rollbot.rollout(rid)
    assert final is not None and final.phase is Phase.ROLLED_BACK
    assert {t.status for t in final.batch(0)} == {TargetStatus.ROLLED_BACK}
    images = sim30.tenant_images()
    assert set(images.values()) == {f"{ISP_IMAGE}:{OLD_VERSION}"}
    patched = sim30.patches()
    assert set(patched) == set(pilots), "tenants past the gate were never touched"
    assert all(n == 2 for n in patched.values()), "one update and one rollback per pilot"
    assert "reject" in job.output().lower()
    assert_no_traceback(job.output(), job.errors())
