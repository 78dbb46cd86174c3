"""Image builds and pushes through the real Docker Engine API, against the tests' own
dockerd and docker-registry (see ``tests/fixtures/engine.py``).

Given the fixture monorepo's work tree, when an app's image is built, pushed and its tag
verified, then the engine holds it with VERSION and the OCI labels, the registry answers
its digest, a wrong password names the registry, and a stop closes the build within 5 s.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bot.build.images import OCI, Built, DockerEngine, ImageBuild
from bot.build.stop import Stop
from bot.registry import RegistryClient
from sim.monorepo import make_monorepo
from tests.fixtures.engine import Engine, Registry


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The monorepo after its shared build, as the image step finds it."""
    root = make_monorepo(tmp_path_factory.mktemp("images") / "frontend", version="v1.3.1",
                         git=False, dockerfile_steps={"isp": "sleep 120"}).root
    subprocess.run(["pnpm", "--filter", "./shared/packages/**", "build"], cwd=root, check=True,
                   capture_output=True, timeout=120)
    return root


def job(tree: Path, registry: Registry, engine: Engine, app: str, *, tag: str) -> ImageBuild:
    folder = {"admin": "platform-admin-app", "isp": "isp-ops-app"}[app]
    return ImageBuild(context=tree, dockerfile=tree / "apps" / folder / "Dockerfile",
                      tag=f"{registry.host}/dotmac/{folder}:{tag}", version=tag,
                      revision="c0ffee" * 6 + "abcd", args=(("BASE_IMAGE", engine.base_image),))


def test_an_image_is_built_with_its_version_and_labels_then_pushed_and_verified(
    docker_engine: Engine, registry: Registry, tree: Path, tmp_path: Path
) -> None:
    engine = DockerEngine({"DOCKER_HOST": docker_engine.host})
    build = job(tree, registry, docker_engine, "admin", tag="v1.3.1")

    built = engine.build(build, log_path=tmp_path / "image.log", stop=Stop(), timeout=120)

    assert built.ok, (tmp_path / "image.log").read_text()
    with docker_engine.client() as api:
        labels = api.inspect_image(build.tag)["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "v1.3.1"
    assert labels["org.opencontainers.image.revision"] == build.revision
    assert labels["org.opencontainers.image.created"].endswith("+00:00")
    assert "Successfully tagged" in (tmp_path / "image.log").read_text()

    pushed = engine.push(build.tag, log_path=tmp_path / "push.log", stop=Stop(), timeout=120,
                         credentials=(registry.user, registry.password))

    assert pushed == Built(True), (tmp_path / "push.log").read_text()
    client = RegistryClient(username=registry.user, password=registry.password, insecure=True)
    repository = build.tag.rpartition(":")[0]
    digest = client.manifest_digest(repository, "v1.3.1")
    assert digest is not None and digest.startswith("sha256:")
    assert client.manifest_digest(repository, "v0.0.1") is None


def test_the_oci_labels_cost_one_build_step(
    docker_engine: Engine, registry: Registry, tree: Path, tmp_path: Path
) -> None:
    """Given an app's image built, then its three OCI labels came in one step on top of the
    app's Dockerfile (the Engine API's `labels` would add one step, with a container and a
    commit, per label), and the tag names the labelled image."""
    engine = DockerEngine({"DOCKER_HOST": docker_engine.host})
    build = job(tree, registry, docker_engine, "admin", tag="v1.3.3")

    built = engine.build(build, log_path=tmp_path / "image.log", stop=Stop(), timeout=120)

    assert built.ok, (tmp_path / "image.log").read_text()
    with docker_engine.client() as api:
        steps = [h["CreatedBy"] for h in api.history(build.tag)]
        image = api.inspect_image(build.tag)
    labels = [s for s in steps if "LABEL" in s]
    assert len(labels) == 1 and all(f"{OCI}.{k}" in labels[0]
                                    for k in ("version", "revision", "created"))
    assert "CMD" in steps[1]  # the Dockerfile's last step, right under the labels
    assert image["Id"] == built.image_id
    assert image["Config"]["Labels"][f"{OCI}.version"] == "v1.3.3"
    assert not image["Config"].get("Hostname")


def test_the_two_apps_images_share_only_the_base_images_layers(
    docker_engine: Engine, registry: Registry, tmp_path: Path
) -> None:
    """Given the fixture's two apps at one version, when both images are built, then they
    have only the base image's layers in common: each Dockerfile builds its own app, so
    neither build can reuse the other's steps (as with two real apps)."""
    root = make_monorepo(tmp_path / "frontend", version="v1.3.9", git=False).root
    subprocess.run(["pnpm", "--filter", "./shared/packages/**", "build"], cwd=root, check=True,
                   capture_output=True, timeout=120)
    engine = DockerEngine({"DOCKER_HOST": docker_engine.host})
    layers: dict[str, list[str]] = {}
    for app in ("admin", "isp"):
        build = job(root, registry, docker_engine, app, tag="v1.3.9")
        built = engine.build(build, log_path=tmp_path / f"{app}.log", stop=Stop(), timeout=120)
        assert built.ok, (tmp_path / f"{app}.log").read_text()
        with docker_engine.client() as api:
            layers[app] = api.inspect_image(build.tag)["RootFS"]["Layers"]
    with docker_engine.client() as api:
        base = api.inspect_image(docker_engine.base_image)["RootFS"]["Layers"]

    pairs = zip(layers["admin"], layers["isp"], strict=False)
    shared = [a for a, b in itertools.takewhile(lambda pair: pair[0] == pair[1], pairs)]
    assert shared == base


def test_a_wrong_password_names_the_registry(
    docker_engine: Engine, registry: Registry, tree: Path, tmp_path: Path
) -> None:
    engine = DockerEngine({"DOCKER_HOST": docker_engine.host})
    build = job(tree, registry, docker_engine, "admin", tag="v1.3.2")
    assert engine.build(build, log_path=tmp_path / "i.log", stop=Stop(), timeout=120).ok

    pushed = engine.push(build.tag, log_path=tmp_path / "p.log", stop=Stop(), timeout=120,
                         credentials=(registry.user, "wrong"))

    assert not pushed.ok
    assert pushed.reason.startswith(f"registry {registry.host} refused the push for user "
                                    "'rollbot'")
    assert pushed.reason.endswith("check REGISTRY_USERNAME and REGISTRY_PASSWORD")


def test_a_failing_dockerfile_step_fails_the_build_with_the_engines_words(
    docker_engine: Engine, registry: Registry, tmp_path: Path
) -> None:
    root = make_monorepo(tmp_path / "frontend", version="v1.3.1", git=False,
                         dockerfile_steps={"admin": "exit 7"}).root
    (root / "shared" / "packages" / "ui" / "dist").mkdir(parents=True)
    engine = DockerEngine({"DOCKER_HOST": docker_engine.host})

    built = engine.build(job(root, registry, docker_engine, "admin", tag="v1.3.1"),
                         log_path=tmp_path / "i.log", stop=Stop(), timeout=120)

    assert not built.ok
    assert "returned a non-zero code: 7" in built.reason
    assert "ERROR: " in (tmp_path / "i.log").read_text()


def test_a_stop_closes_the_build_stream_within_five_seconds(
    docker_engine: Engine, registry: Registry, tree: Path, tmp_path: Path
) -> None:
    """Given an image build sitting in a long RUN step, when it is stopped, then the build
    call returns within 5 s and says who stopped it."""
    engine = DockerEngine({"DOCKER_HOST": docker_engine.host})
    stop, log = Stop(), tmp_path / "slow.log"
    results: list[Built] = []
    build = job(tree, registry, docker_engine, "isp", tag="v1.3.1")
    worker = threading.Thread(
        target=lambda: results.append(engine.build(build, log_path=log, stop=stop, timeout=300))
    )
    worker.start()
    deadline = time.monotonic() + 60
    while "sleep 120" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the slow step never started"
        time.sleep(0.05)  # the log is the only sign the RUN step has begun
    asked = time.monotonic()
    stop.stop(by="U0BOB")
    worker.join(timeout=5)
    assert not worker.is_alive() and time.monotonic() - asked < 5
    assert results == [Built(False, "stopped by U0BOB")]


def test_an_engine_that_does_not_answer_is_named(tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/nothing.sock"
    problems = DockerEngine({"DOCKER_HOST": host}).problems()
    assert len(problems) == 1
    assert problems[0].startswith(f"the Docker engine at {host} does not answer")
