"""A release that cannot go on stops at the failing step with a clear reason, having pushed
nothing and deployed nothing: a failing shared package, a failing Dockerfile step, and
every refusal of the preflight, which lists all its problems at once.

Real pnpm, dockerd, docker-registry and the simulated cluster, as in
``test_release_pipeline.py``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.release import log_tail
from rollout.release import Release, ReleasePhase, StepState
from sim.monorepo import APPS, Monorepo, make_monorepo
from tests.adapters.registry_fixtures import push_image
from tests.e2e.release_support import LIMIT, VERSION, World, release_world
from tests.fixtures.engine import Engine, Registry


def nothing_pushed_or_deployed(world: World, release: Release) -> None:
    assert world.tags() == {"admin": None, "isp": None}
    assert world.runtime.store.list_rollouts() == []
    assert world.admin_live_version() == "v1.2.3"
    assert {s.key for s in release.steps if s.state is StepState.PENDING} == set()
    assert release.finished_at is not None


def run(world: World) -> Release:
    return world.releases.wait(world.release().id, LIMIT)


def log_of(release: Release, key: str) -> str:
    return Path(release.step(key).log_path).read_text()


def test_a_shared_package_whose_build_fails_stops_the_release(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    repo = make_monorepo(tmp_path / "frontend", version=VERSION, broken_package="ui")
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry) as world:
        done = run(world)
        assert done.phase is ReleasePhase.FAILED
        step = done.step("shared-build")
        assert step.state is StepState.FAILED
        assert step.detail.startswith('`pnpm --filter "./shared/packages/**" build` exited')
        assert "error TS2322" in log_of(done, "shared-build")
        assert done.step("image:admin").state is StepState.SKIPPED
        nothing_pushed_or_deployed(world, done)


def test_a_failing_dockerfile_step_pushes_no_image_at_all(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    """Given isp's Dockerfile fails while admin's builds, then neither image is pushed."""
    repo = make_monorepo(tmp_path / "frontend", version=VERSION,
                         dockerfile_steps={"isp": "echo broken >&2; exit 7"})
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry) as world:
        done = run(world)
        assert done.phase is ReleasePhase.FAILED
        assert done.step("image:isp").state is StepState.FAILED
        assert "returned a non-zero code: 7" in done.reason
        assert "broken" in log_of(done, "image:isp")
        tail = log_tail(done.step("image:isp"))
        assert 0 < len(tail.splitlines()) <= 30
        assert tail.splitlines()[-1].startswith("ERROR: The command '/bin/sh -c echo broken")
        assert done.step("image:admin").state is StepState.DONE
        assert done.step("push:admin").state is StepState.SKIPPED
        nothing_pushed_or_deployed(world, done)


def _push_existing_tag(world: World) -> None:
    repository = world.image("isp").split("/", 1)[1]
    token = base64.b64encode(f"{world.registry.user}:{world.registry.password}".encode())
    push_image(world.registry.running.url, repository, VERSION, kind="docker",
               headers={"Authorization": f"Basic {token.decode()}"})


def _one_tenant_ahead(world: World) -> None:
    """One tenant already runs v1.4.0, so releasing v1.3.1 would downgrade it."""
    namespace, image = sorted(world.tenant_images().items())[0]
    world.runtime.cluster.set_image(namespace, "isp-ops-app", container="frontend",
                                    image=image.rsplit(":", 1)[0] + ":v1.4.0")


# (how the world is made, what is done to it first, the words preflight must say)
REFUSALS: dict[str, tuple[dict[str, object], Callable[[World], None] | None, list[str]]] = {
    "package.json differs": (
        {"app_versions": {"isp": "1.3.0"}}, None,
        ["apps/isp-ops-app/package.json at v1.3.1 has version '1.3.0', not '1.3.1': set "
         '"version": "1.3.1" in apps/isp-ops-app/package.json and commit it']),
    "tag exists": ({}, _push_existing_tag, ["isp-ops-app:v1.3.1 is already in the registry; "
                                            "tags are immutable, so release a new version"]),
    "wrong password": ({"password": "wrong"}, None,
                       ["Registry 127.0.0.1:", "refused pull access to", "for user 'rollbot'"]),
    "engine not running": ({"docker_host": "unix:///tmp/rollbot-no-engine.sock"}, None,
                           ["the Docker engine at unix:///tmp/rollbot-no-engine.sock does not "
                            "answer"]),
    "release.repo missing": ({"without_repo": True}, None, ["release.repo is not set in "
                                                            "rollbot.yaml"]),
    "a downgrade": ({}, _one_tenant_ahead, [
        "deploy isp: v1.3.1 is lower than v1.4.0, the highest version running: a downgrade",
        "/rollback isp to=v1.3.1"]),
    "every problem at once": (
        {"app_versions": {"admin": "1.0.0"}, "docker_host": "unix:///tmp/rollbot-no.sock"},
        None, ["apps/platform-admin-app/package.json at v1.3.1 has version '1.0.0'",
               "the Docker engine at unix:///tmp/rollbot-no.sock does not answer"]),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_preflight_refuses_with_every_problem_named(
    case: str, tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    options, before, words = REFUSALS[case]
    versions = options.pop("app_versions", None)
    repo: Monorepo = make_monorepo(tmp_path / "frontend", version=VERSION,
                                   app_versions=versions)  # type: ignore[arg-type]
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry,
                       **options) as world:  # type: ignore[arg-type]
        if before is not None:
            before(world)
        done = run(world)
        assert done.phase is ReleasePhase.FAILED
        assert done.step("preflight").state is StepState.FAILED
        for word in words:
            assert word in done.step("preflight").detail
        assert done.reason.startswith("preflight: ")
        assert not (world.db.parent / "rollbot.db.releases" / "R1" / "tree").exists()
        if case != "tag exists":
            nothing_pushed_or_deployed(world, done)


def test_a_failing_check_stops_the_release_before_any_image_is_built(
    tmp_path: Path, docker_engine: Engine, registry: Registry
) -> None:
    """Given ui's lint failing, when v1.3.1 is released, then the checks step fails naming
    the lint check, with the linter's report in its log, after the shared packages' tests
    ran; no image of the version is in the engine or the registry, and nothing deployed."""
    repo = make_monorepo(tmp_path / "frontend", version=VERSION, failing_check=("ui", "lint"))
    with release_world(tmp_path, repo, engine=docker_engine, registry=registry) as world:
        done = run(world)
        assert done.phase is ReleasePhase.FAILED
        step = done.step("checks")
        assert step.state is StepState.FAILED
        assert step.detail == '`pnpm --filter "./shared/packages/**" lint` exited with status 1'
        assert done.reason == f"checks: {step.detail}"
        log = log_of(done, "checks")
        assert "test passed for @dotmac/ui" in log
        assert "40 problems (40 errors, 0 warnings) in @dotmac/ui lint" in log
        assert "test:e2e" not in log  # nothing after the failing check ran
        assert {done.step(f"image:{app}").state for app in APPS} == {StepState.SKIPPED}
        with world.engine.client() as api:
            assert [api.images(name=f"{world.image(app)}:{VERSION}") for app in APPS] == [
                [], []]
        nothing_pushed_or_deployed(world, done)
