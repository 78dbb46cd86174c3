"""What can happen to a rollout: results of work the engine did, timers, and people.

Three families, all frozen values, so a test can write the whole history of a rollout as
a list:

- results of effects (``PreflightPassed``, ``TargetsUpdated``, ``HealthChecked``, ...),
  produced by the engine after it ran an effect;
- ``TimerFired`` and ``Recover`` (the engine restarted and adopts the rollout);
- commands from people (``Approve``, ``Pause``, ``Rollback``, ...). Only commands are ever
  refused with :class:`rollout.errors.InvalidTransition`; a result that arrives late (the
  rollout moved on meanwhile) is recorded where it still means something and else dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

from rollout.actions import Action
from rollout.machine.effects import Side, TimerKind
from rollout.model import BlueGreen, OsAccount, Retries, Target

# --- the rollout's own progress ------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """The rollout was just created: schedule it, or begin preflight."""


@dataclass(frozen=True)
class Recover:
    """The engine (re)started and adopts this rollout with nothing of it in flight.

    Work recorded as under way (targets UPDATING or ROLLING_BACK, a side being staged) is
    issued again; every effect the engine runs is safe to repeat, so nothing is done twice.
    """


@dataclass(frozen=True)
class TargetResult:
    """How one tenant (or the blue-green side) came out of an update, check or rollback."""

    namespace: str
    ok: bool
    reason: str = ""
    baseline_latency_ms: float | None = None  # measured before this update changed it
    revision: int | None = None  # helm: the release's revision once this work was done

    def noted(self, target: Target) -> Target:
        """`target` with what this result measured along the way kept on its record."""
        if self.baseline_latency_ms is not None:
            target = replace(target, baseline_latency_ms=self.baseline_latency_ms)
        if self.revision is not None:
            target = replace(target, revision=self.revision)
        return target


@dataclass(frozen=True)
class PreflightPassed:
    """Every check passed. `targets` are planned (pilots in batch 0) with previous images."""

    targets: tuple[Target, ...]
    batch_count: int
    blue_green: BlueGreen | None = None


@dataclass(frozen=True)
class PreflightFailed:
    problems: tuple[str, ...]


@dataclass(frozen=True)
class TargetsUpdated:
    """The targets of one UpdateTargets effect settled: rolled out and judged, or failed."""

    batch: int
    results: tuple[TargetResult, ...]


@dataclass(frozen=True)
class HealthChecked:
    """A check of updated targets (a monitor tick) or of a staged blue-green side."""

    results: tuple[TargetResult, ...]


@dataclass(frozen=True)
class RolledBack:
    results: tuple[TargetResult, ...]


@dataclass(frozen=True)
class TimerFired:
    kind: TimerKind


@dataclass(frozen=True)
class SideCreated:
    """Blue-green: the new ConfigMap and Deployment exist (or could not be created)."""

    ok: bool
    reason: str = ""
    baseline_latency_ms: float | None = None  # of the side serving until the switch


@dataclass(frozen=True)
class Switched:
    """Blue-green: the Service selector now names `version` (or the patch failed)."""

    version: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class SideDeleted:
    which: Side
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class CallsRetried:
    """Kubernetes calls the work of one effect had to try again; told just before that
    effect's result, so the rollout's count is up to date when its result is told."""

    retries: Retries


# --- people ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """An action a person asked for. `user` is a Slack ID or a terminal user name;
    `os_account`, for a terminal request, the OS account it was typed at (`user` is then
    only who it claims to be). `action` names the request on every face."""

    action: ClassVar[Action]
    user: str
    os_account: OsAccount | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Approve(Command):
    action = Action.APPROVE
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Reject(Command):
    action = Action.REJECT


@dataclass(frozen=True)
class Pause(Command):
    action = Action.PAUSE


@dataclass(frozen=True)
class Resume(Command):
    action = Action.RESUME


@dataclass(frozen=True)
class Cancel(Command):
    action = Action.CANCEL


@dataclass(frozen=True)
class Rollback(Command):
    """Roll back what the rollout changed: every tenant, or only `tenants`."""

    action = Action.ROLLBACK
    tenants: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Retry(Command):
    """After a failure: update the failed tenants again."""

    action = Action.RETRY


@dataclass(frozen=True)
class Skip(Command):
    """After a failure: leave the failed tenants as they are and carry on."""

    action = Action.SKIP


@dataclass(frozen=True)
class RemoveOld(Command):
    """Blue-green, after success: delete the old Deployment and ConfigMap."""

    action = Action.REMOVE_OLD


Event = (
    Start
    | Recover
    | PreflightPassed
    | PreflightFailed
    | TargetsUpdated
    | HealthChecked
    | RolledBack
    | TimerFired
    | SideCreated
    | Switched
    | SideDeleted
    | CallsRetried
    | Command
)
