"""The nouns of a release: a Rollout, its Targets, approvals, and the phase it is in.

All values are frozen; a change is a new value made with a ``with_*`` method or
``dataclasses.replace``. The journal stores exactly these fields, so anything the engine
needs after a restart lives here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from rollout.actions import Action
from rollout.windows import Window


class Strategy(StrEnum):
    ROLLING = "rolling"
    BLUE_GREEN = "blue-green"
    HELM = "helm"  # rolling, each tenant a Helm release moved with `helm upgrade`

    @property
    def per_tenant(self) -> bool:
        """Tenants in pilots and batches (rolling, helm), not one app's two sides."""
        return self is not Strategy.BLUE_GREEN


class Phase(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its `at=` start time
    PREFLIGHT = "preflight"
    PILOT = "pilot"  # updating the pilot tenants
    STAGING = "staging"  # blue-green: new side created, waiting until it is ready and healthy
    MONITORING = "monitoring"  # pilot monitor window (rolling) or post-switch window (blue-green)
    AWAITING_APPROVAL = "awaiting-approval"
    BATCH = "batch"  # updating batch `current_batch`
    WAITING = "waiting"  # the pause between batches
    PAUSED = "paused"  # stopped by a person or by a failure; `paused_from` says where
    ROLLING_BACK = "rolling-back"
    ROLLED_BACK = "rolled-back"
    COMPLETED = "completed"
    FAILED = "failed"  # a refusal, in journals written before REFUSED: read, never written
    REFUSED = "refused"  # preflight found problems: it never started and changed nothing
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # the approval gate timed out

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_PHASES

    @property
    def label(self) -> str:
        return self.value.replace("-", " ")


TERMINAL_PHASES = frozenset(
    {
        Phase.ROLLED_BACK,
        Phase.COMPLETED,
        Phase.FAILED,
        Phase.REFUSED,
        Phase.CANCELLED,
        Phase.EXPIRED,
    }
)


class TargetStatus(StrEnum):
    PENDING = "pending"
    UPDATING = "updating"  # intent recorded before the patch: a restart must check, not re-patch
    UPDATED = "updated"  # rolled out and healthy
    FAILED = "failed"
    SKIPPED = "skipped"
    ROLLING_BACK = "rolling-back"  # intent recorded before the undo
    ROLLED_BACK = "rolled-back"
    ROLLBACK_FAILED = "rollback-failed"

    @property
    def changed(self) -> bool:
        """True when the tenant may be running something other than its previous image."""
        return self in {
            TargetStatus.UPDATING,
            TargetStatus.UPDATED,
            TargetStatus.FAILED,
            TargetStatus.ROLLING_BACK,
            TargetStatus.ROLLBACK_FAILED,
        }


# How an update can settle; a target remembers the last of these through a roll back.
SETTLED = frozenset({TargetStatus.UPDATED, TargetStatus.FAILED, TargetStatus.SKIPPED})

PILOT_BATCH = 0  # batch index of the pilot tenants; regular batches count from 1


@dataclass(frozen=True)
class Target:
    """One tenant namespace (rolling) or one side (blue-green) and what happened to it."""

    namespace: str
    batch: int
    status: TargetStatus = TargetStatus.PENDING
    previous_image: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    reason: str = ""
    # Response time measured before the change, kept so a restarted engine still judges
    # latency against it (SPEC 4); None until measured, or when it could not be.
    baseline_latency_ms: float | None = None
    # `update_result` as it stood before the last change of status, so that it outlives a
    # roll back, whose statuses hide it: a tenant that failed and was rolled back still
    # failed. Read through `update_result`, never directly.
    outcome: TargetStatus | None = None
    # Helm apps: the release's revision before the change (preflight records it, and a
    # roll back returns to it) and the one rollbot's last upgrade or roll back made.
    previous_revision: int | None = None
    revision: int | None = None

    @property
    def update_result(self) -> TargetStatus | None:
        """How its last update settled, whatever a roll back did since; None while it is
        not started or under way (and for a roll back of an update that never settled)."""
        if self.status in SETTLED:
            return self.status
        if self.status in {TargetStatus.PENDING, TargetStatus.UPDATING}:
            return None
        return self.outcome

    def with_status(
        self, status: TargetStatus, *, at: datetime | None = None, reason: str = ""
    ) -> Target:
        started = self.started_at
        finished = self.finished_at
        if status in {TargetStatus.UPDATING, TargetStatus.ROLLING_BACK}:
            started, finished = at or started, None
        elif at is not None:
            finished = at
        return replace(
            self,
            status=status,
            started_at=started,
            finished_at=finished,
            reason=reason,
            outcome=self.update_result,  # as it stood before this change
        )


@dataclass(frozen=True)
class OsAccount:
    """The operating-system account and host a terminal request was typed at.

    A terminal's person is only claimed (`--as`, `ROLLBOT_USER`); the account is what the
    machine itself says about who ran the command, so it is recorded beside the person and
    four-eyes compares it too. Slack requests have none: Slack verifies its users.
    """

    user: str
    host: str

    def __str__(self) -> str:
        return f"{self.user}@{self.host}" if self.host else self.user

    @classmethod
    def parse(cls, text: str | None) -> OsAccount | None:
        """`ops@build-7` back into an account; the last `@` splits, as a host has none."""
        if not text:
            return None
        user, _, host = text.rpartition("@")
        return cls(user=user, host=host) if user else cls(user=host, host="")


def from_terminal(account: OsAccount | None) -> str:
    """What follows a person's name when they acted from a terminal: ` (from a terminal:
    ops@build-7)`; nothing for Slack. One phrase for reasons, thread lines and edits."""
    return "" if account is None else f" (from a terminal: {account})"


@dataclass(frozen=True)
class Approval:
    user: str
    decision: Action  # APPROVE or REJECT
    at: datetime
    gate: int  # the batch index the gate stands before
    os_account: OsAccount | None = None  # a terminal decision: the account it was typed at


@dataclass(frozen=True)
class Settings:
    """The effective options of one rollout: app config overlaid with command options."""

    batch_size: int = 5
    batch_percent: int | None = None
    waves: str = "fixed"  # "fixed" | "double"
    wait_seconds: int = 60
    pilot_count: int = 2
    pilot_tenants: tuple[str, ...] = ()
    pilot_monitor_seconds: int = 1800
    monitor_seconds: int = 300  # blue-green post-switch window
    rollout_timeout_seconds: int = 300
    crashloop_restarts: int = 3  # a new pod crash-looping this often fails its tenant early
    approval: bool = True
    approvals_required: int = 1
    four_eyes: bool = True
    approval_timeout_seconds: int = 4 * 3600
    auto_rollback: bool = False
    error_rate: float = 0.05  # share, 0.05 == 5%
    latency_factor: float | None = 2.0
    remove_old_after_seconds: int | None = None  # blue-green: delete the old side after this
    # The version bump found when it was planned (SPEC 12: "patch", "minor", ...; "" when
    # none was looked for), the version it was found against, and the keys above that
    # the app's `versions:` rule for it set to other values than the app's own.
    bump: str = ""
    bump_from: str = ""
    bump_changed: tuple[str, ...] = ()
    window_required: bool = False  # the bump's rule asked for a release window


@dataclass(frozen=True)
class BlueGreen:
    """What a blue-green rollout knows about its two sides."""

    namespace: str
    service: str
    old_version: str | None = None
    old_deployment: str | None = None
    old_config_map: str | None = None
    new_deployment: str = ""
    new_config_map: str = ""
    switched: bool = False
    old_removed: bool = False  # its removal was decided (journalled before the delete runs)
    old_gone: bool = False  # the cluster confirmed the delete


@dataclass(frozen=True)
class Retries:
    """Kubernetes calls tried again after a passing API error (a 5xx, a 429, a dropped
    connection), by kind of call ("patch", "read", ...), sorted by kind."""

    by_kind: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> Retries:
        return cls(tuple(sorted((kind, n) for kind, n in counts.items() if n > 0)))

    @property
    def total(self) -> int:
        return sum(n for _, n in self.by_kind)

    def plus(self, other: Retries) -> Retries:
        merged = dict(self.by_kind)
        for kind, n in other.by_kind:
            merged[kind] = merged.get(kind, 0) + n
        return Retries.of(merged)


@dataclass(frozen=True)
class Rollout:
    id: int
    app: str
    strategy: Strategy
    version: str
    image: str  # repository without the tag
    requested_by: str
    created_at: datetime
    settings: Settings
    phase: Phase = Phase.PREFLIGHT
    targets: tuple[Target, ...] = ()
    batch_count: int = 0  # regular batches, not counting the pilot batch
    current_batch: int = PILOT_BATCH
    deadline: datetime | None = None  # when the current wait, window or gate ends
    start_at: datetime | None = None  # `at=`: a scheduled start
    # PAUSED: the phase it stopped in. Any other phase: a stop asked for while work was in
    # flight (CANCELLED or ROLLING_BACK), taken once that work settles.
    paused_from: Phase | None = None
    approvals: tuple[Approval, ...] = ()
    reason: str = ""  # why it is paused, failed, rolled back or cancelled
    finished_at: datetime | None = None
    blue_green: BlueGreen | None = None
    rollback_of: tuple[str, ...] | None = None  # tenants= of a partial rollback
    source: str = "cli"  # where it was requested: "slack" or "cli"
    lock_version: int = 0  # bumped on every save; the store refuses stale writes
    channel: str = ""  # the Slack channel it was asked for in; "" when not asked in Slack
    # Started from a terminal: the OS account that ran `rollbot deploy`, whatever person it
    # claimed to be; four-eyes keeps that account from approving it too.
    requested_from: OsAccount | None = None
    retries: Retries = field(default_factory=Retries)  # Kubernetes calls tried again

    @property
    def target_image(self) -> str:
        return f"{self.image}:{self.version}"

    @property
    def active(self) -> bool:
        return not self.phase.terminal

    @property
    def old_side_removal_at(self) -> datetime | None:
        """When a completed blue-green rollout's old side is due to be deleted on its own
        (`remove_old_after`); None when nothing is due (not such a rollout, no delay
        configured, or the old side is gone already)."""
        bg, delay = self.blue_green, self.settings.remove_old_after_seconds
        if self.phase is not Phase.COMPLETED or bg is None or bg.old_removed or delay is None:
            return None
        if self.finished_at is None:
            return None
        return self.finished_at + timedelta(seconds=delay)

    @property
    def old_side_removal_unconfirmed(self) -> bool:
        """The old side's removal was decided but the cluster never confirmed it: a crash
        came between the two, so the delete is to be sent again (it is idempotent)."""
        bg = self.blue_green
        return (
            self.phase is Phase.COMPLETED and bg is not None and bg.old_removed and not bg.old_gone
        )

    @property
    def old_side_removal_owed(self) -> bool:
        """A completed blue-green rollout still owes the removal of its old side: at its
        `remove_old_after` time, or again, after a crash left it unconfirmed."""
        return self.old_side_removal_at is not None or self.old_side_removal_unconfirmed

    def target(self, namespace: str) -> Target:
        for t in self.targets:
            if t.namespace == namespace:
                return t
        raise KeyError(namespace)

    def batch(self, index: int) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.batch == index)

    def with_targets(self, changed: Iterable[Target]) -> Rollout:
        by_ns = {t.namespace: t for t in changed}
        return replace(self, targets=tuple(by_ns.get(t.namespace, t) for t in self.targets))

    def with_phase(
        self, phase: Phase, *, deadline: datetime | None = None, reason: str | None = None
    ) -> Rollout:
        return replace(
            self, phase=phase, deadline=deadline, reason=self.reason if reason is None else reason
        )


@dataclass(frozen=True)
class AuditEntry:
    """Who did what, when, and what came of it: every action and every refusal."""

    at: datetime
    user: str
    action: str
    outcome: str  # "ok" | "refused" | "failed"
    rollout_id: int | None = None
    detail: str = ""
    source: str = "cli"
    extra: dict[str, str] = field(default_factory=dict)
    os_account: OsAccount | None = None  # a terminal action: the account it was typed at


@dataclass(frozen=True)
class HealthSpec:
    port: int = 3000
    path: str = "/api/health"
    ready_path: str = "/api/ready"
    log_window_seconds: int = 300  # how far back error rates are read from pod logs


@dataclass(frozen=True)
class VersionRule:
    """One entry of an app's `versions:` (SPEC 12): the settings a rollout of that bump
    starts from, and whether it must start inside a release window (`windows`, when any
    are configured)."""

    bump: str  # "patch" | "minor" | "major"
    settings: Settings
    window_required: bool = False
    windows: tuple[Window, ...] = ()


@dataclass(frozen=True)
class AppSpec:
    """One entry of `apps:` in rollbot.yaml, validated, in the engine's terms."""

    name: str
    strategy: Strategy
    image: str  # repository without tag
    deployment: str
    container: str
    settings: Settings
    deployers: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    # rolling
    tenant_selector: str = "app.kubernetes.io/component=tenant"
    tenant_order: tuple[str, ...] = ()  # optional explicit order; the rest follow by name
    # blue-green
    namespace: str = ""
    service: str = ""
    config_map: str = ""  # prefix: ConfigMaps are named <prefix>-<version>
    app_label: str = ""  # value of the `app` label; defaults to `deployment`
    # `--auto-approve` passes the gate even where four-eyes or approvals_required forbid the
    # requester's own approval: for CI and benchmarks, where no second person exists.
    terminal_auto_approve: bool = False
    # helm: each tenant is release `release_name` (`{slug}`: the namespace without
    # `tenant-`) of `chart`; the version goes to the value at `values_key`
    chart: str = ""
    release_name: str = "{slug}-isp"
    values_key: str = "image.tag"
    # `versions:`: per bump, the app's settings with that bump's rule laid over them
    versions: tuple[VersionRule, ...] = ()

    def rule(self, bump: str) -> VersionRule | None:
        return next((rule for rule in self.versions if rule.bump == bump), None)

    def release(self, namespace: str) -> str:
        """The Helm release of a tenant: `{slug}-isp` in `tenant-{slug}` by default."""
        slug = namespace.removeprefix("tenant-")
        return self.release_name.replace("{slug}", slug).replace("{namespace}", namespace)


class EventKind(StrEnum):
    STARTED = "started"
    PLANNED = "planned"
    PROGRESS = "progress"  # phase or counts changed; the parent message is re-rendered
    BATCH_DONE = "batch-done"
    AWAITING_APPROVAL = "awaiting-approval"
    APPROVAL_RECORDED = "approval-recorded"  # one of several required approvals
    APPROVED = "approved"
    REJECTED = "rejected"
    PAUSED = "paused"
    RESUMED = "resumed"
    FAILED = "failed"  # a tenant failed; the rollout paused with choices
    ROLLING_BACK = "rolling-back"
    ROLLED_BACK = "rolled-back"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUSED = "refused"  # preflight refused the rollout
    SWITCHED = "switched"  # blue-green: the Service now points at the new side
    OLD_REMOVED = "old-removed"


@dataclass(frozen=True)
class RolloutEvent:
    """Something people should hear about. `rollout` is the state right after it."""

    kind: EventKind
    rollout: Rollout
    at: datetime
    batch: int | None = None
    user: str | None = None
    detail: str = ""
    problems: tuple[str, ...] = ()
    os_account: OsAccount | None = None  # `user` acted from a terminal, at this account
    action: Action | None = None  # the request of `user` this event reports


@dataclass(frozen=True)
class InboxItem:
    """A request from a person or another process, queued for the rollout's driver.

    `action` is what is asked: a name no :class:`Action` has (a newer rollbot may have
    left it in the journal) stays a string, to be refused; `tenants` narrows a rollback;
    `os_account` is where a terminal request was typed (`user` is only who it claims to
    be)."""

    rollout_id: int
    action: Action | str
    user: str
    at: datetime
    tenants: tuple[str, ...] | None = None
    source: str = "cli"
    id: int = 0
    os_account: OsAccount | None = None
