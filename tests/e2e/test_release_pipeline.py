"""The release pipeline end to end through the calls the faces make (`Releases`): real
pnpm, a real dockerd and docker-registry of the tests' own, the simulated cluster for the
deploys, and the SQLite journal.

Given the fixture monorepo tagged v1.3.1, when a release of it is started, then it builds
both images at the same time, pushes and verifies them, and deploys admin blue-green and
isp to every tenant; or, when something is wrong, it stops at that step with the reason,
having pushed and deployed nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.model import OsAccount
from rollout.release import ReleasePhase, StepState
from sim.monorepo import make_monorepo
from tests.e2e.release_support import LIMIT, TENANTS, VERSION, World, release_world
from tests.fixtures.engine import Engine, Registry


@pytest.fixture
def world(tmp_path: Path, docker_engine: Engine, registry: Registry) -> Iterator[World]:
    repo = make_monorepo(tmp_path / "frontend", version=VERSION)
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry,
                       isp_approval=True) as w:
        yield w


def test_a_release_builds_pushes_verifies_and_deploys_both_apps(world: World) -> None:
    """Given the monorepo at v1.3.1, when alice releases v1.3.1 (bob approves the isp gate),
    then both tags are in the registry with the digests the journal recorded, admin is
    switched blue-green, every tenant runs v1.3.1, and the release completed."""
    terminal = OsAccount(user="ops", host="build-7")
    started = world.releases.start(world.request(), user="U0ALICE", os_account=terminal)
    assert started.label == "R1"

    done = world.releases.wait(started.id, LIMIT)

    assert done.phase is ReleasePhase.COMPLETED, done.reason
    assert {s.key: str(s.state) for s in done.steps} == dict.fromkeys(
        [s.key for s in done.steps], "done")
    assert world.tags() == {"admin": done.digest("admin"), "isp": done.digest("isp")}
    assert all(d.startswith("sha256:") for d in world.tags().values() if d)
    assert world.admin_live_version() == VERSION
    assert world.tenant_images() == dict.fromkeys(
        world.tenant_images(), f"{world.image('isp')}:{VERSION}")
    assert len(world.tenant_images()) == TENANTS
    deploys = [done.step(f"deploy:{app}").rollout_id for app in ("admin", "isp")]
    rollouts = [world.runtime.store.get(rid) for rid in deploys if rid]
    assert [(r.phase.value, r.requested_by, r.requested_from) for r in rollouts if r] == [
        ("completed", "U0ALICE", terminal)] * 2


def test_both_images_build_at_the_same_time(world: World) -> None:
    done = world.releases.wait(world.release("build-only").id, LIMIT)
    admin, isp = done.step("image:admin"), done.step("image:isp")
    assert done.phase is ReleasePhase.COMPLETED, done.reason
    assert admin.started_at and isp.started_at and admin.finished_at and isp.finished_at
    assert admin.started_at < isp.finished_at and isp.started_at < admin.finished_at


def test_the_events_a_face_renders_come_in_order(world: World) -> None:
    done = world.releases.wait(world.release("build-only").id, LIMIT)
    assert done.phase is ReleasePhase.COMPLETED
    assert world.events.kinds() == ["started", "built", "completed"]
    finished = [e.step.key for e in world.events.heard
                if e.step is not None and e.step.state is StepState.DONE]
    assert finished[:4] == ["preflight", "install", "shared-build", "checks"]
    assert sorted(finished[4:6]) == ["image:admin", "image:isp"]
    assert not world.runtime.store.list_rollouts()
