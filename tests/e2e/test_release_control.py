"""Stopping a release, taking it up after a crash, reusing what an earlier release of the
version pushed, and the dry run: against real pnpm, dockerd, docker-registry, the
simulated cluster and the SQLite journal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.release import Releases
from bot.store import SqliteStore
from rollout.release import Release, ReleasePhase, StepState, finished, plan_steps, started
from rollout.release.errors import ReleaseConflict
from sim.monorepo import make_monorepo
from tests.e2e.release_support import (
    LIMIT,
    TENANTS,
    VERSION,
    World,
    config_text,
    release_world,
)
from tests.fixtures.engine import Engine, Registry

REPO = Path(__file__).resolve().parents[2]


def wait_for(check: object, what: str, timeout: float = LIMIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        time.sleep(0.05)  # the journal and the log files have no event to wait on


def building_slowly(release: Release, *, step: str = "sleep 60") -> bool:
    """isp's image build has reached its slow RUN step."""
    image = release.step("image:isp")
    log = Path(image.log_path) if image.log_path else None
    return image.state is StepState.RUNNING and log is not None and log.exists() and (
        step in log.read_text())


@pytest.mark.parametrize("asked_from", ["this process", "another process"])
def test_a_stop_during_the_image_build_ends_it_within_five_seconds(
    asked_from: str, tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    """Given isp's image sitting in a long RUN step, when bob stops the release (here, or
    through the journal from a process that does not drive it), then the build ends within
    5 s, nothing is pushed, nothing deployed, and the release says bob stopped it."""
    repo = make_monorepo(tmp_path / "frontend", version=VERSION,
                         dockerfile_steps={"isp": "sleep 60"})
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry) as world:
        started = world.release()
        wait_for(lambda: building_slowly(world.releases.status(started.id)), "the slow build")
        with pytest.raises(ReleaseConflict, match="release R1 is still active"):
            world.release("apps=isp")
        asker = world.releases if asked_from == "this process" else Releases(
            config=world.config, runtime=world.runtime, environ=world.environ)
        asked = time.monotonic()
        asker.cancel(started.id, user="U0BOB")
        done = world.releases.wait(started.id, 10)
        assert time.monotonic() - asked < 5
        assert (done.phase, done.stopped_by, done.reason) == (
            ReleasePhase.CANCELLED, "U0BOB", "stopped by U0BOB")
        assert done.step("image:isp").detail == "stopped by U0BOB"
        assert done.step("push:admin").state is StepState.SKIPPED
        assert world.tags() == {"admin": None, "isp": None}
        assert world.runtime.store.list_rollouts() == []
        audit = [(e.user, e.action, e.outcome) for e in world.runtime.store.audit_log()]
        assert ("U0BOB", "release cancel R1", "ok") in audit
        assert ("U0ALICE", "release v1.3.1", "refused") in audit


def test_a_shutdown_ends_the_build_and_leaves_the_release_to_a_restart(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    """Given the images building, when rollbot shuts down, then the builds end within 5 s
    and the journal still shows them running, for the next rollbot to run again."""
    repo = make_monorepo(tmp_path / "frontend", version=VERSION,
                         dockerfile_steps={"isp": "sleep 60"})
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry) as world:
        started = world.release()
        wait_for(lambda: building_slowly(world.releases.status(started.id)), "the slow build")
        asked = time.monotonic()
        world.releases.shutdown()
        assert time.monotonic() - asked < 5 and world.releases.driven_here() == []
        left = world.releases.status(started.id)
        assert left.phase is ReleasePhase.RUNNING
        assert left.step("image:isp").state is StepState.RUNNING
        assert world.tags() == {"admin": None, "isp": None}


def test_a_release_killed_during_the_build_finishes_after_a_restart(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    """Given a rollbot process running a release, when it is killed with SIGKILL during
    the image build and rollbot starts again, then the release finishes: the images are
    built again, each is pushed once, and each tenant is changed once."""
    repo = make_monorepo(tmp_path / "frontend", version=VERSION,
                         dockerfile_steps={"isp": "sleep 2"})
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry) as world:
        config = tmp_path / "rollbot.yaml"
        config.write_text(config_text(repo.root, registry, docker_engine, world.prefix))
        with (tmp_path / "child.log").open("wb") as output:
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.e2e.release_child", VERSION], cwd=REPO,
                env={**world.environ, "ROLLBOT_CONFIG": str(config), "ROLLBOT_DB": str(world.db),
                     "KUBECONFIG": str(world.sim.kubeconfig), "PYTHONPATH": str(REPO)},
                stdout=output, stderr=subprocess.STDOUT)
        try:
            with SqliteStore(world.db) as journal:
                wait_for(lambda: child.poll() is None and (
                    r := journal.releases.get_release(1)) is not None and building_slowly(
                    r, step="sleep 2"), "the image build in the killed process")
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL, (tmp_path / "child.log").read_text()

        taken = world.releases.resume_unfinished()
        done = world.releases.wait(1, LIMIT)

        assert [r.id for r in taken] == [1]
        assert done.phase is ReleasePhase.COMPLETED, done.reason
        assert done.step("image:isp").attempts == 2
        assert [done.step(f"push:{app}").attempts for app in ("admin", "isp")] == [1, 1]
        assert world.tags() == {"admin": done.digest("admin"), "isp": done.digest("isp")}
        patches = world.sim.counters()["paths"]
        isp = {path: verbs.get("patch", 0) for path, verbs in patches.items()
               if path.endswith("/deployments/isp-ops-app")}
        assert len(isp) == TENANTS and set(isp.values()) == {1}
        assert world.admin_live_version() == VERSION


def test_an_image_pushed_by_an_earlier_release_of_the_version_is_reused(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    """Given R1 built and pushed v1.3.1 (build-only), when v1.3.1 is released again, then
    its images are neither built nor pushed again, and the deploys use them."""
    repo = make_monorepo(tmp_path / "frontend", version=VERSION)
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry) as world:
        first = world.releases.wait(world.release("build-only").id, LIMIT)
        assert first.phase is ReleasePhase.COMPLETED, first.reason

        again = world.releases.wait(world.release().id, LIMIT)

        assert again.phase is ReleasePhase.COMPLETED, again.reason
        for app in ("admin", "isp"):
            assert again.step(f"image:{app}").state is StepState.SKIPPED
            assert "was pushed by R1" in again.step(f"push:{app}").detail
            assert again.digest(app) == first.digest(app)
        assert world.admin_live_version() == VERSION


def test_a_dry_run_shows_the_whole_plan_and_changes_nothing(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    repo = make_monorepo(tmp_path / "frontend", version=VERSION)
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry) as world:
        plan = world.releases.plan(world.request("dry-run", "batch=3"), user="U0ALICE")
        assert plan.problems == ()
        assert [s.key for s in plan.release.steps][-2:] == ["deploy:admin", "deploy:isp"]
        assert plan.images == {app: f"{world.image(app)}:{VERSION}" for app in ("admin", "isp")}
        assert set(plan.deploys) == {"admin", "isp"}
        assert plan.deploys["isp"].preview.settings.batch_size == 3
        assert sum(len(b) for b in plan.deploys["isp"].plan.batches) + len(
            plan.deploys["isp"].plan.pilots) == TENANTS
        assert world.releases.list_releases() == []
        assert not (world.db.parent / "rollbot.db.releases").exists()
        with pytest.raises(ValueError, match="dry run"):
            world.releases.start(world.request("dry-run"), user="U0ALICE")


def orphan(world: World, *, stop_requested_by: str = "") -> Release:
    """R1 as a killed process left it: its images building, no process driving it."""
    now = datetime.now(UTC)
    r = Release(id=0, version=VERSION, apps=("admin", "isp"), requested_by="U0ALICE",
                created_at=now, steps=plan_steps(("admin", "isp"), build_only=False))
    for key in ("preflight", "install", "shared-build"):
        r = finished(started(r, key, now=now), key, now=now)
    r = started(started(r, "image:admin", now=now), "image:isp", now=now)
    return world.runtime.store.releases.create_release(
        replace(r, stop_requested_by=stop_requested_by))


def test_cancelling_a_release_no_process_drives_ends_it_at_once(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    repo = make_monorepo(tmp_path / "frontend", version=VERSION)
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry) as world:
        left = orphan(world)
        done = world.releases.cancel(left.id, user="U0BOB")
        assert (done.phase, done.stopped_by) == (ReleasePhase.CANCELLED, "U0BOB")
        assert done.finished_at is not None
        assert {done.step(k).state for k in ("image:admin", "push:isp", "deploy:isp")} == {
            StepState.SKIPPED}
        assert world.release().label == "R2"  # no longer blocks the next one
        world.releases.cancel(2, user="U0ALICE")
        assert world.releases.wait(2, 10).phase is ReleasePhase.CANCELLED


def test_a_stop_asked_for_while_no_process_drove_the_release_is_taken_on_restart(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    repo = make_monorepo(tmp_path / "frontend", version=VERSION)
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry) as world:
        left = orphan(world, stop_requested_by="U0BOB")
        assert [r.id for r in world.releases.resume_unfinished()] == [left.id]
        done = world.releases.wait(left.id, 10)
        assert (done.phase, done.stopped_by) == (ReleasePhase.CANCELLED, "U0BOB")
        assert world.tags() == {"admin": None, "isp": None}
        assert world.events.kinds() == ["cancelled"]
