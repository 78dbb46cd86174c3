"""Rolling releases against the simulated cluster: the whole fleet, a failing tenant, the
automatic and the manual roll back. Real HTTP, real journal, real timers.
"""

from __future__ import annotations

from rollout.model import EventKind, InboxItem, Phase, Rollout, TargetStatus
from tests.scenarios.conftest import NEW_ISP, OLD_ISP, MakeWorld


def batches_in_order(rollout: Rollout) -> bool:
    """Every batch began after the one before it had finished."""
    previous_end = None
    for index in range(rollout.batch_count + 1):
        batch = rollout.batch(index)
        if not batch:
            continue
        starts = [t.started_at for t in batch if t.started_at is not None]
        ends = [t.finished_at for t in batch if t.finished_at is not None]
        if previous_end is not None and min(starts) < previous_end:
            return False
        previous_end = max(ends)
    return True


def test_thirty_tenants_pilots_first_then_batches_each_patched_once(make_world: MakeWorld) -> None:
    # Given 30 tenants, batches of 5 after 2 pilots, a gate, and 1s between batches
    world = make_world(tenants=30, approval=True, wait_seconds=1)
    # When the rollout runs and an approver answers through the journal's inbox
    rollout = world.start()
    approver = world.approve_from_elsewhere(rollout.id)
    final = world.follow(rollout.id)
    approver.join(5)
    # Then every tenant is on the new image, each patched exactly once, in plan order
    assert final.phase is Phase.COMPLETED, final.reason
    assert [t.namespace for t in final.batch(0)] == world.tenants[:2]
    assert final.batch_count == 6
    assert {world.image(ns) for ns in world.tenants} == {NEW_ISP}
    assert {ns: world.patches(ns) for ns in world.tenants} == dict.fromkeys(world.tenants, 1)
    assert batches_in_order(final)
    assert all(t.previous_image == OLD_ISP for t in final.targets)
    assert [a.user for a in final.approvals] == ["U0BOB"]
    kinds = world.listener.kinds(rollout.id)
    assert kinds.count(EventKind.BATCH_DONE) == 7
    assert kinds.index(EventKind.AWAITING_APPROVAL) < kinds.index(EventKind.APPROVED)


def test_a_failing_tenant_pauses_after_its_batch_with_the_reason(make_world: MakeWorld) -> None:
    # Given tenant #8 (batch 2) answers 500 on /api/health once it runs the new version
    world = make_world(tenants=14)
    sick = world.tenants[7]
    world.sim.set_behaviour(sick, "v1.3.0", "unhealthy")
    # When the rollout runs
    rollout = world.follow(world.start().id, until=lambda r: r.phase is Phase.PAUSED)
    # Then it pauses after batch 2, the reason recorded, batch 3 untouched
    assert rollout.paused_from is Phase.BATCH and rollout.current_batch == 2
    failed = rollout.target(sick)
    assert failed.status is TargetStatus.FAILED
    assert "/api/health answered 500" in failed.reason
    assert sick in rollout.reason
    assert all(world.image(t.namespace) == OLD_ISP for t in rollout.batch(3))
    (told,) = world.listener.of(EventKind.FAILED)
    assert told.problems == (f"{sick}: {failed.reason}",)

    # When someone chooses Roll back all
    world.engine.submit(InboxItem(rollout.id, "rollback", "U0BOB", told.at))
    final = world.follow(rollout.id)
    # Then every changed tenant is back on its previous image
    assert final.phase is Phase.ROLLED_BACK
    assert {world.image(ns) for ns in world.tenants} == {OLD_ISP}


def test_auto_rollback_returns_every_changed_tenant(make_world: MakeWorld) -> None:
    world = make_world(tenants=12, auto_rollback=True)
    world.sim.set_behaviour(world.tenants[4], "v1.3.0", "unhealthy")
    final = world.follow(world.start().id)
    assert final.phase is Phase.ROLLED_BACK
    assert "rolled back automatically" in final.reason
    assert {world.image(ns) for ns in world.tenants} == {OLD_ISP}
    changed = [t for t in final.targets if t.status is TargetStatus.ROLLED_BACK]
    assert {t.namespace for t in changed} == set(world.tenants[:7])  # pilots and batch 1
    assert all(t.status is TargetStatus.PENDING for t in final.targets if t.batch > 1)


def test_rollback_of_a_completed_rollout_restores_every_previous_image(
    make_world: MakeWorld,
) -> None:
    world = make_world(tenants=10)
    done = world.follow(world.start().id)
    assert done.phase is Phase.COMPLETED
    rolled = world.engine.rollback(InboxItem(done.id, "rollback", "U0BOB", done.created_at))
    assert rolled.phase is Phase.ROLLING_BACK
    final = world.follow(done.id)
    assert final.phase is Phase.ROLLED_BACK
    assert {world.image(ns) for ns in world.tenants} == {OLD_ISP}
    assert {world.patches(ns) for ns in world.tenants} == {2}  # there and back


def test_a_large_fleet_is_read_in_one_listing_and_one_access_review(
    make_world: MakeWorld,
) -> None:
    # Given sixty tenants, which rollbot may list and patch in every namespace
    world = make_world(tenants=60, batch_size=30)
    world.sim.reset_counters()

    # When they are rolled out
    final = world.follow(world.start().id)

    # Then the preflight asked twice (list and patch, everywhere) and listed every
    # deployment in one page, and no tenant's deployment was read on its own
    assert final.phase is Phase.COMPLETED
    counters = world.sim.counters()
    assert counters["resources"]["selfsubjectaccessreviews"] == {"create": 2}
    assert counters["routes"]["/apis/apps/v1/deployments"] == {"list": 1}
    single_reads = sum(
        verbs.get("get", 0)
        for path, verbs in counters["paths"].items()
        if path.startswith("/apis/apps/v1/namespaces/") and path.endswith("/isp-ops-app")
    )
    assert single_reads == 0


def test_without_a_cluster_wide_grant_each_tenant_is_read_and_asked_about(
    make_world: MakeWorld,
) -> None:
    # Given one tenant where rollbot may not list deployments
    world = make_world(tenants=60, batch_size=30)
    world.sim.deny_access(namespace=world.tenants[0], verb="list", resource="deployments")
    world.sim.reset_counters()

    # When they are rolled out
    final = world.follow(world.start().id)

    # Then every tenant's deployment was read on its own, and the rollout still completed
    assert final.phase is Phase.COMPLETED
    counters = world.sim.counters()
    assert "/apis/apps/v1/deployments" not in counters["routes"]
    assert {world.image(ns) for ns in world.tenants} == {NEW_ISP}
