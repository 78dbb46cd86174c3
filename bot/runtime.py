"""The composition root: configuration, journal, cluster, registry, timers and the engine.

Both faces build the same runtime: the terminal verbs (`rollbot deploy`, `resume`, ...)
and the Slack bot (`rollbot serve`, `rollbot demo`). Only this module knows which adapter
stands behind which port.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rollout.engine import Engine

from bot.clock import SystemClock
from bot.config import Config, load_config
from bot.kube import KubeCluster
from bot.registry import RegistryClient
from bot.scheduler import ApsTimers
from bot.store import SqliteStore
from rollout.ports import Listener, Registry

DEFAULT_DB = "./rollbot.db"


@dataclass
class Runtime:
    config: Config
    store: SqliteStore
    cluster: KubeCluster
    timers: ApsTimers
    engine: Engine

    def close(self) -> None:
        self.engine.shutdown()
        self.timers.shutdown(wait=False)
        self.store.close()


def db_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("ROLLBOT_DB") or DEFAULT_DB)


def registry_for(config: Config) -> Registry | None:
    if not config.registry.verify_images:
        return None
    return RegistryClient.from_env(insecure=config.registry.insecure)


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def build_runtime(
    *,
    config: Config | None = None,
    db: str | None = None,
    kubeconfig: str | None = None,
    listeners: Sequence[Listener] = (),
    registry: Registry | None = None,
    use_registry: bool = True,
) -> Runtime:
    """Wire every adapter to the engine. `registry` overrides the configured one (tests)."""
    config = config or load_config()
    store = SqliteStore(db_path(db))
    cluster = (
        KubeCluster.from_kubeconfig(kubeconfig or os.environ.get("KUBECONFIG"))
        if kubeconfig or os.environ.get("KUBECONFIG") or not _in_cluster()
        else KubeCluster.in_cluster()
    )
    timers = ApsTimers()
    timers.start()
    engine = Engine(
        apps=config.apps_specs(),
        health=config.health_spec(),
        cluster=cluster,
        registry=registry
        if registry is not None
        else (registry_for(config) if use_registry else None),
        store=store,
        timers=timers,
        clock=SystemClock(),
        listeners=listeners,
        owner=owner_name(),
    )
    return Runtime(config=config, store=store, cluster=cluster, timers=timers, engine=engine)


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
