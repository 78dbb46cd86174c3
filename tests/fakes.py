"""Test doubles for the engine's ports: a clock you advance, timers you fire by hand, a
listener that records, and an in-memory cluster.

They stand in for the ports (rollout.ports), never for a library: the real adapters are
exercised against real servers in tests/adapters and tests/scenarios. Everything here is
thread-safe, because the engine calls its ports from worker threads.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from rollout.errors import ClusterError, NotFound
from rollout.model import EventKind, RolloutEvent
from rollout.ports import (
    BlueGreenState,
    DeploymentInfo,
    FailFast,
    HealthSnapshot,
    LogStats,
    NewSide,
    PodState,
    ProbeResult,
    RolloutOutcome,
    RolloutStatus,
)

log = logging.getLogger(__name__)
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
WAIT_LIMIT = 10.0  # seconds any test helper waits before giving up


class FakeClock:
    """`now()` stands still until a test moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


class ManualTimers:
    """Timers that fire only when a test says so: `fire_due(now)` runs every callback
    whose time has come, earliest first, on the caller's thread. Otherwise they keep the
    Timers contract as ApsTimers does (tests/adapters/test_scheduler.py runs both): a
    re-armed key replaces its timer, naive times are refused, and a failing callback is
    logged with its key while the others still fire."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, tuple[datetime, Callable[[], None]]] = {}

    def arm(self, key: str, at: datetime, callback: Callable[[], None]) -> None:
        if at.utcoffset() is None:
            raise ValueError(f"timer {key!r}: naive datetime {at.isoformat()}")
        with self._lock:
            self._armed[key] = (at, callback)

    def cancel(self, key: str) -> None:
        with self._lock:
            self._armed.pop(key, None)

    def armed(self) -> dict[str, datetime]:
        with self._lock:
            return {key: at for key, (at, _) in self._armed.items()}

    def next_at(self) -> datetime | None:
        with self._lock:
            return min((at for at, _ in self._armed.values()), default=None)

    def fire_due(self, now: datetime) -> int:
        with self._lock:
            due = sorted(
                ((at, key, cb) for key, (at, cb) in self._armed.items() if at <= now),
                key=lambda item: item[0],
            )
            for _, key, _ in due:
                del self._armed[key]
        for _, key, callback in due:
            try:
                callback()
            except Exception:
                log.exception("timer %s: callback failed", key)
        return len(due)

    def fire_next(self, clock: FakeClock) -> bool:
        """Move `clock` to the earliest armed time (never back) and fire what is due then;
        False, with the clock left alone, when nothing is armed."""
        at = self.next_at()
        if at is None:
            return False
        clock.set(max(at, clock.now()))
        self.fire_due(clock.now())
        return True


class RecordingListener:
    """Keeps every RolloutEvent; tests wait on it instead of sleeping."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[RolloutEvent] = []

    def publish(self, event: RolloutEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def kinds(self, rollout_id: int | None = None) -> list[EventKind]:
        with self._cond:
            return [e.kind for e in self.events if rollout_id is None or e.rollout.id == rollout_id]

    def of(self, kind: EventKind) -> list[RolloutEvent]:
        with self._cond:
            return [e for e in self.events if e.kind is kind]

    def wait_for(self, kind: EventKind, *, count: int = 1, timeout: float = WAIT_LIMIT) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.of_unlocked(kind)) >= count, timeout):
                raise AssertionError(f"no {kind} event within {timeout}s: {self.kinds()}")

    def of_unlocked(self, kind: EventKind) -> list[RolloutEvent]:
        return [e for e in self.events if e.kind is kind]


# --- an in-memory cluster -----------------------------------------------------------------

ISP_IMAGE = "registry.example/dotmac/isp-ops-app"
ADMIN_IMAGE = "registry.example/dotmac/platform-admin-app"
TENANT_LABEL = ("app.kubernetes.io/component", "tenant")


@dataclass
class FakeDeployment:
    name: str
    image: str
    containers: tuple[str, ...] = ("frontend",)
    generation: int = 1
    labels: dict[str, str] = field(default_factory=dict)


def _tag(image: str) -> str:
    return image.rpartition(":")[2]


class FakeCluster:
    """The Cluster port over dicts. Behaviour comes from the image tag, as in the
    simulator (`crash` never rolls out, `unhealthy` answers 500 on /api/health, `errors`
    logs 20% errors), or from a rule set with `set_behaviour(namespace, tag, word)`.
    `before_patch` is called (outside the lock) before every set_image: tests use it to
    hold patches while they stop the engine."""

    def __init__(self, *, tenants: int = 0, version: str = "v1.2.3") -> None:
        self._lock = threading.RLock()
        self.namespaces: dict[str, dict[str, str]] = {}
        self.deployments: dict[tuple[str, str], FakeDeployment] = {}
        self.services: dict[tuple[str, str], str] = {}
        self.config_maps: set[tuple[str, str]] = set()
        self.denied: set[tuple[str, str, str]] = set()  # (verb, resource, namespace)
        self.patches: Counter[str] = Counter()  # namespace -> set_image calls that changed it
        self.calls: list[tuple[str, str]] = []  # (method, namespace)
        self.fail_fast_seen: list[FailFast | None] = []  # what each rollout wait was told
        self.before_patch: Callable[[str], None] | None = None
        self.rules: dict[tuple[str, str], str] = {}  # (namespace, tag) -> behaviour word
        for i in range(tenants):
            self.add_tenant(f"tenant-{i:03d}", image=f"{ISP_IMAGE}:{version}")

    # --- seeding ----------------------------------------------------------------------------

    def add_tenant(self, namespace: str, *, image: str, deployment: str = "isp-ops-app") -> None:
        with self._lock:
            self.namespaces[namespace] = dict([TENANT_LABEL])
            self.deployments[(namespace, deployment)] = FakeDeployment(deployment, image)

    def add_blue_green(self, namespace: str = "platform-admin", *, version: str = "v1.2.3") -> None:
        with self._lock:
            self.namespaces[namespace] = {}
            name = "platform-admin-app"
            labels = {"app": name, "version": version}
            self.deployments[(namespace, name)] = FakeDeployment(
                name, f"{ADMIN_IMAGE}:{version}", labels=labels
            )
            self.services[(namespace, name)] = version
            self.config_maps.add((namespace, f"platform-admin-config-{version}"))

    def set_behaviour(self, namespace: str, tag: str, behaviour: str) -> None:
        with self._lock:
            self.rules[(namespace, tag)] = behaviour

    def _behaviour(self, namespace: str, deployment: str) -> str:
        """The words that decide how a deployment behaves: a rule's, else its tag's."""
        tag = _tag(self._deployment(namespace, deployment).image)
        return self.rules.get((namespace, tag), tag)

    def image(self, namespace: str, deployment: str = "isp-ops-app") -> str:
        with self._lock:
            return self.deployments[(namespace, deployment)].image

    def _deployment(self, namespace: str, name: str) -> FakeDeployment:
        found = self.deployments.get((namespace, name))
        if found is None:
            raise NotFound(f'deployments.apps "{name}" not found in {namespace}', status=404)
        return found

    def _log(self, method: str, namespace: str) -> None:
        self.calls.append((method, namespace))

    # --- Cluster ----------------------------------------------------------------------------

    def list_namespaces(self, selector: str) -> list[str]:
        key, _, value = selector.partition("=")
        with self._lock:
            return sorted(ns for ns, labels in self.namespaces.items() if labels.get(key) == value)

    def namespaces_exist(self, names: Sequence[str]) -> dict[str, bool]:
        with self._lock:
            return {name: name in self.namespaces for name in names}

    def read_deployment(self, namespace: str, name: str, *, container: str) -> DeploymentInfo:
        with self._lock:
            self._log("read_deployment", namespace)
            d = self._deployment(namespace, name)
            return DeploymentInfo(
                namespace=namespace,
                name=name,
                image=d.image if container in d.containers else "",
                containers=d.containers,
                revision=d.generation,
                generation=d.generation,
                observed_generation=d.generation,
                replicas=1,
                updated_replicas=1,
                ready_replicas=1,
                available_replicas=1,
                labels=dict(d.labels),
            )

    def set_image(self, namespace: str, name: str, *, container: str, image: str) -> int:
        hook = self.before_patch
        if hook is not None:
            hook(namespace)
        with self._lock:
            self._log("set_image", namespace)
            d = self._deployment(namespace, name)
            if d.image != image:
                d.image = image
                d.generation += 1
                self.patches[namespace] += 1
            return d.generation

    def wait_rollout(
        self,
        namespace: str,
        name: str,
        *,
        timeout: float,
        min_generation: int = 0,
        fail_fast: FailFast | None = None,
        waited: float = 0.0,
    ) -> RolloutStatus:
        with self._lock:
            self._log("wait_rollout", namespace)
            self.fail_fast_seen.append(fail_fast)
            tag = self._behaviour(namespace, name)
        if "crash" in tag:
            return RolloutStatus(RolloutOutcome.DEADLINE_EXCEEDED, "progress deadline exceeded")
        return RolloutStatus(
            RolloutOutcome.COMPLETE, f'deployment "{name}" successfully rolled out'
        )

    def undo(self, namespace: str, name: str) -> int:
        raise NotFound("the fake cluster keeps no revision history", status=404)

    def pods(self, namespace: str, deployment: str) -> list[PodState]:
        with self._lock:
            tag = self._behaviour(namespace, deployment)
        if "crash" in tag:
            return [PodState(f"{deployment}-0", "Running", False, 3, "CrashLoopBackOff")]
        return [PodState(f"{deployment}-0", "Running", True, 0)]

    def probe(self, namespace: str, deployment: str, *, port: int, path: str) -> list[ProbeResult]:
        with self._lock:
            tag = _tag(self._deployment(namespace, deployment).image)
            behaviour = self._behaviour(namespace, deployment)
        pod = f"{deployment}-0"
        if "unhealthy" in behaviour and "health" in path:
            return [ProbeResult(pod, path, 500, {"status": "error"}, 3.0)]
        if "ready" in path:
            return [ProbeResult(pod, path, 200, {"ready": True}, 2.0)]
        return [ProbeResult(pod, path, 200, {"status": "ok", "version": tag}, 2.0)]

    def log_stats(self, namespace: str, deployment: str, *, since_seconds: int) -> LogStats:
        with self._lock:
            behaviour = self._behaviour(namespace, deployment)
        errors = 20 if "errors" in behaviour else 0
        return LogStats(http_lines=100, error_lines=errors, mean_latency_ms=10.0)

    def health_snapshot(
        self,
        namespace: str,
        deployment: str,
        *,
        port: int,
        paths: Sequence[str],
        since_seconds: int,
    ) -> HealthSnapshot:
        with self._lock:
            self._log("health_snapshot", namespace)
        return HealthSnapshot(
            pods=tuple(self.pods(namespace, deployment)),
            probes={
                path: tuple(self.probe(namespace, deployment, port=port, path=path))
                for path in paths
            },
            logs=self.log_stats(namespace, deployment, since_seconds=since_seconds),
        )

    def can_i(self, *, verb: str, resource: str, namespace: str, group: str = "apps") -> bool:
        with self._lock:
            return (verb, resource, namespace) not in self.denied

    def blue_green_state(self, namespace: str, *, service: str, app_label: str) -> BlueGreenState:
        with self._lock:
            if (namespace, service) not in self.services:
                raise NotFound(f'services "{service}" not found in {namespace}', status=404)
            sides = {
                d.labels["version"]: d.name
                for (ns, _), d in self.deployments.items()
                if ns == namespace and d.labels.get("app") == app_label and "version" in d.labels
            }
            return BlueGreenState(live_version=self.services[(namespace, service)], sides=sides)

    def create_side(self, namespace: str, side: NewSide) -> None:
        with self._lock:
            self._log("create_side", namespace)
            template = self._deployment(namespace, side.template_deployment)
            self.config_maps.add((namespace, side.config_map))
            if (namespace, side.name) not in self.deployments:
                labels = {
                    "app": template.labels.get("app", side.template_deployment),
                    "version": side.version,
                }
                self.deployments[(namespace, side.name)] = replace(
                    template, name=side.name, image=side.image, generation=1, labels=labels
                )

    def switch_service(self, namespace: str, service: str, *, version: str) -> None:
        with self._lock:
            self._log("switch_service", namespace)
            if (namespace, service) not in self.services:
                raise NotFound(f'services "{service}" not found', status=404)
            self.services[(namespace, service)] = version

    def delete_side(self, namespace: str, *, deployment: str, config_map: str | None) -> None:
        with self._lock:
            self._log("delete_side", namespace)
            self.deployments.pop((namespace, deployment), None)
            if config_map is not None:
                self.config_maps.discard((namespace, config_map))

    # --- helpers for tests ------------------------------------------------------------------

    def deny(self, verb: str, resource: str, namespace: str) -> None:
        with self._lock:
            self.denied.add((verb, resource, namespace))

    def count(self, method: str) -> int:
        with self._lock:
            return sum(1 for m, _ in self.calls if m == method)


class PatchGate:
    """Lets `allow` patches through, then holds the rest until released. Held ones then
    fail without patching (`die`), as calls of a killed process never arrive, or go on."""

    def __init__(self, allow: int, *, die: bool = True) -> None:
        self.allow = allow
        self.die = die
        self.seen = 0
        self.lock = threading.Lock()
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, namespace: str) -> None:
        with self.lock:
            self.seen += 1
            held = self.seen > self.allow
        if held:
            self.reached.set()
            self.release.wait(WAIT_LIMIT)
            if self.die:
                raise ClusterError("connection reset: the process is gone")
