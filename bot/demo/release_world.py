"""The stage of `rollbot demo --release`: the plain demo's simulators and bot, plus what a
release needs for real: the fixture monorepo in the demo's temporary home, a Docker engine
and a registry of the demo's own (started by `sim.docker`, nothing shared with the machine).

The apps' images are named under the demo's registry (`127.0.0.1:PORT/dotmac/...`), so
the release pushes there, preflight and verify ask it, and the simulated cluster's
deployments end up naming the images that were really built and pushed. The engine's
socket and the registry's credentials reach the pipeline as an operator hands them to
`rollbot serve`: DOCKER_HOST, REGISTRY_USERNAME and REGISTRY_PASSWORD, set for the demo's
own process while it runs and restored afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from bot.config import Config, parse_config
from bot.demo.printer import Printer
from bot.demo.world import (
    RELEASE_VERSION,
    Stage,
    Windows,
    demo_settings,
    start_bot,
    start_simulators,
)
from bot.registry import RegistryClient
from bot.release import Releases
from sim.docker import Engine, Registry, docker_engine, missing_needs, push_registry
from sim.monorepo import APPS, Monorepo, make_monorepo

REPOSITORY_PREFIX = "dotmac"
CONFIG_SOURCE = "the built-in rollbot.example.yaml, with the demo's windows, registry and repo"
RELEASE_TIMEOUT = "5m"  # per step: a stuck build ends the demo in minutes, not half an hour
# What the demo needs on top of Python; all of it comes with scripts/setup.
NEEDS = ("dockerd", "docker-registry", "busybox", "pnpm", "git", "node")
CANNOT = ("rollbot demo --release needs a Docker engine and pnpm: run scripts/setup as root "
          "(installs docker.io, docker-registry, busybox-static, pnpm); missing here: {}")


def cannot_start() -> str:
    """One line saying what this machine lacks for the release demo; "" when nothing."""
    lacking = missing_needs(NEEDS)
    return CANNOT.format(", ".join(lacking)) if lacking else ""


@dataclass
class ReleaseWorld(Stage):
    """The release demo's stage: the registry the release pushes to and the engine that
    builds, both the demo's own."""

    engine: Engine = field(kw_only=True)
    registry: Registry = field(kw_only=True)
    repo: Monorepo = field(kw_only=True)
    timings: dict[str, float] = field(kw_only=True, default_factory=dict)

    @property
    def releases(self) -> Releases:
        releases = self.server.releases
        assert releases is not None, "rollbot serve builds the pipeline beside its own runtime"
        return releases

    def image(self, app: str) -> str:
        return self.config.app(app).image

    def registry_client(self) -> RegistryClient:
        return RegistryClient(username=self.registry.user, password=self.registry.password,
                              insecure=True)


def release_config(windows: Windows, *, registry: Registry, engine: Engine,
                   repo: Monorepo) -> Config:
    """The demo's configuration, with both apps built from `repo` and named under the
    demo's registry."""
    data = demo_settings(windows)
    data["registry"] = {"verify_images": True, "insecure": True}  # plain http on 127.0.0.1
    for app, folder in APPS.items():
        spec = data["apps"][app]
        spec["image"] = f"{registry.host}/{REPOSITORY_PREFIX}/{folder}"
        spec["build"]["args"] = {"BASE_IMAGE": engine.base_image}
    data["release"].update(repo=str(repo.root), timeout=RELEASE_TIMEOUT)
    return parse_config(yaml.safe_dump(data, sort_keys=False), source=CONFIG_SOURCE)


async def start_release_world(printer: Printer, *, windows: Windows,
                              tenants: int) -> ReleaseWorld:
    """Start the simulators, the engine, the registry and the bot; on any failure stop
    what was started."""
    stack = contextlib.AsyncExitStack()
    timings: dict[str, float] = {}
    try:
        sims = await start_simulators(printer, windows=windows, tenants=tenants, stack=stack)
        repo = await asyncio.to_thread(make_monorepo, sims.home / "frontend",
                                       version=RELEASE_VERSION)
        engine, registry = await _start_docker(stack, timings)
        config = release_config(windows, registry=registry, engine=engine, repo=repo)
        _export(stack, {"DOCKER_HOST": engine.host, "REGISTRY_USERNAME": registry.user,
                        "REGISTRY_PASSWORD": registry.password, "CI": "true"})
        client = RegistryClient(username=registry.user, password=registry.password,
                                insecure=True)
        server, watch = await start_bot(sims, printer, config=config, windows=windows,
                                        registry=client)
    except BaseException:
        await stack.aclose()
        raise
    return ReleaseWorld(sims.kube, sims.slack, server, watch, sims.changes, config, sims.home,
                        stack, post_interval=windows.post_interval, engine=engine,
                        registry=registry, repo=repo, timings=timings)


async def _start_docker(stack: contextlib.AsyncExitStack,
                        timings: dict[str, float]) -> tuple[Engine, Registry]:
    """The engine and the registry, stopped by `stack` (in a thread: stopping dockerd
    waits for it)."""
    started = contextlib.ExitStack()
    stack.push_async_callback(asyncio.to_thread, started.close)
    engine = await asyncio.to_thread(started.enter_context, docker_engine(timings))
    registry = await asyncio.to_thread(started.enter_context, push_registry(timings))
    return engine, registry


def _export(stack: contextlib.AsyncExitStack, values: Mapping[str, str]) -> None:
    """Set `values` in this process's environment until `stack` closes."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)

    def restore() -> None:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    stack.callback(restore)
