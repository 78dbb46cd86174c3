"""What the state machine asks the engine to do: frozen values, executed only by the engine.

An effect names the work, not how to do it; the engine reads whatever else it needs (the
image, the app's deployment name, previous images) from the rollout as saved just before
the effect runs. Every effect is safe to run twice: a tenant already on the wanted image is
not patched again, creating an existing side changes nothing, deleting a missing one is
fine. That is what lets :class:`rollout.machine.Recover` re-issue interrupted work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from rollout.actions import Action
from rollout.model import EventKind, OsAccount

Side = Literal["new", "old"]


class TimerKind(StrEnum):
    SCHEDULED_START = "scheduled-start"
    WAIT_OVER = "wait-over"  # the pause between two batches ended
    MONITOR_TICK = "monitor-tick"  # time for the next health check of a monitor window
    MONITOR_OVER = "monitor-over"  # the last check of a window, at its end
    APPROVAL_EXPIRED = "approval-expired"
    REMOVE_OLD = "remove-old"  # blue-green: delete the old side after a delay

    @property
    def slot(self) -> str:
        """Timers sharing a slot replace each other: a rollout waits for one thing at a
        time, except the old side's removal, which outlives the rollout's last phase."""
        return "remove-old" if self is TimerKind.REMOVE_OLD else "phase"


@dataclass(frozen=True)
class RunPreflight:
    """Check everything (SPEC 2.2 / 3), resolve and plan the targets, record previous
    images; answer PreflightPassed or PreflightFailed with every problem at once."""


@dataclass(frozen=True)
class UpdateTargets:
    """Put these tenants of `batch` on the new image (unless already there), wait for each
    rollout and judge its health, concurrently; answer TargetsUpdated."""

    batch: int
    namespaces: tuple[str, ...]


@dataclass(frozen=True)
class CheckHealth:
    """Judge the health of these targets; answer HealthChecked. `wait`: first wait for the
    rollout to finish (a newly staged blue-green side); otherwise it is a monitor tick."""

    namespaces: tuple[str, ...]
    wait: bool = False


@dataclass(frozen=True)
class RollBackTargets:
    """Set each tenant's container back to its recorded previous image and wait for it;
    answer RolledBack."""

    namespaces: tuple[str, ...]


@dataclass(frozen=True)
class ArmTimer:
    kind: TimerKind
    at: datetime


@dataclass(frozen=True)
class CancelTimer:
    kind: TimerKind


@dataclass(frozen=True)
class CreateSide:
    """Blue-green: create the new version's ConfigMap and Deployment; answer SideCreated."""


@dataclass(frozen=True)
class SwitchService:
    """Blue-green: point the Service selector at `version`; answer Switched."""

    version: str


@dataclass(frozen=True)
class DeleteSide:
    """Blue-green: delete one side's Deployment and ConfigMap; answer SideDeleted."""

    which: Side


@dataclass(frozen=True)
class Publish:
    """Tell the listeners (Slack, terminal, metrics); the engine attaches the saved rollout."""

    kind: EventKind
    batch: int | None = None
    user: str | None = None
    detail: str = ""
    problems: tuple[str, ...] = ()
    os_account: OsAccount | None = None  # `user` acted from a terminal, at this account
    action: Action | None = None  # the request of `user` this reports


Effect = (
    RunPreflight
    | UpdateTargets
    | CheckHealth
    | RollBackTargets
    | ArmTimer
    | CancelTimer
    | CreateSide
    | SwitchService
    | DeleteSide
    | Publish
)
