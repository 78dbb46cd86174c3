"""An in-memory Kubernetes cluster, so the engine's own tests run without a server and
without waiting. It is held to the same contract as the real adapter
(tests/adapters/test_cluster_contract.py runs both), so it cannot tell those tests anything
the real one would not. Thread-safe, because the engine calls its ports from worker threads.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rollout.errors import Forbidden, NotFound
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
from sim.kube.behaviours import HTTP_LINES, Behaviour, Behaviours
from sim.kube.faults import Access
from sim.kube.objects import image_tag

ISP_IMAGE = "registry.example/dotmac/isp-ops-app"
ADMIN_IMAGE = "registry.example/dotmac/platform-admin-app"
TENANT_LABEL = ("app.kubernetes.io/component", "tenant")
CRASH_RESTARTS = 3  # how often a crash-looping pod has restarted when looked at


@dataclass
class FakeDeployment:
    name: str
    image: str
    containers: tuple[str, ...] = ("frontend",)
    generation: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    # Images by revision, oldest first, each once: as ReplicaSets are, for `undo`.
    history: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.history = self.history or [self.image]

    def change_image(self, image: str) -> bool:
        """A new template (and generation) when the image differs; False when it does not."""
        if image == self.image:
            return False
        self.image, self.generation = image, self.generation + 1
        self.history = [*(i for i in self.history if i != image), image]
        return True


class FakeCluster:
    """The Cluster port over dicts. Pods behave as the simulator's do, by its own rules
    (sim.kube.behaviours), so a test says "tenant-004 crashes on v1.3.0" the same way to
    either: from the image tag (`crash` never starts, `unready` never gets ready,
    `unhealthy` answers 500 on /api/health, `errors20` logs 20% errors) or from
    `set_behaviour`. `deny_access` refuses as the simulator's access rules do.

    It has no clock: a rollout wait ends at once, the way the real one ends in time (a
    crash loop is caught by `fail_fast` when its threshold is within the restarts the pod
    shows, else the progress deadline passes). `before_patch` is called (outside the lock)
    before every set_image: tests use it to hold patches while they stop the engine."""

    def __init__(self, *, tenants: int = 0, version: str = "v1.2.3") -> None:
        self._lock = threading.RLock()
        self.namespaces: dict[str, dict[str, str]] = {}
        self.deployments: dict[tuple[str, str], FakeDeployment] = {}
        self.services: dict[tuple[str, str], str] = {}
        self.config_maps: set[tuple[str, str]] = set()
        self.patches: Counter[str] = Counter()  # namespace -> set_image calls that changed it
        self.calls: list[tuple[str, str]] = []  # (method, namespace)
        self.fail_fast_seen: list[FailFast | None] = []  # what each rollout wait was told
        self.before_patch: Callable[[str], None] | None = None
        self._behaviours = Behaviours()
        self._access = Access()
        for i in range(tenants):
            self.add_tenant(f"tenant-{i:03d}", image=f"{ISP_IMAGE}:{version}")

    # --- seeding and the world behind the cluster's back --------------------------------------

    def add_tenant(self, namespace: str, *, image: str, deployment: str = "isp-ops-app") -> None:
        with self._lock:
            self.namespaces[namespace] = dict([TENANT_LABEL])
            labels = {"app": deployment}
            self.deployments[(namespace, deployment)] = FakeDeployment(
                deployment, image, labels=labels
            )

    def add_blue_green(
        self,
        namespace: str = "platform-admin",
        *,
        version: str = "v1.2.3",
        repository: str = ADMIN_IMAGE,
    ) -> None:
        with self._lock:
            self.namespaces[namespace] = {}
            name = "platform-admin-app"
            labels = {"app": name, "version": version}
            self.deployments[(namespace, name)] = FakeDeployment(
                name, f"{repository}:{version}", labels=labels
            )
            self.services[(namespace, name)] = version
            self.config_maps.add((namespace, f"platform-admin-config-{version}"))

    def set_behaviour(
        self, namespace_glob: str, tag_glob: str, behaviour: str, **params: float
    ) -> None:
        """As SimHandle.set_behaviour: pods of matching namespaces and tags behave so."""
        with self._lock:
            self._behaviours.add(namespace_glob, tag_glob, behaviour, **params)

    def deny_access(self, *, namespace: str = "*", verb: str = "*", resource: str = "*") -> None:
        """As SimHandle.deny_access: access reviews say no, and the writes are refused."""
        with self._lock:
            self._access.deny(namespace=namespace, verb=verb, resource=resource)

    def image(self, namespace: str, deployment: str = "isp-ops-app") -> str:
        with self._lock:
            return self.deployments[(namespace, deployment)].image

    def count(self, method: str) -> int:
        with self._lock:
            return sum(1 for m, _ in self.calls if m == method)

    def _deployment(self, namespace: str, name: str) -> FakeDeployment:
        found = self.deployments.get((namespace, name))
        if found is None:
            raise NotFound(f'deployments.apps "{name}" not found in {namespace}', status=404)
        return found

    def _behaviour(self, namespace: str, deployment: str) -> Behaviour:
        with self._lock:
            return self._behaviours.resolve(
                namespace, self._deployment(namespace, deployment).image
            )

    def _allow(self, verb: str, resource: str, namespace: str) -> None:
        if not self._access.allowed(namespace, verb, resource):
            raise Forbidden(f'{resource} is forbidden: cannot {verb} in "{namespace}"', status=403)

    def _log(self, method: str, namespace: str) -> None:
        self.calls.append((method, namespace))

    # --- Cluster: deployments ---------------------------------------------------------------

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
            self._allow("get", "deployments", namespace)
            d = self._deployment(namespace, name)
            return DeploymentInfo(
                namespace=namespace,
                name=name,
                image=d.image if (container or d.containers[0]) in d.containers else "",
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

    def deployments_named(self, name: str, *, container: str) -> dict[str, DeploymentInfo] | None:
        with self._lock:
            self._log("deployments_named", "")
            if not self._access.allowed("", "list", "deployments"):
                return None
            found = [ns for (ns, n) in self.deployments if n == name]
            return {ns: self.read_deployment(ns, name, container=container) for ns in found}

    def set_image(self, namespace: str, name: str, *, container: str, image: str) -> int:
        hook = self.before_patch
        if hook is not None:
            hook(namespace)
        with self._lock:
            self._log("set_image", namespace)
            d = self._deployment(namespace, name)
            if container not in d.containers:
                raise NotFound(
                    f"deployment {namespace}/{name} has no container named {container!r}"
                )
            self._allow("patch", "deployments", namespace)
            if d.change_image(image):
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
        return self._rollout_end(name, self._behaviour(namespace, name), timeout, fail_fast)

    def _rollout_end(
        self, name: str, behaviour: Behaviour, timeout: float, fail_fast: FailFast | None
    ) -> RolloutStatus:
        """How the wait the real adapter does would end, told at once: a crash loop is
        caught when the caller's threshold is within the restarts the pod shows."""
        crashing = not behaviour.starts
        if crashing and fail_fast is not None and fail_fast.crashloop_restarts <= CRASH_RESTARTS:
            found = f"pod {self._pod_name(name)}: CrashLoopBackOff after {CRASH_RESTARTS} restarts"
            return RolloutStatus(RolloutOutcome.FAILING, found)
        if crashing:
            stuck = f'deployment "{name}" exceeded its progress deadline'
            return RolloutStatus(RolloutOutcome.DEADLINE_EXCEEDED, stuck)
        if not behaviour.ready:
            waiting = f'Waiting for deployment "{name}" rollout to finish: '
            waiting += "0 of 1 updated replicas are available..."
            return RolloutStatus(
                RolloutOutcome.TIMED_OUT, f"timed out after {timeout:g}s: {waiting}"
            )
        done = f'deployment "{name}" successfully rolled out'
        return RolloutStatus(RolloutOutcome.COMPLETE, done)

    def undo(self, namespace: str, name: str) -> int:
        with self._lock:
            self._log("undo", namespace)
            d = self._deployment(namespace, name)
            if len(d.history) < 2:
                raise NotFound(f"no rollout history found for deployment {namespace}/{name}")
            self._allow("patch", "deployments", namespace)
            d.change_image(d.history[-2])
            return d.generation

    # --- Cluster: pods and health -----------------------------------------------------------

    @staticmethod
    def _pod_name(deployment: str) -> str:
        return f"{deployment}-0"

    def pods(self, namespace: str, deployment: str) -> list[PodState]:
        behaviour = self._behaviour(namespace, deployment)
        pod = self._pod_name(deployment)
        if not behaviour.starts:
            return [PodState(pod, "Running", False, CRASH_RESTARTS, "CrashLoopBackOff")]
        return [PodState(pod, "Running", behaviour.ready, 0)]

    def probe(self, namespace: str, deployment: str, *, port: int, path: str) -> list[ProbeResult]:
        with self._lock:
            tag = image_tag(self._deployment(namespace, deployment).image)
        behaviour = self._behaviour(namespace, deployment)
        pod = self._pod_name(deployment)
        if not behaviour.starts:
            refused = {
                "kind": "Status",
                "code": 503,
                "reason": "ServiceUnavailable",
                "message": "error trying to reach service: connection refused",
            }
            return [ProbeResult(pod, path, 503, refused, 1.0, "HTTP 503")]
        if "ready" in path:
            ready = behaviour.ready
            return [
                ProbeResult(
                    pod,
                    path,
                    200 if ready else 503,
                    {"ready": ready},
                    2.0,
                    "" if ready else "HTTP 503",
                )
            ]
        if behaviour.mode == "unhealthy":
            sick = {"status": "error", "version": tag, "error": "dependency check failed"}
            return [ProbeResult(pod, path, 500, sick, 3.0, "HTTP 500")]
        return [ProbeResult(pod, path, 200, {"status": "ok", "version": tag}, 2.0)]

    def log_stats(self, namespace: str, deployment: str, *, since_seconds: int) -> LogStats:
        behaviour = self._behaviour(namespace, deployment)
        errors = round(behaviour.error_rate * HTTP_LINES)
        latency = 10.0 * behaviour.latency_factor
        return LogStats(http_lines=HTTP_LINES, error_lines=errors, mean_latency_ms=latency)

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
            return self._access.allowed(namespace, verb, resource)

    # --- Cluster: blue-green ----------------------------------------------------------------

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
            self._allow("create", "deployments", namespace)
            self.config_maps.add((namespace, side.config_map))
            if (namespace, side.name) not in self.deployments:
                labels = {
                    "app": template.labels.get("app", side.template_deployment),
                    "version": side.version,
                }
                self.deployments[(namespace, side.name)] = FakeDeployment(
                    side.name, side.image, template.containers, labels=labels
                )

    def switch_service(self, namespace: str, service: str, *, version: str) -> None:
        with self._lock:
            self._log("switch_service", namespace)
            if (namespace, service) not in self.services:
                raise NotFound(f'services "{service}" not found', status=404)
            self._allow("patch", "services", namespace)
            self.services[(namespace, service)] = version

    def delete_side(self, namespace: str, *, deployment: str, config_map: str | None) -> None:
        with self._lock:
            self._log("delete_side", namespace)
            self._allow("delete", "deployments", namespace)
            self.deployments.pop((namespace, deployment), None)
            if config_map is not None:
                self.config_maps.discard((namespace, config_map))
