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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bot.config import Config, load_config
from bot.store import SqliteStore
from rollout.errors import ConfigError
from rollout.model import AppSpec, Rollout, RolloutEvent
from rollout.ports import Cluster, ErrorRates, HelmReleases, Listener, Registry

if TYPE_CHECKING:
    # Imported where used: the kubernetes client alone takes half a second to load, and
    # verbs that only read the journal (`rollbot status`, `rollbot approve`) never need it.
    from bot.kube import KubeCluster
    from bot.scheduler import ApsTimers
    from rollout.engine import Engine

JOURNAL_NAME = "rollbot.db"


class DriverClaims:
    """Which rollouts this process drives, as OS file locks other processes can test.

    One lock file per rollout in a directory beside the journal (`rollbot.db.drivers/`).
    `flock` locks belong to the open file, so the OS drops them when the process ends,
    however it ends, and checking from a second handle never disturbs a claim held."""

    def __init__(self, db: Path) -> None:
        self._dir = None if str(db) == ":memory:" else Path(f"{db}.drivers")
        self._held: dict[int, IO[bytes]] = {}
        self._lock = threading.Lock()

    def _path(self, rollout_id: int) -> Path | None:
        return None if self._dir is None else self._dir / f"{rollout_id}.lock"

    def claim(self, rollout_id: int) -> bool:
        """Take the rollout for this process; False when another live process holds it."""
        path = self._path(rollout_id)
        with self._lock:
            if path is None or rollout_id in self._held:
                return True
            path.parent.mkdir(exist_ok=True)
            handle = path.open("a+b")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._held[rollout_id] = handle
            return True

    def driven_elsewhere(self, rollout_id: int) -> bool:
        """True when another live process drives the rollout now."""
        path = self._path(rollout_id)
        with self._lock:
            if path is None or rollout_id in self._held or not path.exists():
                return False
            with path.open("a+b") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    return True
            return False  # closing the handle let go of the test lock

    def release(self, rollout_id: int) -> None:
        with self._lock:
            handle = self._held.pop(rollout_id, None)
        if handle is not None:
            handle.close()

    def publish(self, event: RolloutEvent) -> None:
        """As a Listener: whatever this process's engine drives is claimed as it runs, and
        let go once it has ended, whichever face started it."""
        if event.rollout.active:
            self.claim(event.rollout.id)
        else:
            self.release(event.rollout.id)

    def release_all(self) -> None:
        with self._lock:
            held, self._held = list(self._held.values()), {}
        for handle in held:
            handle.close()


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


def default_db() -> Path:
    """Where the journal lives when nobody says: `./rollbot.db`, as the product contract
    (SPEC section 7) fixes it. Reading verbs never create it and name this path when it
    is missing, so a command run in the wrong folder says so instead of answering from
    an empty journal."""
    return Path(JOURNAL_NAME)


def db_path(explicit: str | None = None) -> Path:
    """The journal: `explicit` (`--db`), else ROLLBOT_DB, else :func:`default_db`."""
    given = explicit or os.environ.get("ROLLBOT_DB")
    return Path(given) if given else default_db()


def registry_for(config: Config) -> Registry | None:
    if not config.registry.verify_images:
        return None
    from bot.registry import RegistryClient

    return RegistryClient.from_env(insecure=config.registry.insecure)


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def cluster_from_env(
    kubeconfig: str | None = None, *, config: Config | None = None
) -> KubeCluster:
    """KUBECONFIG (or `kubeconfig`) when given, in-cluster credentials inside a pod, else
    the client's default (~/.kube/config); with the request limits of `config`."""
    from bot.kube import KubeCluster
    from bot.kube.wire import Limits

    wanted = (config or load_config()).kubernetes
    limits = Limits(max_in_flight=wanted.max_in_flight, qps=wanted.qps, burst=wanted.burst)
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        return KubeCluster.from_kubeconfig(path, limits=limits)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return KubeCluster.in_cluster(limits=limits)
    default = Path.home() / ".kube" / "config"
    if not default.exists():
        # The client would say only "No configuration found"; say where, and the way out.
        raise ConfigError(
            "kubeconfig",
            f"KUBECONFIG is not set and {default} does not exist. Set KUBECONFIG to a "
            "kubeconfig file (`rollbot sim --kubeconfig PATH` writes one for the "
            "simulated cluster)",
        )
    return KubeCluster.from_kubeconfig(str(default), limits=limits)


def _wrapped(
    rates: ErrorRates | None, wrap: Callable[[ErrorRates], ErrorRates] | None
) -> ErrorRates | None:
    return wrap(rates) if rates is not None and wrap is not None else rates


def error_rates_for(config: Config) -> ErrorRates | None:
    """Prometheus for error rates when `health.prometheus` is configured; else the logs."""
    from bot.prometheus import PrometheusErrorRates

    prometheus = config.health.prometheus
    return PrometheusErrorRates.from_config(prometheus) if prometheus is not None else None


def helm_for(config: Config, kubeconfig: str | None = None) -> dict[str, HelmReleases]:
    """A helm adapter for each `strategy: helm` app: its `helm:` binary, with the same
    kubeconfig as the cluster adapter (none in a pod: helm uses the service account)."""
    from bot.helm import HelmCli

    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    return {
        name: HelmCli(binary=app.helm, kubeconfig=path)
        for name, app in config.apps.items()
        if app.strategy == "helm"
    }


def build_runtime(
    *,
    config: Config | None = None,
    db: str | None = None,
    kubeconfig: str | None = None,
    listeners: Sequence[Listener] = (),
    registry: Registry | None = None,
    use_registry: bool = True,
    apps: Mapping[str, AppSpec] | None = None,
    poll_inbox_every: float | None = None,
    wrap_cluster: Callable[[Cluster], Cluster] | None = None,
    wrap_error_rates: Callable[[ErrorRates], ErrorRates] | None = None,
) -> Runtime:
    """Wire every adapter to the engine. `registry` overrides the configured one (tests);
    `apps` overrides the configured app specs (e.g. a deploy with its gate turned off).
    `poll_inbox_every` lets a long-running process (`rollbot serve`) take requests other
    processes wrote to the journal (`rollbot approve` in a terminal); `wrap_cluster` puts
    a layer between the engine and the cluster (metrics count its calls), and
    `wrap_error_rates` one in front of Prometheus."""
    from bot.clock import SystemClock
    from bot.scheduler import ApsTimers
    from rollout.engine import Driving, Engine, EnginePorts

    config = config or load_config()
    specs = dict(apps) if apps is not None else config.apps_specs()
    path = db_path(db)
    store = SqliteStore(path)
    try:
        cluster = cluster_from_env(kubeconfig, config=config)
    except BaseException:
        store.close()
        raise
    claims = DriverClaims(path)
    timers = ApsTimers()
    timers.start()
    engine = Engine(
        apps=specs,
        health=config.health_spec(),
        ports=EnginePorts(
            cluster=wrap_cluster(cluster) if wrap_cluster is not None else cluster,
            store=store,
            timers=timers,
            clock=SystemClock(),
            registry=registry
            if registry is not None
            else (registry_for(config) if use_registry else None),
            error_rates=_wrapped(error_rates_for(config), wrap_error_rates),
            helm=helm_for(config, kubeconfig),
        ),
        listeners=[claims, *listeners],
        driving=Driving(
            max_parallel=config.kubernetes.parallel_tenants,
            owner=owner_name(),
            claim=claims.claim,
            poll_inbox_every=poll_inbox_every,
        ),
    )
    return Runtime(
        config=config,
        store=store,
        cluster=cluster,
        timers=timers,
        engine=engine,
        claims=claims,
        apps=specs,
    )
