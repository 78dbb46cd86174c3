"""The versions: policy in the engine, over the simulated cluster (SPEC 12): the bump is
found from preflight's own reads, the rollout runs with its rule, and a plan changes
nothing."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from rollout.errors import RolloutRefused
from rollout.model import Phase, VersionRule
from rollout.options import RolloutOptions
from tests.scenarios.conftest import ISP, NEW_ISP, OLD_ISP, MakeWorld, World


def with_policy(world: World) -> None:
    """Given the example's rules for patch and minor on the isp app."""
    own = world.isp
    world.more_apps["isp"] = replace(ISP, settings=own, versions=(
        VersionRule("patch", replace(own, pilot_count=1, approval=False)),
        VersionRule("minor", replace(own, pilot_count=3)),
    ))


def tenant_reads(world: World) -> dict[str, int]:
    paths = world.sim.counters()["paths"]
    return {
        ns: paths.get(f"/apis/apps/v1/namespaces/{ns}/deployments/isp-ops-app", {}).get("get", 0)
        for ns in world.tenants
    }


def test_a_deploy_reads_each_tenant_once_before_its_first_patch(make_world: MakeWorld) -> None:
    # Given six tenants on v1.2.3 and the minor rule, and a look at the reads made by the
    # time the first patch goes out
    world = make_world(tenants=6)
    with_policy(world)
    seen: list[dict[str, int]] = []
    first = threading.Lock()

    def look(namespace: str) -> None:
        with first:
            if not seen:
                seen.append(tenant_reads(world))

    world.gate_patches(look)
    world.sim.reset_counters()

    # When v1.3.0 (a minor) is deployed
    final = world.follow(world.start(version="v1.3.0").id)

    # Then it ran with the minor rule, and each tenant had been read once, by the one
    # preflight that also found the bump
    assert final.phase is Phase.COMPLETED
    assert (final.settings.bump, final.settings.bump_from) == ("minor", "v1.2.3")
    assert sum(1 for t in final.targets if t.batch == 0) == 3
    assert seen == [dict.fromkeys(world.tenants, 1)]
    assert {world.image(ns) for ns in world.tenants} == {NEW_ISP}


def test_a_plan_finds_the_bump_and_changes_nothing(make_world: MakeWorld) -> None:
    # Given the policy on a fleet running v1.2.3
    world = make_world(tenants=4)
    with_policy(world)
    world.restart()
    world.sim.reset_counters()

    # When a patch is planned
    plan, _ = world.engine.plan("isp", "v1.2.4", RolloutOptions())

    # Then it has one pilot and no gate, no problems, and nothing was written or created
    assert plan.settings is not None and plan.settings.bump == "patch"
    assert (len(plan.pilots), plan.approval_before, plan.problems) == (1, None, ())
    assert world.sim.counters()["verbs"].get("patch", 0) == 0
    assert world.store.list_rollouts(limit=10) == []


def test_a_downgrade_is_refused_before_a_rollout_exists(make_world: MakeWorld) -> None:
    world = make_world(tenants=3)
    with_policy(world)
    world.restart()

    with pytest.raises(RolloutRefused) as refused:
        world.start(version="v1.2.2")

    assert "/rollback isp to=v1.2.2" in refused.value.problems[0]
    assert world.store.list_rollouts(limit=10) == []
    assert {world.image(ns) for ns in world.tenants} == {OLD_ISP}
    assert world.store.audit_log(limit=5)[0].outcome == "refused"


def test_settings_without_a_rule_are_the_apps_own(make_world: MakeWorld) -> None:
    # Given no versions: at all: the bump is recorded, nothing else changes
    world = make_world(tenants=3)

    final = world.follow(world.start(version="v2.0.0").id)

    assert final.phase is Phase.COMPLETED
    assert replace(final.settings, bump="", bump_from="") == world.isp
    assert final.settings.bump == "major"


def test_a_blue_green_bump_is_from_the_live_side(make_world: MakeWorld) -> None:
    # Given the admin app live on v1.2.3
    world = make_world(tenants=1)

    # When v1.2.4 is planned and v1.2.2 too
    patch, _ = world.engine.plan("admin", "v1.2.4", RolloutOptions())
    down, _ = world.engine.plan("admin", "v1.2.2", RolloutOptions())

    # Then the first is a patch from the live version, the second a downgrade the plan
    # lists as the reason a deploy would be refused
    assert patch.settings is not None
    assert (patch.settings.bump, patch.settings.bump_from) == ("patch", "v1.2.3")
    assert patch.problems == ()
    assert any("/rollback admin to=v1.2.2" in p for p in down.problems)
