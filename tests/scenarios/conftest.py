"""A world for scenario tests: the simulated cluster over HTTP, the real Kubernetes adapter,
the SQLite journal, APScheduler timers and the wall clock, with tiny windows so a whole
release takes seconds.

`World.restart()` throws the engine away the way a killed process loses it (nothing
finishes, nothing more is saved) and builds a new one on the same journal and cluster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from bot.clock import SystemClock
from bot.kube import KubeCluster, RetryPolicy
from bot.scheduler import ApsTimers
from bot.store import SqliteStore
from rollout.engine import Driving, Engine, EnginePorts
from rollout.engine.tenants import LOOK_AHEAD_SECONDS
from rollout.model import AppSpec, HealthSpec, InboxItem, Phase, Rollout, Settings, Strategy
from rollout.options import RolloutOptions
from rollout.ports import Cluster, ErrorRates, HelmReleases
from sim.kube.harness import SimHandle, start_sim
from sim.kube.seed import REGISTRY, tenant_namespaces
from tests.fakes import RecordingListener

LIMIT = 30.0  # seconds any one scenario step may take before the test fails
QUICK = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, connect_timeout=2, read_timeout=10)
OLD_ISP = f"{REGISTRY}/isp-ops-app:v1.2.3"
NEW_ISP = f"{REGISTRY}/isp-ops-app:v1.3.0"

ISP = AppSpec(
    name="isp",
    strategy=Strategy.ROLLING,
    image=f"{REGISTRY}/isp-ops-app",
    deployment="isp-ops-app",
    container="frontend",
    settings=Settings(
        batch_size=5,
        wait_seconds=0,
        pilot_count=2,
        pilot_monitor_seconds=1,
        rollout_timeout_seconds=20,
        approval=False,
        approval_timeout_seconds=3600,
    ),
)
ADMIN = AppSpec(
    name="admin",
    strategy=Strategy.BLUE_GREEN,
    image=f"{REGISTRY}/platform-admin-app",
    deployment="platform-admin-app",
    container="frontend",
    settings=Settings(
        approval=False, monitor_seconds=1, rollout_timeout_seconds=20, remove_old_after_seconds=1
    ),
    namespace="platform-admin",
    service="platform-admin-app",
    config_map="platform-admin-config",
)


class HeldPatches(KubeCluster):
    """The real adapter, with every `set_image` passing through `gate(namespace)` first:
    the last moment before the patch is sent to the API server."""

    gate: Callable[[str], None]

    def set_image(self, namespace: str, name: str, *, container: str, image: str) -> int:
        self.gate(namespace)
        return super().set_image(namespace, name, container=container, image=image)


@dataclass
class World:
    sim: SimHandle
    db: Path
    isp: Settings
    admin: Settings
    cluster: KubeCluster = field(init=False)
    store: SqliteStore = field(init=False)
    listener: RecordingListener = field(default_factory=RecordingListener)
    engine: Engine = field(init=False)
    timers: ApsTimers = field(init=False)
    closers: list[Callable[[], None]] = field(default_factory=list)
    error_rates: ErrorRates | None = None  # Prometheus; None: error rates from the logs
    more_apps: dict[str, AppSpec] = field(default_factory=dict)  # besides isp and admin
    helm: dict[str, HelmReleases] = field(default_factory=dict)  # of the helm apps
    look_ahead_seconds: float = LOOK_AHEAD_SECONDS  # see TargetSteps.look_ahead

    def __post_init__(self) -> None:
        self.cluster = KubeCluster.from_kubeconfig(str(self.sim.kubeconfig), policy=QUICK)
        self.closers.append(self.cluster.close)
        self.store = SqliteStore(self.db)
        self.closers.append(self.store.close)
        self.engine = self.new_engine(self.cluster)

    @property
    def tenants(self) -> list[str]:
        return self.cluster.list_namespaces(ISP.tenant_selector)

    def new_engine(self, cluster: Cluster) -> Engine:
        self.timers = ApsTimers()
        self.timers.start()
        timers = self.timers
        self.closers.append(lambda: timers.shutdown(wait=False))
        engine = Engine(
            apps={
                "isp": replace(ISP, settings=self.isp),
                "admin": replace(ADMIN, settings=self.admin),
                **self.more_apps,
            },
            health=HealthSpec(),
            ports=EnginePorts(
                cluster=cluster,
                store=self.store,
                timers=timers,
                clock=SystemClock(),
                error_rates=self.error_rates,
                helm=self.helm,
            ),
            listeners=[self.listener],
            driving=Driving(max_parallel=8, look_ahead_seconds=self.look_ahead_seconds),
        )
        self.closers.append(engine.shutdown)
        return engine

    def restart(
        self, *, cluster: Cluster | None = None, release: threading.Event | None = None
    ) -> Engine:
        """Kill the engine (as SIGKILL would: queued work dropped, nothing more saved) and
        start a fresh one on the same journal, as `rollbot resume` would."""
        self.engine.shutdown(wait=False)
        if release is not None:
            release.set()
        self.engine.shutdown()
        self.timers.shutdown(wait=False)
        self.engine = self.new_engine(cluster or self.cluster)
        return self.engine

    def gate_patches(self, gate: Callable[[str], None]) -> Engine:
        """A new engine whose cluster calls `gate(namespace)` just before each patch."""
        held = HeldPatches.from_kubeconfig(str(self.sim.kubeconfig), policy=QUICK)
        assert isinstance(held, HeldPatches)
        self.closers.append(held.close)
        held.gate = gate
        return self.restart(cluster=held)

    def start(self, app: str = "isp", version: str = "v1.3.0", **options: Any) -> Rollout:
        return self.engine.start(
            app=app, version=version, options=RolloutOptions(**options), user="U0ALICE"
        )

    def follow(self, rollout_id: int, until: Callable[[Rollout], bool] | None = None) -> Rollout:
        """Drive like `rollbot deploy`: take requests from the journal's inbox until the
        rollout finishes (or `until` holds); fail the test after LIMIT seconds."""
        done = until or (lambda r: r.phase.terminal)
        deadline = threading.Event()
        timer = threading.Timer(LIMIT, deadline.set)
        timer.start()
        try:
            while not deadline.is_set():
                self.engine.poll_inbox()
                rollout = self.engine.wait(rollout_id, 0.1, until=done)
                if done(rollout):
                    return rollout
        finally:
            timer.cancel()
        raise AssertionError(f"#{rollout_id} is still {self.engine.wait(rollout_id, 0).phase}")

    def approve_from_elsewhere(self, rollout_id: int, user: str = "U0BOB") -> threading.Thread:
        """Another process's `rollbot approve`: waits for the gate, writes to the inbox."""

        def approve() -> None:
            self.engine.wait(rollout_id, LIMIT, until=lambda r: r.phase is Phase.AWAITING_APPROVAL)
            self.store.enqueue(InboxItem(rollout_id, "approve", user, SystemClock().now()))

        thread = threading.Thread(target=approve, name="approver", daemon=True)
        thread.start()
        return thread

    def image(self, namespace: str, deployment: str = "isp-ops-app") -> str:
        found = self.sim.get("deployments", namespace, deployment)
        assert found is not None, f"{namespace}/{deployment} is gone"
        image: str = found["spec"]["template"]["spec"]["containers"][0]["image"]
        return image

    def patches(self, namespace: str, deployment: str = "isp-ops-app") -> int:
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}"
        return int(self.sim.counters()["paths"].get(path, {}).get("patch", 0))

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


MakeWorld = Callable[..., World]


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[MakeWorld]:
    worlds: list[World] = []
    sims: list[SimHandle] = []

    def make(
        *,
        tenants: int,
        admin: dict[str, Any] | None = None,
        error_rates: ErrorRates | None = None,
        **isp: Any,
    ) -> World:
        """A world with `tenants` tenants; keyword arguments change the isp app's settings,
        `admin` the admin app's; `error_rates` stands for Prometheus."""
        sim = start_sim(tenants=tenants, ready_delay=0.05)
        sims.append(sim)
        world = World(
            sim=sim,
            db=tmp_path / f"rollbot-{len(sims)}.db",
            isp=replace(ISP.settings, **isp),
            admin=replace(ADMIN.settings, **(admin or {})),
            error_rates=error_rates,
        )
        worlds.append(world)
        assert world.tenants == sorted(tenant_namespaces(tenants))
        return world

    yield make
    for world in worlds:
        world.close()
    for sim in sims:
        sim.stop()
