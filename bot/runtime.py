"""The composition root: configuration, journal, cluster, registry, timers and the engine.

Both faces build the same runtime: the terminal verbs (`rollbot deploy`, `resume`, ...)
and the Slack bot (`rollbot serve`, `rollbot demo`). Only this module knows which adapter
stands behind which port.

It also knows which process drives which rollout. Several processes share one journal
(`rollbot deploy` in one terminal, `rollbot approve` in another, `rollbot serve`), and a
rollout must have one driver at a time, or two engines would patch the same tenants.
A driver holds an OS lock on the rollout's byte of a file next to the journal; the OS
drops it when the process ends, even by SIGKILL, so a crashed driver never blocks
`rollbot resume`, and a live one is never doubled.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bot.config import Config, load_config
from bot.store import SqliteStore
from rollout.model import AppSpec, Rollout
from rollout.ports import Listener, Registry

if TYPE_CHECKING:
    # Imported where used: the kubernetes client alone takes half a second to load, and
    # verbs that only read the journal (`rollbot status`, `rollbot approve`) never need it.
    from bot.kube import KubeCluster
    from bot.scheduler import ApsTimers
    from rollout.engine import Engine

DEFAULT_DB = "./rollbot.db"


class DriverClaims:
    """Which rollouts this process drives, as OS record locks other processes can test.

    One lock file per journal; rollout N is byte N of it. POSIX record locks belong to the
    process and vanish when it exits, however it exits."""

    def __init__(self, db: Path) -> None:
        self._path = None if str(db) == ":memory:" else Path(f"{db}.drivers")
        self._file: IO[bytes] | None = None
        self._held: set[int] = set()
        self._lock = threading.Lock()

    def _fd(self) -> int | None:
        if self._path is None:
            return None
        if self._file is None:
            self._file = self._path.open("a+b")
        return self._file.fileno()

    def claim(self, rollout_id: int) -> bool:
        """Take the rollout for this process; False when another live process holds it."""
        with self._lock:
            fd = self._fd()
            if fd is None or rollout_id in self._held:
                return True
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, rollout_id)
            except OSError:
                return False
            self._held.add(rollout_id)
            return True

    def driven_elsewhere(self, rollout_id: int) -> bool:
        """True when another live process drives the rollout now."""
        with self._lock:
            fd = self._fd()
            if fd is None or rollout_id in self._held:
                return False
            try:
                fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, rollout_id)
            except OSError:
                return True
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, rollout_id)
            return False

    def release_all(self) -> None:
        with self._lock:
            if self._file is not None:
                # Closing the one descriptor drops every record lock this process holds.
                self._file.close()
                self._file = None
            self._held.clear()


@dataclass
class Runtime:
    config: Config
    store: SqliteStore
    cluster: KubeCluster
    timers: ApsTimers
    engine: Engine
    claims: DriverClaims
    apps: Mapping[str, AppSpec] = field(default_factory=dict)

    def resume_unfinished(self, rollout_id: int | None = None) -> list[Rollout]:
        """Adopt unfinished rollouts (all, or one) that no other live process drives;
        returns the ones now driven here. Use this rather than the engine's own method
        wherever several processes may share the journal."""
        if rollout_id is not None:
            ids = [rollout_id]
        else:
            ids = [r.id for r in self.store.list_rollouts(active=True, limit=100_000)]
        adopted: list[Rollout] = []
        for rid in ids:
            if self.claims.claim(rid):
                adopted += self.engine.resume_unfinished(rid)
        return adopted

    def close(self) -> None:
        """Stop the engine and timers first, so nothing writes to a closed journal."""
        try:
            self.engine.shutdown()
        finally:
            self.timers.shutdown(wait=False)
            self.cluster.close()
            self.claims.release_all()
            self.store.close()


def db_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("ROLLBOT_DB") or DEFAULT_DB)


def registry_for(config: Config) -> Registry | None:
    if not config.registry.verify_images:
        return None
    from bot.registry import RegistryClient

    return RegistryClient.from_env(insecure=config.registry.insecure)


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def cluster_from_env(kubeconfig: str | None = None) -> KubeCluster:
    """KUBECONFIG (or `kubeconfig`) when given, in-cluster credentials inside a pod, else
    the client's default (~/.kube/config)."""
    from bot.kube import KubeCluster

    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        return KubeCluster.from_kubeconfig(path)
    return KubeCluster.in_cluster()


def build_runtime(
    *,
    config: Config | None = None,
    db: str | None = None,
    kubeconfig: str | None = None,
    listeners: Sequence[Listener] = (),
    registry: Registry | None = None,
    use_registry: bool = True,
    apps: Mapping[str, AppSpec] | None = None,
) -> Runtime:
    """Wire every adapter to the engine. `registry` overrides the configured one (tests);
    `apps` overrides the configured app specs (e.g. a deploy with its gate turned off)."""
    from bot.clock import SystemClock
    from bot.scheduler import ApsTimers
    from rollout.engine import Engine

    config = config or load_config()
    specs = dict(apps) if apps is not None else config.apps_specs()
    path = db_path(db)
    store = SqliteStore(path)
    try:
        cluster = cluster_from_env(kubeconfig)
    except BaseException:
        store.close()
        raise
    timers = ApsTimers()
    timers.start()
    engine = Engine(
        apps=specs,
        health=config.health_spec(),
        cluster=cluster,
        registry=registry if registry is not None else (
            registry_for(config) if use_registry else None
        ),
        store=store,
        timers=timers,
        clock=SystemClock(),
        listeners=listeners,
        owner=owner_name(),
    )
    return Runtime(
        config=config,
        store=store,
        cluster=cluster,
        timers=timers,
        engine=engine,
        claims=DriverClaims(path),
        apps=specs,
    )
