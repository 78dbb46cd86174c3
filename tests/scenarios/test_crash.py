"""Crash safety in-process: the engine is thrown away mid-batch or at the gate (queued
work dropped, held patches never arriving, nothing more saved), a new engine on the same
journal resumes, and the fleet ends updated with no tenant skipped or patched twice.
The same against a real SIGKILL comes with the terminal face.
"""

from __future__ import annotations

from rollout.model import Phase, TargetStatus
from tests.fakes import PatchGate
from tests.scenarios.conftest import LIMIT, NEW_ISP, MakeWorld


def test_killed_mid_batch_then_resumed_patches_each_tenant_once(make_world: MakeWorld) -> None:
    # Given a fleet of 17 whose patches stop arriving after the pilots and 3 of batch 1
    world = make_world(tenants=17)
    gate = PatchGate(allow=5)
    world.gate_patches(gate)
    rollout = world.start()
    assert gate.reached.wait(LIMIT)

    # When the engine dies there and a new one resumes from the journal
    engine = world.restart(release=gate.release)
    stored = engine.wait(rollout.id, 0)
    assert stored.phase is Phase.BATCH and stored.current_batch == 1
    assert {t.status for t in stored.batch(1)} == {TargetStatus.UPDATING}
    assert [r.id for r in engine.resume_unfinished()] == [rollout.id]
    final = world.follow(rollout.id)

    # Then every tenant is updated, none skipped, none patched twice
    assert final.phase is Phase.COMPLETED, final.reason
    assert {t.status for t in final.targets} == {TargetStatus.UPDATED}
    assert {world.image(ns) for ns in world.tenants} == {NEW_ISP}
    assert {ns: world.patches(ns) for ns in world.tenants} == dict.fromkeys(world.tenants, 1)


def test_killed_at_the_gate_then_resumed_waits_for_the_approval(make_world: MakeWorld) -> None:
    world = make_world(tenants=8, approval=True)
    rollout = world.start()
    world.follow(rollout.id, until=lambda r: r.phase is Phase.AWAITING_APPROVAL)

    engine = world.restart()
    (resumed,) = engine.resume_unfinished()
    assert resumed.phase is Phase.AWAITING_APPROVAL and resumed.deadline is not None
    approver = world.approve_from_elsewhere(rollout.id)
    final = world.follow(rollout.id)
    approver.join(5)

    assert final.phase is Phase.COMPLETED
    assert {ns: world.patches(ns) for ns in world.tenants} == dict.fromkeys(world.tenants, 1)
    assert [a.user for a in final.approvals] == ["U0BOB"]


def test_the_latency_baseline_outlives_a_restart(make_world: MakeWorld) -> None:
    # Given a pilot updated and being watched, its latency before the change journalled
    world = make_world(tenants=3, pilot_count=1, pilot_monitor_seconds=8, latency_factor=2.0)
    rollout = world.start()
    watched = world.follow(rollout.id, until=lambda r: r.phase is Phase.MONITORING)
    (pilot,) = watched.batch(0)
    assert pilot.baseline_latency_ms is not None and pilot.baseline_latency_ms > 0

    # When the engine dies there, and the new version turns ten times slower
    engine = world.restart()
    world.sim.set_behaviour(pilot.namespace, "v1.3.0", "slow", latency_factor=10)
    engine.resume_unfinished()
    paused = world.follow(rollout.id, until=lambda r: r.phase is Phase.PAUSED)

    # Then the resumed engine still judges latency against the journalled baseline
    failed = paused.target(pilot.namespace)
    assert failed.status is TargetStatus.FAILED
    assert "over 2x the baseline" in failed.reason, failed.reason
