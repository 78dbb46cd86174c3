"""Blue-green releases of the admin app against the simulated cluster (SPEC section 3)."""

from __future__ import annotations

import pytest

from bot.kube import KubeCluster
from rollout.errors import InvalidTransition
from rollout.model import EventKind, InboxItem, Phase, TargetStatus
from sim.kube.seed import REGISTRY
from tests.fakes import PatchGate
from tests.scenarios.conftest import LIMIT, QUICK, MakeWorld

NS = "platform-admin"
SERVICE = "platform-admin-app"


def test_blue_green_success_switches_traffic_and_removes_the_old_side(
    make_world: MakeWorld,
) -> None:
    world = make_world(tenants=0)
    # When admin v1.3.0 is deployed (monitor 1s, old side removed 1s after success)
    rollout = world.start(app="admin")
    final = world.follow(
        rollout.id, until=lambda r: bool(r.blue_green and r.blue_green.old_removed)
    )
    world.engine.join(10)
    # Then the new side serves, the old Deployment and ConfigMap are gone
    assert final.phase is Phase.COMPLETED
    service = world.sim.get("services", NS, SERVICE)
    assert service is not None and service["spec"]["selector"]["version"] == "v1.3.0"
    new = world.sim.get("deployments", NS, "platform-admin-app-v1-3-0")
    assert new is not None
    assert new["metadata"]["labels"] == {"app": "platform-admin-app", "version": "v1.3.0"}
    image = new["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{REGISTRY}/platform-admin-app:v1.3.0"
    assert world.sim.get("configmaps", NS, "platform-admin-config-v1.3.0") is not None
    assert world.sim.get("deployments", NS, "platform-admin-app") is None
    assert world.sim.get("configmaps", NS, "platform-admin-config-v1.2.3") is None
    kinds = world.listener.kinds(rollout.id)
    assert kinds.index(EventKind.SWITCHED) < kinds.index(EventKind.COMPLETED)
    assert kinds[-1] is EventKind.OLD_REMOVED

    # And a roll back is refused now that the old side is gone, saying why
    with pytest.raises(InvalidTransition, match="was removed"):
        world.engine.submit(InboxItem(rollout.id, "rollback", "U0BOB", final.created_at))


def test_a_failing_new_side_is_deleted_and_traffic_stays_on_the_old(
    make_world: MakeWorld,
) -> None:
    world = make_world(tenants=0)
    world.sim.set_behaviour(NS, "v1.3.0", "unhealthy")
    final = world.follow(world.start(app="admin").id)
    assert final.phase is Phase.ROLLED_BACK
    assert "/api/health answered 500" in final.reason
    service = world.sim.get("services", NS, SERVICE)
    assert service is not None and service["spec"]["selector"]["version"] == "v1.2.3"
    assert world.sim.get("deployments", NS, "platform-admin-app-v1-3-0") is None
    assert world.sim.get("configmaps", NS, "platform-admin-config-v1.3.0") is None
    assert world.sim.get("deployments", NS, "platform-admin-app") is not None
    assert final.target(NS).status is TargetStatus.ROLLED_BACK


def test_roll_back_after_the_switch_puts_traffic_back(make_world: MakeWorld) -> None:
    world = make_world(tenants=0, admin={"monitor_seconds": 60})
    rollout = world.start(app="admin")
    world.follow(rollout.id, until=lambda r: r.phase is Phase.MONITORING)
    world.engine.submit(InboxItem(rollout.id, "rollback", "U0BOB", rollout.created_at))
    final = world.follow(rollout.id)
    assert final.phase is Phase.ROLLED_BACK
    service = world.sim.get("services", NS, SERVICE)
    assert service is not None and service["spec"]["selector"]["version"] == "v1.2.3"
    assert world.sim.get("deployments", NS, "platform-admin-app-v1-3-0") is None


class HeldDeletes(KubeCluster):
    """The real adapter, with every `delete_side` passing through a PatchGate first."""

    gate: PatchGate

    def delete_side(self, namespace: str, *, deployment: str, config_map: str | None) -> None:
        self.gate(namespace)
        super().delete_side(namespace, deployment=deployment, config_map=config_map)


def test_killed_after_deciding_to_remove_the_old_side_then_resumed_removes_it(
    make_world: MakeWorld,
) -> None:
    # Given a completed blue-green rollout whose old side's delete never reaches the cluster
    world = make_world(tenants=0, admin={"remove_old_after_seconds": 0})
    held = HeldDeletes.from_kubeconfig(str(world.sim.kubeconfig), policy=QUICK)
    assert isinstance(held, HeldDeletes)
    world.closers.append(held.close)
    held.gate = PatchGate(allow=0)
    world.restart(cluster=held)
    rollout = world.start(app="admin")
    assert held.gate.reached.wait(LIMIT)

    # When the engine dies there (the removal journalled, unconfirmed) and a new one resumes
    engine = world.restart(release=held.gate.release)
    stored = engine.wait(rollout.id, 0)
    assert stored.phase is Phase.COMPLETED and stored.old_side_removal_unconfirmed
    assert world.sim.get("deployments", NS, "platform-admin-app") is not None
    assert [r.id for r in engine.resume_unfinished()] == []  # finished: nothing to report
    final = world.follow(rollout.id, until=lambda r: bool(r.blue_green and r.blue_green.old_gone))

    # Then the old side is deleted once and the removal is confirmed in the journal
    assert final.blue_green is not None and final.blue_green.old_gone
    assert world.sim.get("deployments", NS, "platform-admin-app") is None
    assert world.sim.get("configmaps", NS, "platform-admin-config-v1.2.3") is None
    assert world.listener.kinds(rollout.id)[-1] is EventKind.OLD_REMOVED
