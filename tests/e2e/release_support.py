"""A world for release tests: the fixture monorepo, the tests' own Docker engine and
registry, the simulated cluster, a journal file, and the real runtime and release service
wired as `rollbot serve` would wire them, with short windows so a release takes seconds.

Each world pushes to its own repositories (`<registry>/<name>/...`), so tests sharing the
session's registry never see each other's tags.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.config import Config, parse_config
from bot.registry import RegistryClient
from bot.release import Releases
from bot.runtime import Runtime, build_runtime
from rollout.engine import Engine as Engine_
from rollout.model import EventKind, InboxItem, RolloutEvent
from rollout.release import Release, ReleaseEvent, ReleaseRequest, parse_release
from sim.kube.harness import SimHandle, start_sim
from sim.monorepo import APPS, Monorepo
from tests.fixtures.engine import Engine, Registry

TENANTS = 4
VERSION = "v1.3.1"
LIMIT = 120.0  # seconds a whole release may take here before the test fails
_names = itertools.count(1)


def config_text(repo: Path | None, registry: Registry, engine: Engine, prefix: str,
                *, isp_approval: bool = False) -> str:
    """rollbot.yaml for the world: both apps, built from the fixture monorepo."""
    def build(app: str) -> dict[str, Any]:
        folder = APPS[app]
        return {"dockerfile": f"apps/{folder}/Dockerfile", "context": ".",
                "package_json": f"apps/{folder}/package.json",
                "args": {"BASE_IMAGE": engine.base_image}}

    common = {"deployers": ["U0ALICE"], "approvers": ["U0BOB"], "rollout_timeout": "30s"}
    data: dict[str, Any] = {
        "registry": {"verify_images": True, "insecure": True},
        "apps": {
            "admin": {"strategy": "blue-green", "image": f"{registry.host}/{prefix}/"
                      "platform-admin-app", "namespace": "platform-admin",
                      "deployment": "platform-admin-app", "service": "platform-admin-app",
                      "container": "frontend", "config_map": "platform-admin-config",
                      "monitor": "1s", "approval": False, "build": build("admin"), **common},
            "isp": {"strategy": "rolling", "image": f"{registry.host}/{prefix}/isp-ops-app",
                    "deployment": "isp-ops-app", "container": "frontend", "batch": 2,
                    "wait": "0s", "pilot": 1, "pilot_monitor": "1s", "approval": isp_approval,
                    "four_eyes": True, "build": build("isp"), **common},
        },
        "release": {"order": ["admin", "isp"], "timeout": "2m"},
    }
    if repo is not None:
        data["release"]["repo"] = str(repo)
    return yaml.safe_dump(data, sort_keys=False)


class Events:
    """A release listener that keeps what it heard."""

    def __init__(self) -> None:
        self.heard: list[ReleaseEvent] = []

    def publish_release(self, event: ReleaseEvent) -> None:
        self.heard.append(event)

    def kinds(self) -> list[str]:
        return [str(e.kind) for e in self.heard if e.step is None]


class Approver:
    """Bob, clicking Approve whenever a rollout waits at its gate (a rollout listener)."""

    def __init__(self, user: str = "U0BOB") -> None:
        self.user = user
        self.engine: Engine_ | None = None
        self.approved: list[int] = []

    def publish(self, event: RolloutEvent) -> None:
        rollout = event.rollout
        if event.kind is EventKind.AWAITING_APPROVAL and rollout.id not in self.approved:
            assert self.engine is not None
            self.approved.append(rollout.id)
            self.engine.submit(InboxItem(rollout.id, "approve", self.user, datetime.now(UTC)))


@dataclass
class World:
    repo: Monorepo
    sim: SimHandle
    registry: Registry
    engine: Engine
    config: Config
    runtime: Runtime
    releases: Releases
    events: Events
    db: Path
    prefix: str
    environ: dict[str, str] = field(default_factory=dict)

    def image(self, app: str) -> str:
        return self.config.app(app).image

    def registry_client(self) -> RegistryClient:
        return RegistryClient(username=self.registry.user, password=self.registry.password,
                              insecure=True)

    def release(self, *words: str, user: str = "U0ALICE") -> Release:
        return self.releases.start(self.request(*words), user=user)

    def request(self, *words: str) -> ReleaseRequest:
        return parse_release([VERSION, *words], apps=list(self.config.apps),
                             now=datetime.now(UTC))

    def tags(self) -> dict[str, str | None]:
        client = self.registry_client()
        return {app: client.manifest_digest(self.image(app), VERSION) for app in APPS}

    def tenant_images(self) -> dict[str, str]:
        found = {}
        for item in self.sim.list("deployments"):
            meta = item["metadata"]
            if meta["name"] == "isp-ops-app":
                found[meta["namespace"]] = item["spec"]["template"]["spec"]["containers"][0][
                    "image"]
        return found

    def admin_live_version(self) -> str:
        service = self.sim.get("services", "platform-admin", "platform-admin-app")
        assert service is not None
        return str(service["spec"]["selector"]["version"])


def environ_for(engine: Engine, registry: Registry, *, password: str | None = None
                ) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": engine.host, "REGISTRY_USERNAME": registry.user,
            "REGISTRY_PASSWORD": password or registry.password, "CI": "true"}


@contextmanager
def release_world(
    tmp_path: Path, repo: Monorepo, *, engine: Engine, registry: Registry,
    without_repo: bool = False, password: str | None = None,
    isp_approval: bool = False, docker_host: str | None = None,
) -> Iterator[World]:
    """`without_repo`: release.repo is left out of the configuration; `password`: a wrong
    registry password; `docker_host`: an engine somewhere else."""
    prefix = f"w{next(_names)}-{os.getpid()}"
    config = parse_config(config_text(None if without_repo else repo.root, registry, engine,
                                      prefix, isp_approval=isp_approval))
    environ = environ_for(engine, registry, password=password)
    if docker_host is not None:
        environ["DOCKER_HOST"] = docker_host
    events, approver = Events(), Approver()
    with start_sim(tenants=TENANTS, ready_delay=0.05) as sim:
        db = tmp_path / "rollbot.db"
        client = RegistryClient(username=registry.user, password=environ["REGISTRY_PASSWORD"],
                                insecure=True)
        runtime = build_runtime(config=config, db=str(db), kubeconfig=str(sim.kubeconfig),
                                registry=client, listeners=[approver])
        approver.engine = runtime.engine
        try:
            releases = Releases(config=config, runtime=runtime, listeners=[events],
                                environ=environ, registry=client)
            yield World(repo, sim, registry, engine, config, runtime, releases, events, db,
                        prefix, environ)
        finally:
            runtime.close()
