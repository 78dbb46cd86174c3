"""`strategy: helm` end to end in the engine: real `helm` against the simulated cluster.

Each test starts from the session's fleet, installed by real `helm install` of the guide's
isp-ops-tenant chart (tests/helm_fleet.py), and reads the outcome back from Helm itself:
`helm status`, `helm history`, the values of each revision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.clock import SystemClock
from bot.helm import HelmCli
from rollout.model import AppSpec, InboxItem, Phase, Rollout, Strategy, TargetStatus
from sim.kube.harness import SimHandle
from sim.kube.seed import REGISTRY
from tests.fakes import PatchGate
from tests.helm_fleet import CHART, INSTALLED, Fleet, mark, mark_pending
from tests.scenarios.conftest import ADMIN, ISP, LIMIT, World

NEW = "v1.3.1"
HELM_SETTINGS = replace(ISP.settings, batch_size=5, pilot_count=2, pilot_monitor_seconds=1)
ISP_HELM = AppSpec(
    name="isp-helm", strategy=Strategy.HELM, image="", deployment="isp-ops-app", container="",
    settings=HELM_SETTINGS, chart=str(CHART),
)


class HeldUpgrades(HelmCli):
    """The real adapter, each `upgrade` passing through `gate(namespace)` first: the last
    moment before helm is run."""

    gate: Callable[[str], None] = staticmethod(lambda namespace: None)

    def upgrade(self, namespace: str, release: str, **kwargs: Any) -> int:
        self.gate(namespace)
        return super().upgrade(namespace, release, **kwargs)


class HelmWorld(World):
    helm_cli: HelmCli

    def revisions(self, namespace: str) -> list[tuple[int, str]]:
        """(revision, description) of every revision of the tenant's release."""
        history = self.helm_cli.history(namespace, ISP_HELM.release(namespace))
        return [(r.revision, r.description) for r in history]

    def tag(self, namespace: str) -> str | None:
        return self.helm_cli.status(namespace, ISP_HELM.release(namespace)).value("image.tag")

    def deploy(self, version: str = NEW, **options: Any) -> Rollout:
        return self.start(app="isp-helm", version=version, **options)


MakeHelmWorld = Callable[..., HelmWorld]


@pytest.fixture
def make_helm_world(helm_fleet: Fleet, tmp_path: Path) -> Iterator[MakeHelmWorld]:
    made: list[tuple[HelmWorld, SimHandle]] = []

    def make(*, helm: type[HelmCli] = HelmCli, **settings: Any) -> HelmWorld:
        sim = helm_fleet.start()
        cli = helm(binary=helm_fleet.helm, kubeconfig=str(sim.kubeconfig), timeout=30)
        world = HelmWorld(
            sim=sim, db=tmp_path / f"rollbot-{len(made)}.db", isp=ISP.settings,
            admin=ADMIN.settings,
            more_apps={"isp-helm": replace(ISP_HELM, settings=replace(HELM_SETTINGS, **settings))},
            helm={"isp-helm": cli},
        )
        world.helm_cli = cli
        made.append((world, sim))
        return world

    yield make
    for world, sim in made:
        world.close()
        sim.stop()


def test_a_helm_fleet_moves_release_by_release_with_pilots_and_approval(
    make_helm_world: MakeHelmWorld,
) -> None:
    # Given 12 of the tenants installed by helm, and an approval gate after 2 pilots
    # (tests/e2e/test_cli_helm.py moves all 20 from the terminal)
    world = make_helm_world(approval=True)
    chosen = world.tenants[:12]

    # When isp-helm v1.3.1 is deployed to them in batches of 5 and someone else approves
    rollout = world.deploy(tenants=chosen)
    approver = world.approve_from_elsewhere(rollout.id)
    final = world.follow(rollout.id)
    approver.join(5)

    # Then every release has exactly one new revision, with image.tag v1.3.1 given to it
    assert final.phase is Phase.COMPLETED, final.reason
    assert [a.user for a in final.approvals] == ["U0BOB"]
    for ns in chosen:
        assert world.revisions(ns) == [(1, "Install complete"), (2, f"rollbot #{rollout.id}: "
                                                                   f"image.tag={NEW}")]
        assert world.tag(ns) == NEW
        assert world.image(ns) == f"{REGISTRY}/isp-ops-app:{NEW}"
    # and the journal keeps each tenant's revision before and after, every one healthy
    assert {(t.status, t.previous_revision, t.revision) for t in final.targets} == {
        (TargetStatus.UPDATED, 1, 2)}
    assert [len(final.batch(b)) for b in range(final.batch_count + 1)] == [2, 5, 5]
    # and the tenants left out were not touched
    assert all(world.revisions(ns) == [(1, "Install complete")] for ns in world.tenants[12:])


def test_a_failing_tenant_then_roll_back_all_returns_each_changed_release(
    make_helm_world: MakeHelmWorld,
) -> None:
    # Given a fleet where one tenant of batch 1 fails its health checks on the new version
    world = make_helm_world(pilot_count=1)
    bad = world.tenants[2]  # the pilot is the first by name, batch 1 the next five
    world.sim.set_behaviour(bad, NEW, "unhealthy")

    # When the rollout pauses on it and a person rolls back all
    rollout = world.deploy()
    paused = world.follow(rollout.id, until=lambda r: r.phase is Phase.PAUSED)
    assert paused.target(bad).status is TargetStatus.FAILED
    world.engine.submit(world_request(rollout.id, "rollback"))
    final = world.follow(rollout.id)

    # Then every changed release went back to revision 1 with `helm rollback`
    assert final.phase is Phase.ROLLED_BACK, final.reason
    changed = [t.namespace for t in final.targets if t.status is TargetStatus.ROLLED_BACK]
    assert bad in changed and len(changed) == 6  # the pilot and batch 1
    for ns in changed:
        assert world.revisions(ns)[-1] == (3, "Rollback to 1")
        assert world.image(ns) == f"{REGISTRY}/isp-ops-app:{INSTALLED}"
        assert final.target(ns).revision == 3
    # and the tenants never reached keep their one revision
    untouched = [t.namespace for t in final.targets if t.status is TargetStatus.PENDING]
    assert len(untouched) == 14
    assert all(world.revisions(ns) == [(1, "Install complete")] for ns in untouched)


def test_preflight_refuses_a_missing_or_pending_release_naming_it(
    make_helm_world: MakeHelmWorld,
) -> None:
    # Given one tenant whose release was uninstalled and one left pending-upgrade
    world = make_helm_world()
    world.helm_cli.run(["uninstall", "skyline-net-isp"], namespace="tenant-skyline-net")
    mark_pending(world.sim, "tenant-summit-isp", "summit-isp-isp")

    # When a rollout starts
    rollout = world.deploy()
    final = world.follow(rollout.id)

    # Then preflight refuses it, naming both, and no release changed
    assert final.phase is Phase.FAILED
    assert "tenant-skyline-net: there is no Helm release skyline-net-isp" in final.reason
    assert "tenant-summit-isp: Helm release summit-isp-isp is pending-upgrade" in final.reason
    others = [ns for ns in world.tenants if ns not in ("tenant-skyline-net", "tenant-summit-isp")]
    assert all(world.revisions(ns) == [(1, "Install complete")] for ns in others)


def test_killed_mid_batch_then_resumed_upgrades_each_release_once(
    make_helm_world: MakeHelmWorld,
) -> None:
    # Given upgrades that stop reaching helm after the 2 pilots and 3 of batch 1
    world = make_helm_world(helm=HeldUpgrades)
    gate = PatchGate(allow=5)
    held = HeldUpgrades(binary=world.helm_cli.binary, kubeconfig=world.helm_cli.kubeconfig)
    held.gate = gate  # type: ignore[method-assign]
    world.helm["isp-helm"] = held
    world.restart()
    chosen = world.tenants[:10]  # pilots, a batch of 5, a batch of 3
    rollout = world.deploy(tenants=chosen)
    assert gate.reached.wait(LIMIT)

    # When the engine dies there and a new one (helm no longer held) resumes
    world.helm["isp-helm"] = world.helm_cli
    engine = world.restart(release=gate.release)
    stored = engine.wait(rollout.id, 0)
    assert stored.phase is Phase.BATCH and {t.status for t in stored.batch(1)} == {
        TargetStatus.UPDATING}
    engine.resume_unfinished()
    final = world.follow(rollout.id)

    # Then every release was upgraded exactly once: no tenant skipped, none twice
    assert final.phase is Phase.COMPLETED, final.reason
    assert {len(world.revisions(ns)) for ns in chosen} == {2}
    assert {world.tag(ns) for ns in chosen} == {NEW}


def test_rollback_to_a_version_returns_each_release_to_the_revision_that_ran_it(
    make_helm_world: MakeHelmWorld,
) -> None:
    # Given four tenants moved to v1.3.1
    world = make_helm_world(pilot_count=0)
    chosen = world.tenants[:4]
    done = world.follow(world.deploy(tenants=chosen).id)
    assert done.phase is Phase.COMPLETED

    # When `/rollback isp-helm to=v1.2.3`
    back = world.engine.rollback_app(app="isp-helm", to_version=INSTALLED, tenants=chosen,
                                     user="U0ALICE")
    final = world.follow(back.id)

    # Then each release is rolled back to revision 1, the one that ran v1.2.3
    assert final.phase is Phase.COMPLETED, final.reason
    assert {(t.previous_revision, t.revision) for t in final.targets} == {(2, 3)}
    for ns in chosen:
        assert world.revisions(ns)[-1] == (3, "Rollback to 1")
        assert world.image(ns) == f"{REGISTRY}/isp-ops-app:{INSTALLED}"


def test_retry_upgrades_again_a_release_whose_upgrade_helm_marked_failed(
    make_helm_world: MakeHelmWorld,
) -> None:
    # Given a pilot whose upgrade helm recorded as failed, the rollout paused on it
    world = make_helm_world(pilot_count=1)
    pilot = world.tenants[0]
    world.sim.set_behaviour(pilot, NEW, "unhealthy")
    rollout = world.deploy(tenants=world.tenants[:2])
    paused = world.follow(rollout.id, until=lambda r: r.phase is Phase.PAUSED)
    assert paused.target(pilot).status is TargetStatus.FAILED
    mark(world.sim, pilot, ISP_HELM.release(pilot), "failed")
    world.sim.clear_behaviours()

    # When the failed tenant is retried
    world.engine.submit(world_request(rollout.id, "retry"))
    final = world.follow(rollout.id)

    # Then helm upgrades it again: the failed revision does not count as carrying v1.3.1
    assert final.phase is Phase.COMPLETED, final.reason
    assert [n for n, _ in world.revisions(pilot)] == [1, 2, 3]
    assert final.target(pilot).revision == 3


def world_request(rollout_id: int, action: str) -> InboxItem:
    return InboxItem(rollout_id, action, "U0ALICE", SystemClock().now())
