"""The engine's view of the outside world: protocols that adapters in ``bot/`` implement.

Everything here is synchronous on purpose: the Kubernetes client, sqlite-utils and the
registry client block, so the engine runs them on worker threads and the Slack event loop
never waits on them. Observations are plain frozen dataclasses so that verdicts in
:mod:`rollout.health` can be computed without any client object in sight.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from rollout.model import AuditEntry, InboxItem, Phase, Rollout, RolloutEvent

# --- what the cluster reports -------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentInfo:
    """One Deployment as rollbot cares about it."""

    namespace: str
    name: str
    image: str  # of the named container (no name: the first), "" if the container is missing
    containers: tuple[str, ...]
    revision: int  # deployment.kubernetes.io/revision, 0 when unknown
    generation: int
    observed_generation: int
    replicas: int
    updated_replicas: int
    ready_replicas: int
    available_replicas: int
    labels: Mapping[str, str] = field(default_factory=dict)


class RolloutOutcome(StrEnum):
    COMPLETE = "complete"  # observedGeneration >= generation, updated == available == desired
    TIMED_OUT = "timed-out"  # our own timeout elapsed first
    DEADLINE_EXCEEDED = "deadline-exceeded"  # Progressing=False/ProgressDeadlineExceeded
    FAILING = "failing"  # a new pod crash-loops or cannot start: waiting on would not help


@dataclass(frozen=True)
class RolloutStatus:
    outcome: RolloutOutcome
    message: str  # the last `rollout status`-style line, for humans


@dataclass(frozen=True)
class FailFast:
    """When a rollout wait may stop before its timeout: a container of a new pod waits in
    CrashLoopBackOff after `crashloop_restarts` restarts, or waits with an image or config
    reason (ImagePullBackOff, ErrImagePull, CreateContainerConfigError, InvalidImageName)
    for `stuck_seconds`. The new pods are looked at `first_look_seconds` into the wait and
    every `look_every_seconds` after, so a rollout that completes sooner costs no look."""

    crashloop_restarts: int = 3
    stuck_seconds: float = 30.0
    first_look_seconds: float = 5.0
    look_every_seconds: float = 5.0


@dataclass(frozen=True)
class PodState:
    name: str
    phase: str  # Pending, Running, ...
    ready: bool
    restarts: int
    reason: str = ""  # e.g. CrashLoopBackOff when a container is waiting


@dataclass(frozen=True)
class ProbeResult:
    """One GET through the API server's pod proxy."""

    pod: str
    path: str
    status: int  # HTTP status, 0 when the request itself failed
    body: Mapping[str, object] | None  # parsed JSON body, None when not JSON
    latency_ms: float
    error: str = ""


@dataclass(frozen=True)
class LogStats:
    """Counts from pod logs, as the guide's auto-rollback script reads them."""

    http_lines: int
    error_lines: int
    mean_latency_ms: float | None = None  # from response times in HTTP lines, when present


@dataclass(frozen=True)
class HealthSnapshot:
    """One look at a deployment's pods, for one health check: their states, what each
    answered on every probed path, and their logs, all from a single listing of the pods
    so the three agree on which pods there are."""

    pods: tuple[PodState, ...]
    probes: Mapping[str, tuple[ProbeResult, ...]]  # path -> one answer per pod
    logs: LogStats | None = None  # None when the logs could not be read
    log_error: str = ""  # why they could not

    def answers(self, path: str) -> tuple[ProbeResult, ...]:
        return tuple(self.probes.get(path, ()))


@dataclass(frozen=True)
class BlueGreenState:
    """What is deployed for a blue-green app: the live version and every side present."""

    live_version: str | None  # the Service selector's `version`
    sides: Mapping[str, str]  # version -> deployment name


@dataclass(frozen=True)
class NewSide:
    """A blue-green side to create: ConfigMap `config_map` (data copied from
    `config_map_source` when given) and Deployment `name` cloned from
    `template_deployment`, running `image` in `container`, labelled app and `version`."""

    template_deployment: str
    name: str
    version: str
    image: str
    container: str
    config_map: str
    config_map_source: str | None


# --- ports --------------------------------------------------------------------------------


class Cluster(Protocol):
    """Every Kubernetes call rollbot makes. Errors are from :mod:`rollout.errors`."""

    def list_namespaces(self, selector: str) -> list[str]: ...

    def namespaces_exist(self, names: Sequence[str]) -> dict[str, bool]: ...

    def read_deployment(self, namespace: str, name: str, *, container: str) -> DeploymentInfo: ...

    def deployments_named(
        self, name: str, *, container: str
    ) -> Mapping[str, DeploymentInfo] | None:
        """Every deployment called `name`, in every namespace, by namespace, from one
        listing; None when rollbot may not list deployments in every namespace (then read
        them one by one)."""
        ...

    def set_image(self, namespace: str, name: str, *, container: str, image: str) -> int:
        """Patch the container's image; returns the Deployment's new generation."""
        ...

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
        """Block (by watch) until the rollout completes, fails its deadline, or times out;
        with `fail_fast`, also until its new pods show it cannot succeed (FAILING, the
        message naming the pod and why). `waited`: how long this same wait already lasted
        in earlier calls (a caller may wait in slices), 0 for a wait that starts now."""
        ...

    def undo(self, namespace: str, name: str) -> int:
        """`kubectl rollout undo`: back to the previous revision; returns the new generation."""
        ...

    def pods(self, namespace: str, deployment: str) -> list[PodState]: ...

    def probe(
        self, namespace: str, deployment: str, *, port: int, path: str
    ) -> list[ProbeResult]: ...

    def log_stats(self, namespace: str, deployment: str, *, since_seconds: int) -> LogStats: ...

    def health_snapshot(
        self,
        namespace: str,
        deployment: str,
        *,
        port: int,
        paths: Sequence[str],
        since_seconds: int,
    ) -> HealthSnapshot:
        """`pods`, `probe` of each of `paths` and `log_stats`, from one listing of the pods.
        Logs that cannot be read leave `logs` None with the reason; other failures raise."""
        ...

    def can_i(self, *, verb: str, resource: str, namespace: str, group: str = "apps") -> bool:
        """Whether rollbot may `verb` `resource` in `namespace`; namespace "" asks for
        every namespace at once (true only for a cluster-wide grant)."""
        ...

    # blue-green
    def blue_green_state(
        self, namespace: str, *, service: str, app_label: str
    ) -> BlueGreenState: ...

    def create_side(self, namespace: str, side: NewSide) -> None:
        """Create `side` in `namespace` (see NewSide). Idempotent: an existing side with the
        same image is left as it is."""
        ...

    def switch_service(self, namespace: str, service: str, *, version: str) -> None: ...

    def delete_side(self, namespace: str, *, deployment: str, config_map: str | None) -> None: ...


@dataclass(frozen=True)
class HelmRevision:
    """One revision of a Helm release, as `helm history` and `helm status` tell it.
    `values`: from `helm status`, the values given to it (not the chart's defaults)."""

    revision: int
    status: str  # deployed, superseded, failed, pending-install, pending-upgrade, ...
    chart: str = ""
    description: str = ""
    values: Mapping[str, object] | None = None

    @property
    def pending(self) -> bool:
        """Another helm operation is under way on the release, or was cut off."""
        return self.status.startswith("pending-")

    def value(self, key: str) -> str | None:
        """The value at a dotted key (`image.tag`), as a string; None when unset or unread."""
        found: object = self.values
        for part in key.split("."):
            if not isinstance(found, Mapping) or part not in found:
                return None
            found = found[part]
        return None if found is None or isinstance(found, Mapping) else str(found)


class HelmReleases(Protocol):
    """The Helm releases of a `strategy: helm` app, moved by a real `helm` binary. Blocking;
    errors are HelmError (with helm's own words) or ReleaseNotFound."""

    def status(self, namespace: str, release: str) -> HelmRevision:
        """The release's latest revision, with its values."""
        ...

    def history(self, namespace: str, release: str) -> list[HelmRevision]:
        """Every revision Helm keeps, oldest first, without values."""
        ...

    def values(self, namespace: str, release: str, *, revision: int) -> Mapping[str, object]:
        """The values one revision ran with: the chart's defaults under those given."""
        ...

    def upgrade(
        self, namespace: str, release: str, *, chart: str, values: Mapping[str, str],
        description: str,
    ) -> int:
        """`helm upgrade --reuse-values --set key=value ...` without waiting (rollbot does
        its own waiting and health checks); returns the new revision."""
        ...

    def rollback(self, namespace: str, release: str, *, revision: int) -> int:
        """`helm rollback` to `revision`; returns the revision this creates."""
        ...

    def check_chart(self, chart: str) -> None:
        """Raise HelmError when `chart` (a path or an oci:// reference) does not resolve."""
        ...


class ErrorRates(Protocol):
    """Error rates from a metrics system, used instead of counting log lines when one is
    configured (SPEC section 4: "or from a Prometheus query")."""

    @property
    def source(self) -> str:
        """How a reason names where the number came from, e.g. "Prometheus"."""
        ...

    def error_rate(self, namespace: str, deployment: str, *, window_seconds: int) -> float | None:
        """The share of failed requests (0.0 to 1.0) over the last `window_seconds`; None
        when there was no traffic to judge. MetricsUnavailable when it cannot tell."""
        ...


class Registry(Protocol):
    def image_exists(self, image: str, tag: str) -> bool:
        """True when image:tag is in the registry; RegistryError when it cannot tell."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class Store(Protocol):
    """The journal. Writes are atomic; `save` refuses a stale `lock_version`."""

    def create_rollout(self, rollout: Rollout) -> Rollout:
        """Assign an ID and store it. Raises RolloutConflict when the app has an active one."""
        ...

    def save(self, rollout: Rollout) -> Rollout:
        """Store a new state; returns it with lock_version + 1."""
        ...

    def get(self, rollout_id: int) -> Rollout | None: ...

    def list_rollouts(
        self,
        *,
        app: str | None = None,
        active: bool | None = None,
        limit: int = 20,
        phase: Phase | None = None,
    ) -> list[Rollout]:
        """Newest first; `phase` keeps only the rollouts in that phase."""
        ...

    def active_for_app(self, app: str) -> Rollout | None: ...

    def count_active(self) -> int:
        """How many rollouts are not finished; cheap, for health probes."""
        ...

    def record_audit(self, entry: AuditEntry) -> None: ...

    def audit_log(self, *, rollout_id: int | None = None, limit: int = 100) -> list[AuditEntry]: ...

    def enqueue(self, item: InboxItem) -> int:
        """A request for the process that drives the rollout (approve, pause, ...)."""
        ...

    def take_inbox(self, rollout_id: int) -> list[InboxItem]:
        """Pending requests for one rollout, oldest first; each is returned once."""
        ...


class Timers(Protocol):
    """Fires callbacks at stored deadlines. Not durable by itself: the engine re-arms
    every deadline from the journal at start-up."""

    def arm(self, key: str, at: datetime, callback: Callable[[], None]) -> None: ...

    def cancel(self, key: str) -> None: ...


class Listener(Protocol):
    """Hears rollout events (Slack, terminal, metrics). Must return quickly."""

    def publish(self, event: RolloutEvent) -> None: ...
