"""The state machine, table-driven: (phase, event) -> new phase and effects.

Each row starts from a rollout in some phase, feeds one event, and checks the phase and
the effects that come out, in order. Publish effects are compared by kind only (their
wording belongs to the people reading them); every other effect is compared exactly.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from rollout.actions import Action
from rollout.errors import InvalidTransition
from rollout.machine import (
    Approve,
    ArmTimer,
    Cancel,
    CancelTimer,
    CheckHealth,
    CreateSide,
    DeleteSide,
    Effect,
    Event,
    HealthChecked,
    Pause,
    PreflightFailed,
    PreflightPassed,
    Publish,
    Recover,
    Reject,
    RemoveOld,
    Resume,
    Retry,
    Rollback,
    RollBackTargets,
    RolledBack,
    RunPreflight,
    SideCreated,
    SideDeleted,
    Skip,
    Start,
    Switched,
    SwitchService,
    TargetResult,
    TargetsUpdated,
    TimerFired,
    TimerKind,
    UpdateTargets,
    decide,
    monitor_interval,
)
from rollout.model import (
    PILOT_BATCH,
    BlueGreen,
    EventKind,
    OsAccount,
    Phase,
    Rollout,
    Settings,
    Strategy,
    Target,
    TargetStatus,
)
from tests.builders import make_rollout, planned_targets
from tests.fakes import T0

NOW = T0
OLD = "reg/isp:v1.2.3"
S = TargetStatus
K = EventKind
PLAN = {"p": 0, "a": 1, "b": 1, "c": 2, "d": 2}  # one pilot, two batches of two


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def told(kind: EventKind) -> tuple[str, EventKind]:
    return ("told", kind)


def shape(effects: tuple[Effect, ...]) -> list[Any]:
    return [told(e.kind) if isinstance(e, Publish) else e for e in effects]


def rolling(
    phase: Phase = Phase.PREFLIGHT,
    *,
    statuses: dict[str, TargetStatus] | None = None,
    planned: bool = True,
    **changes: Any,
) -> Rollout:
    """The standard rolling rollout #7: pilot p, batch 1 = a, b; batch 2 = c, d."""
    settings = Settings(
        batch_size=2,
        wait_seconds=60,
        pilot_count=1,
        pilot_monitor_seconds=300,
        approval=True,
        approval_timeout_seconds=3600,
    )
    settings = replace(settings, **changes.pop("settings", {}))
    standard = {
        "image": "reg/isp",
        "created_at": NOW,
        "settings": settings,
        "phase": phase,
        "targets": planned_targets(PLAN, statuses=statuses, previous_image=OLD) if planned else (),
        "batch_count": 2 if planned else 0,
    }
    return make_rollout(**{**standard, **changes})


def blue_green(
    phase: Phase = Phase.STAGING, *, status: TargetStatus = S.UPDATING, **changes: Any
) -> Rollout:
    wanted = {"approval": False, "monitor_seconds": 300, **changes.pop("settings", {})}
    settings = replace(Settings(), **wanted)
    bg = BlueGreen(
        namespace="platform-admin",
        service="platform-admin-app",
        old_version="v1.2.3",
        old_deployment="platform-admin-app",
        old_config_map="platform-admin-config-v1.2.3",
        new_deployment="platform-admin-app-v1-3-0",
        new_config_map="platform-admin-config-v1.3.0",
    )
    bg = replace(bg, **changes.pop("bg", {}))
    standard = {
        "id": 8,
        "app": "admin",
        "strategy": Strategy.BLUE_GREEN,
        "image": "reg/admin",
        "created_at": NOW,
        "settings": settings,
        "phase": phase,
        "targets": (
            Target("platform-admin", PILOT_BATCH, status=status, previous_image="reg/admin:v1.2.3"),
        ),
        "blue_green": bg,
    }
    return make_rollout(**{**standard, **changes})


def ok(*names: str) -> tuple[TargetResult, ...]:
    return tuple(TargetResult(n, True) for n in names)


def bad(name: str, reason: str = "rollout timed out") -> TargetResult:
    return TargetResult(name, False, reason)


UPDATING_PILOT = {"p": S.UPDATING}
PILOT_UP = {"p": S.UPDATED}
BATCH1_UPDATING = {"p": S.UPDATED, "a": S.UPDATING, "b": S.UPDATING}
BATCH1_UP = {"p": S.UPDATED, "a": S.UPDATED, "b": S.UPDATED}
B_FAILED = {"p": S.UPDATED, "a": S.UPDATED, "b": S.FAILED}
ALL_UP = {ns: S.UPDATED for ns in PLAN}
PLANNED = planned_targets(PLAN, previous_image=OLD)
WINDOW_END = at(300)

# (id, rollout, event, expected phase, expected effects)
ROWS: list[tuple[str, Rollout, Event, Phase, list[Any]]] = [
    (
        "start-now",
        rolling(planned=False),
        Start(),
        Phase.PREFLIGHT,
        [told(K.STARTED), RunPreflight()],
    ),
    (
        "start-scheduled",
        rolling(planned=False, start_at=at(600)),
        Start(),
        Phase.SCHEDULED,
        [told(K.STARTED), ArmTimer(TimerKind.SCHEDULED_START, at(600))],
    ),
    (
        "scheduled-start-fires",
        rolling(Phase.SCHEDULED, planned=False, start_at=NOW),
        TimerFired(TimerKind.SCHEDULED_START),
        Phase.PREFLIGHT,
        [RunPreflight()],
    ),
    (
        "scheduled-start-fires-early-rearms",
        rolling(Phase.SCHEDULED, planned=False, start_at=at(5)),
        TimerFired(TimerKind.SCHEDULED_START),
        Phase.SCHEDULED,
        [ArmTimer(TimerKind.SCHEDULED_START, at(5))],
    ),
    (
        "preflight-refused",
        rolling(planned=False),
        PreflightFailed(("tenant-x has no deployment isp-ops-app",)),
        Phase.FAILED,
        [told(K.REFUSED)],
    ),
    (
        "preflight-passed-pilots-first",
        rolling(planned=False),
        PreflightPassed(PLANNED, batch_count=2),
        Phase.PILOT,
        [told(K.PLANNED), told(K.PROGRESS), UpdateTargets(0, ("p",))],
    ),
    (
        "pilot-ok-opens-monitor-window",
        rolling(Phase.PILOT, statuses=UPDATING_PILOT),
        TargetsUpdated(0, ok("p")),
        Phase.MONITORING,
        [told(K.BATCH_DONE), told(K.PROGRESS), ArmTimer(TimerKind.MONITOR_TICK, at(30))],
    ),
    (
        "pilot-failed-pauses-with-choices",
        rolling(Phase.PILOT, statuses=UPDATING_PILOT),
        TargetsUpdated(0, (bad("p"),)),
        Phase.PAUSED,
        [told(K.BATCH_DONE), told(K.FAILED)],
    ),
    (
        "pilot-failed-auto-rollback",
        rolling(Phase.PILOT, statuses=UPDATING_PILOT, settings={"auto_rollback": True}),
        TargetsUpdated(0, (bad("p"),)),
        Phase.ROLLING_BACK,
        [told(K.BATCH_DONE), told(K.FAILED), told(K.ROLLING_BACK), RollBackTargets(("p",))],
    ),
    (
        "monitor-tick-checks-pilots",
        rolling(Phase.MONITORING, statuses=PILOT_UP, deadline=WINDOW_END),
        TimerFired(TimerKind.MONITOR_TICK),
        Phase.MONITORING,
        [CheckHealth(("p",))],
    ),
    (
        "monitor-healthy-arms-next-tick",
        rolling(Phase.MONITORING, statuses=PILOT_UP, deadline=WINDOW_END),
        HealthChecked(ok("p")),
        Phase.MONITORING,
        [ArmTimer(TimerKind.MONITOR_TICK, at(30))],
    ),
    (
        "monitor-last-tick-is-window-end",
        rolling(Phase.MONITORING, statuses=PILOT_UP, deadline=at(10)),
        HealthChecked(ok("p")),
        Phase.MONITORING,
        [ArmTimer(TimerKind.MONITOR_OVER, at(10))],
    ),
    (
        "monitor-window-over-opens-gate",
        rolling(Phase.MONITORING, statuses=PILOT_UP, deadline=NOW),
        HealthChecked(ok("p")),
        Phase.AWAITING_APPROVAL,
        [ArmTimer(TimerKind.APPROVAL_EXPIRED, at(3600)), told(K.AWAITING_APPROVAL)],
    ),
    (
        "monitor-unhealthy-pauses",
        rolling(Phase.MONITORING, statuses=PILOT_UP, deadline=WINDOW_END),
        HealthChecked((bad("p", "error rate 20.0% over 5.0%"),)),
        Phase.PAUSED,
        [CancelTimer(TimerKind.MONITOR_TICK), told(K.FAILED)],
    ),
    (
        "approve-starts-batch-1",
        rolling(Phase.AWAITING_APPROVAL, statuses=PILOT_UP, deadline=at(3600)),
        Approve("U0BOB"),
        Phase.BATCH,
        [
            CancelTimer(TimerKind.APPROVAL_EXPIRED),
            told(K.APPROVED),
            told(K.PROGRESS),
            UpdateTargets(1, ("a", "b")),
        ],
    ),
    (
        "approve-one-of-two",
        rolling(
            Phase.AWAITING_APPROVAL,
            statuses=PILOT_UP,
            deadline=at(3600),
            settings={"approvals_required": 2},
        ),
        Approve("U0BOB"),
        Phase.AWAITING_APPROVAL,
        [told(K.APPROVAL_RECORDED)],
    ),
    (
        "reject-rolls-pilots-back",
        rolling(Phase.AWAITING_APPROVAL, statuses=PILOT_UP, deadline=at(3600)),
        Reject("U0BOB"),
        Phase.ROLLING_BACK,
        [
            told(K.REJECTED),
            CancelTimer(TimerKind.APPROVAL_EXPIRED),
            told(K.ROLLING_BACK),
            RollBackTargets(("p",)),
        ],
    ),
    (
        "reject-without-pilots-cancels",
        rolling(Phase.AWAITING_APPROVAL, deadline=at(3600)),
        Reject("U0BOB"),
        Phase.CANCELLED,
        [told(K.REJECTED), CancelTimer(TimerKind.APPROVAL_EXPIRED), told(K.CANCELLED)],
    ),
    (
        "approval-expires",
        rolling(Phase.AWAITING_APPROVAL, statuses=PILOT_UP, deadline=NOW),
        TimerFired(TimerKind.APPROVAL_EXPIRED),
        Phase.EXPIRED,
        [told(K.EXPIRED)],
    ),
    (
        "batch-ok-waits",
        rolling(Phase.BATCH, statuses=BATCH1_UPDATING, current_batch=1),
        TargetsUpdated(1, ok("a", "b")),
        Phase.WAITING,
        [told(K.BATCH_DONE), ArmTimer(TimerKind.WAIT_OVER, at(60)), told(K.PROGRESS)],
    ),
    (
        "batch-ok-no-wait-goes-on",
        rolling(
            Phase.BATCH, statuses=BATCH1_UPDATING, current_batch=1, settings={"wait_seconds": 0}
        ),
        TargetsUpdated(1, ok("a", "b")),
        Phase.BATCH,
        [told(K.BATCH_DONE), told(K.PROGRESS), UpdateTargets(2, ("c", "d"))],
    ),
    (
        "wait-over-starts-next-batch",
        rolling(Phase.WAITING, statuses=BATCH1_UP, current_batch=1, deadline=NOW),
        TimerFired(TimerKind.WAIT_OVER),
        Phase.BATCH,
        [told(K.PROGRESS), UpdateTargets(2, ("c", "d"))],
    ),
    (
        "last-batch-completes",
        rolling(
            Phase.BATCH,
            statuses={**BATCH1_UP, "c": S.UPDATING, "d": S.UPDATING},
            current_batch=2,
        ),
        TargetsUpdated(2, ok("c", "d")),
        Phase.COMPLETED,
        [told(K.BATCH_DONE), told(K.COMPLETED)],
    ),
    (
        "pause-mid-batch-leaves-updates-in-flight",
        rolling(Phase.BATCH, statuses=BATCH1_UPDATING, current_batch=1),
        Pause("U0ALICE"),
        Phase.PAUSED,
        [told(K.PAUSED)],
    ),
    (
        "results-while-paused-are-recorded",
        rolling(Phase.PAUSED, statuses=BATCH1_UPDATING, current_batch=1, paused_from=Phase.BATCH),
        TargetsUpdated(1, ok("a", "b")),
        Phase.PAUSED,
        [told(K.BATCH_DONE)],
    ),
    (
        "resume-after-batch-settled-goes-on",
        rolling(Phase.PAUSED, statuses=BATCH1_UP, current_batch=1, paused_from=Phase.BATCH),
        Resume("U0ALICE"),
        Phase.WAITING,
        [told(K.RESUMED), ArmTimer(TimerKind.WAIT_OVER, at(60)), told(K.PROGRESS)],
    ),
    (
        "resume-a-wait-keeps-its-deadline",
        rolling(
            Phase.PAUSED,
            statuses=BATCH1_UP,
            current_batch=1,
            paused_from=Phase.WAITING,
            deadline=at(20),
        ),
        Resume("U0ALICE"),
        Phase.WAITING,
        [told(K.RESUMED), ArmTimer(TimerKind.WAIT_OVER, at(20))],
    ),
    (
        "pause-a-wait-cancels-its-timer",
        rolling(Phase.WAITING, statuses=BATCH1_UP, current_batch=1, deadline=at(20)),
        Pause("U0BOB"),
        Phase.PAUSED,
        [CancelTimer(TimerKind.WAIT_OVER), told(K.PAUSED)],
    ),
    (
        "retry-failed",
        rolling(Phase.PAUSED, statuses=B_FAILED, current_batch=1, paused_from=Phase.BATCH),
        Retry("U0ALICE"),
        Phase.BATCH,
        [told(K.RESUMED), UpdateTargets(1, ("b",))],
    ),
    (
        "skip-failed-and-go-on",
        rolling(Phase.PAUSED, statuses=B_FAILED, current_batch=1, paused_from=Phase.BATCH),
        Skip("U0ALICE"),
        Phase.WAITING,
        [told(K.RESUMED), ArmTimer(TimerKind.WAIT_OVER, at(60)), told(K.PROGRESS)],
    ),
    (
        "roll-back-all-after-failure",
        rolling(Phase.PAUSED, statuses=B_FAILED, current_batch=1, paused_from=Phase.BATCH),
        Rollback("U0ALICE"),
        Phase.ROLLING_BACK,
        [told(K.ROLLING_BACK), RollBackTargets(("p", "a", "b"))],
    ),
    (
        "roll-back-mid-batch-waits-for-in-flight",
        rolling(Phase.BATCH, statuses=BATCH1_UPDATING, current_batch=1),
        Rollback("U0ALICE"),
        Phase.ROLLING_BACK,
        [told(K.ROLLING_BACK), RollBackTargets(("p",))],
    ),
    (
        "in-flight-results-join-the-roll-back",
        rolling(
            Phase.ROLLING_BACK,
            statuses={"p": S.ROLLED_BACK, "a": S.UPDATING, "b": S.UPDATING},
            current_batch=1,
        ),
        TargetsUpdated(1, (TargetResult("a", True), bad("b"))),
        Phase.ROLLING_BACK,
        [told(K.BATCH_DONE), RollBackTargets(("a", "b"))],
    ),
    (
        "rolled-back",
        rolling(Phase.ROLLING_BACK, statuses={"p": S.ROLLING_BACK}),
        RolledBack(ok("p")),
        Phase.ROLLED_BACK,
        [told(K.ROLLED_BACK)],
    ),
    (
        "partial-roll-back-of-completed",
        rolling(Phase.COMPLETED, statuses=ALL_UP, current_batch=2, finished_at=NOW),
        Rollback("U0ALICE", tenants=("c",)),
        Phase.ROLLING_BACK,
        [told(K.ROLLING_BACK), RollBackTargets(("c",))],
    ),
    (
        "cancel-mid-batch-lets-updates-settle",
        rolling(Phase.BATCH, statuses=BATCH1_UPDATING, current_batch=1),
        Cancel("U0ALICE"),
        Phase.BATCH,
        [told(K.PROGRESS)],
    ),
    (
        "cancelled-once-settled",
        rolling(
            Phase.BATCH,
            statuses=BATCH1_UPDATING,
            current_batch=1,
            paused_from=Phase.CANCELLED,
        ),
        TargetsUpdated(1, ok("a", "b")),
        Phase.CANCELLED,
        [told(K.BATCH_DONE), told(K.CANCELLED)],
    ),
    (
        "cancel-while-waiting",
        rolling(Phase.WAITING, statuses=BATCH1_UP, current_batch=1, deadline=at(20)),
        Cancel("U0ALICE"),
        Phase.CANCELLED,
        [CancelTimer(TimerKind.WAIT_OVER), told(K.CANCELLED)],
    ),
    (
        "cancel-during-preflight",
        rolling(planned=False),
        Cancel("U0ALICE"),
        Phase.CANCELLED,
        [told(K.CANCELLED)],
    ),
    (
        "late-preflight-result-after-cancel-is-dropped",
        rolling(Phase.CANCELLED, planned=False),
        PreflightPassed(PLANNED, batch_count=2),
        Phase.CANCELLED,
        [],
    ),
    (
        "stale-wait-timer-in-another-phase-is-dropped",
        rolling(Phase.BATCH, statuses=BATCH1_UPDATING, current_batch=1),
        TimerFired(TimerKind.WAIT_OVER),
        Phase.BATCH,
        [],
    ),
    # --- after a restart ---
    (
        "recover-mid-batch-reissues-unsettled-and-unstarted",
        rolling(
            Phase.BATCH, statuses={"p": S.UPDATED, "a": S.UPDATING, "b": S.UPDATED}, current_batch=1
        ),
        Recover(),
        Phase.BATCH,
        [UpdateTargets(1, ("a",))],
    ),
    (
        "recover-batch-settled-moves-on",
        rolling(Phase.BATCH, statuses=BATCH1_UP, current_batch=1),
        Recover(),
        Phase.WAITING,
        [ArmTimer(TimerKind.WAIT_OVER, at(60)), told(K.PROGRESS)],
    ),
    (
        "recover-gate-rearms-expiry",
        rolling(Phase.AWAITING_APPROVAL, statuses=PILOT_UP, deadline=at(100)),
        Recover(),
        Phase.AWAITING_APPROVAL,
        [ArmTimer(TimerKind.APPROVAL_EXPIRED, at(100))],
    ),
    (
        "recover-window-rearms-tick",
        rolling(Phase.MONITORING, statuses=PILOT_UP, deadline=at(10)),
        Recover(),
        Phase.MONITORING,
        [ArmTimer(TimerKind.MONITOR_OVER, at(10))],
    ),
    (
        "recover-scheduled-rearms-start",
        rolling(Phase.SCHEDULED, planned=False, start_at=at(50)),
        Recover(),
        Phase.SCHEDULED,
        [ArmTimer(TimerKind.SCHEDULED_START, at(50))],
    ),
    (
        "recover-preflight-runs-it-again",
        rolling(planned=False),
        Recover(),
        Phase.PREFLIGHT,
        [RunPreflight()],
    ),
    (
        "recover-rolling-back-includes-orphaned-updates",
        rolling(
            Phase.ROLLING_BACK,
            statuses={"p": S.ROLLING_BACK, "a": S.UPDATING, "b": S.ROLLED_BACK},
            current_batch=1,
        ),
        Recover(),
        Phase.ROLLING_BACK,
        [RollBackTargets(("p", "a"))],
    ),
    (
        "recover-partial-roll-back-settles-updates-outside-its-scope",
        rolling(
            Phase.ROLLING_BACK,
            statuses={"p": S.UPDATED, "a": S.UPDATING, "b": S.UPDATING},
            current_batch=1,
            rollback_of=("a",),
        ),
        Recover(),
        Phase.ROLLING_BACK,
        [RollBackTargets(("a",)), UpdateTargets(1, ("b",))],
    ),
    (
        "partial-roll-back-ends-only-once-updates-outside-settle",
        rolling(
            Phase.ROLLING_BACK,
            statuses={"p": S.UPDATED, "a": S.ROLLING_BACK, "b": S.UPDATING},
            current_batch=1,
            rollback_of=("a",),
        ),
        RolledBack(ok("a")),
        Phase.ROLLING_BACK,
        [],
    ),
    (
        "recover-paused-mid-batch-settles-updates",
        rolling(Phase.PAUSED, statuses=BATCH1_UPDATING, current_batch=1, paused_from=Phase.BATCH),
        Recover(),
        Phase.PAUSED,
        [UpdateTargets(1, ("a", "b"))],
    ),
    (
        "recover-cancelling-with-nothing-unsettled-cancels",
        rolling(Phase.BATCH, statuses=BATCH1_UP, current_batch=1, paused_from=Phase.CANCELLED),
        Recover(),
        Phase.CANCELLED,
        [told(K.CANCELLED)],
    ),
    (
        "recover-finished-does-nothing",
        rolling(Phase.COMPLETED, statuses=ALL_UP),
        Recover(),
        Phase.COMPLETED,
        [],
    ),
    # --- blue-green ---
    (
        "bg-preflight-passed-stages",
        replace(blue_green(Phase.PREFLIGHT, status=S.PENDING), targets=()),
        PreflightPassed(blue_green().targets, batch_count=0, blue_green=blue_green().blue_green),
        Phase.STAGING,
        [told(K.PLANNED), told(K.PROGRESS), CreateSide()],
    ),
    (
        "bg-side-created-is-checked",
        blue_green(),
        SideCreated(ok=True),
        Phase.STAGING,
        [CheckHealth(("platform-admin",), wait=True)],
    ),
    (
        "bg-side-not-created-rolls-back",
        blue_green(),
        SideCreated(ok=False, reason="quota exceeded"),
        Phase.ROLLING_BACK,
        [
            told(K.FAILED),
            told(K.ROLLING_BACK),
            CancelTimer(TimerKind.REMOVE_OLD),
            DeleteSide("new"),
        ],
    ),
    (
        "bg-healthy-side-switches",
        blue_green(),
        HealthChecked(ok("platform-admin")),
        Phase.STAGING,
        [SwitchService("v1.3.0")],
    ),
    (
        "bg-healthy-side-waits-for-approval",
        blue_green(settings={"approval": True}),
        HealthChecked(ok("platform-admin")),
        Phase.AWAITING_APPROVAL,
        [ArmTimer(TimerKind.APPROVAL_EXPIRED, at(4 * 3600)), told(K.AWAITING_APPROVAL)],
    ),
    (
        "bg-approved-switches",
        blue_green(
            Phase.AWAITING_APPROVAL, status=S.UPDATED, deadline=at(60), settings={"approval": True}
        ),
        Approve("U0BOB"),
        Phase.STAGING,
        [CancelTimer(TimerKind.APPROVAL_EXPIRED), told(K.APPROVED), SwitchService("v1.3.0")],
    ),
    (
        "bg-unhealthy-side-deleted-traffic-stays",
        blue_green(),
        HealthChecked((bad("platform-admin", "/api/health answered 500"),)),
        Phase.ROLLING_BACK,
        [
            told(K.FAILED),
            told(K.ROLLING_BACK),
            CancelTimer(TimerKind.REMOVE_OLD),
            DeleteSide("new"),
        ],
    ),
    (
        "bg-switched-opens-window",
        blue_green(status=S.UPDATED, bg={"switched": True}),
        Switched("v1.3.0", ok=True),
        Phase.MONITORING,
        [told(K.SWITCHED), told(K.PROGRESS), ArmTimer(TimerKind.MONITOR_TICK, at(30))],
    ),
    (
        "bg-unhealthy-in-window-switches-back",
        blue_green(Phase.MONITORING, status=S.UPDATED, bg={"switched": True}, deadline=at(100)),
        HealthChecked((bad("platform-admin", "error rate 20.0% over 5.0%"),)),
        Phase.ROLLING_BACK,
        [
            told(K.FAILED),
            CancelTimer(TimerKind.MONITOR_TICK),
            told(K.ROLLING_BACK),
            CancelTimer(TimerKind.REMOVE_OLD),
            SwitchService("v1.2.3"),
        ],
    ),
    (
        "bg-switched-back-deletes-new-side",
        blue_green(Phase.ROLLING_BACK, status=S.ROLLING_BACK, bg={"switched": True}),
        Switched("v1.2.3", ok=True),
        Phase.ROLLING_BACK,
        [DeleteSide("new")],
    ),
    (
        "bg-new-side-deleted-rolled-back",
        blue_green(Phase.ROLLING_BACK, status=S.ROLLING_BACK),
        SideDeleted("new", ok=True),
        Phase.ROLLED_BACK,
        [told(K.ROLLED_BACK)],
    ),
    (
        "bg-window-over-completes-and-arms-removal",
        blue_green(
            Phase.MONITORING,
            status=S.UPDATED,
            bg={"switched": True},
            deadline=NOW,
            settings={"remove_old_after_seconds": 600},
        ),
        HealthChecked(ok("platform-admin")),
        Phase.COMPLETED,
        [told(K.COMPLETED), ArmTimer(TimerKind.REMOVE_OLD, at(600))],
    ),
    (
        "bg-remove-old",
        blue_green(Phase.COMPLETED, status=S.UPDATED, bg={"switched": True}),
        RemoveOld("U0ALICE"),
        Phase.COMPLETED,
        [CancelTimer(TimerKind.REMOVE_OLD), DeleteSide("old")],
    ),
    (
        "bg-old-removed",
        blue_green(Phase.COMPLETED, status=S.UPDATED, bg={"switched": True, "old_removed": True}),
        SideDeleted("old", ok=True),
        Phase.COMPLETED,
        [told(K.OLD_REMOVED)],
    ),
    (
        "bg-roll-back-completed-switches-back",
        blue_green(Phase.COMPLETED, status=S.UPDATED, bg={"switched": True}),
        Rollback("U0ALICE"),
        Phase.ROLLING_BACK,
        [told(K.ROLLING_BACK), CancelTimer(TimerKind.REMOVE_OLD), SwitchService("v1.2.3")],
    ),
    (
        "bg-cancel-while-staging-waits-for-side",
        blue_green(),
        Cancel("U0ALICE"),
        Phase.STAGING,
        [told(K.PROGRESS)],
    ),
    (
        "bg-cancelled-once-side-settled",
        blue_green(paused_from=Phase.CANCELLED),
        SideCreated(ok=True),
        Phase.CANCELLED,
        [told(K.CANCELLED)],
    ),
    (
        "bg-roll-back-while-staging-waits-then-deletes",
        blue_green(paused_from=Phase.ROLLING_BACK),
        HealthChecked(ok("platform-admin")),
        Phase.ROLLING_BACK,
        [told(K.ROLLING_BACK), CancelTimer(TimerKind.REMOVE_OLD), DeleteSide("new")],
    ),
    (
        "bg-recover-after-switch-intent-switches-again",
        blue_green(status=S.UPDATED, bg={"switched": True}),
        Recover(),
        Phase.STAGING,
        [SwitchService("v1.3.0")],
    ),
    (
        "bg-recover-staging-creates-again",
        blue_green(),
        Recover(),
        Phase.STAGING,
        [told(K.PROGRESS), CreateSide()],
    ),
    (
        "bg-recover-rolling-back-after-switch",
        blue_green(Phase.ROLLING_BACK, status=S.ROLLING_BACK, bg={"switched": True}),
        Recover(),
        Phase.ROLLING_BACK,
        [SwitchService("v1.2.3")],
    ),
    (
        "bg-recover-completed-rearms-removal",
        blue_green(
            Phase.COMPLETED,
            status=S.UPDATED,
            finished_at=NOW,
            settings={"remove_old_after_seconds": 600},
        ),
        Recover(),
        Phase.COMPLETED,
        [ArmTimer(TimerKind.REMOVE_OLD, at(600))],
    ),
    (
        "bg-recover-unconfirmed-removal-deletes-again",
        blue_green(
            Phase.COMPLETED,
            status=S.UPDATED,
            finished_at=NOW,
            bg={"switched": True, "old_removed": True},
            settings={"remove_old_after_seconds": 600},
        ),
        Recover(),
        Phase.COMPLETED,
        [DeleteSide("old")],
    ),
    (
        "bg-recover-confirmed-removal-does-nothing",
        blue_green(
            Phase.COMPLETED,
            status=S.UPDATED,
            finished_at=NOW,
            bg={"switched": True, "old_removed": True, "old_gone": True},
            settings={"remove_old_after_seconds": 600},
        ),
        Recover(),
        Phase.COMPLETED,
        [],
    ),
]


@pytest.mark.parametrize(
    ("rollout", "event", "phase", "effects"),
    [pytest.param(r, e, p, x, id=name) for name, r, e, p, x in ROWS],
)
def test_transition(rollout: Rollout, event: Event, phase: Phase, effects: list[Any]) -> None:
    after, done = decide(rollout, event, now=NOW)
    assert after.phase is phase
    assert shape(done) == effects


@pytest.mark.parametrize(
    ("rollout", "event", "phase", "effects"),
    [
        pytest.param(replace(r, strategy=Strategy.HELM), e, p, x, id=name)
        for name, r, e, p, x in ROWS
        if r.strategy is Strategy.ROLLING
    ],
)
def test_a_helm_rollout_moves_as_a_rolling_one(
    rollout: Rollout, event: Event, phase: Phase, effects: list[Any]
) -> None:
    # Only how a tenant is moved differs (the engine's helm tenants); every decision is
    # rolling's
    after, done = decide(rollout, event, now=NOW)
    assert after.phase is phase
    assert shape(done) == effects


# (id, rollout, command, words the refusal must contain)
REFUSALS: list[tuple[str, Rollout, Event, str]] = [
    ("pause-completed", rolling(Phase.COMPLETED), Pause("U0A"), "#7 is already completed"),
    ("resume-completed", rolling(Phase.COMPLETED), Resume("U0A"), "already completed"),
    (
        "approve-in-batch",
        rolling(Phase.BATCH, current_batch=1),
        Approve("U0B"),
        "not waiting for approval (it is updating batch 1 of 2)",
    ),
    ("approve-own", rolling(Phase.AWAITING_APPROVAL), Approve("U0ALICE"), "four-eyes"),
    (
        "approve-twice",
        replace(
            rolling(Phase.AWAITING_APPROVAL, settings={"approvals_required": 2}),
            approvals=(),
        ),
        Approve("U0BOB"),
        "",
    ),
    ("reject-expired", rolling(Phase.EXPIRED), Reject("U0B"), "already expired"),
    ("resume-running", rolling(Phase.BATCH, current_batch=1), Resume("U0A"), "is not paused"),
    (
        "resume-after-failure-asks-to-choose",
        rolling(Phase.PAUSED, statuses={"p": S.FAILED}, paused_from=Phase.PILOT),
        Resume("U0A"),
        "Retry failed or Skip",
    ),
    (
        "retry-nothing-failed",
        rolling(Phase.PAUSED, paused_from=Phase.WAITING),
        Retry("U0A"),
        "no failed tenants",
    ),
    ("skip-running", rolling(Phase.BATCH), Skip("U0A"), "no failed tenants"),
    ("pause-preflight", rolling(planned=False), Pause("U0A"), "cannot be paused now"),
    (
        "pause-paused",
        rolling(Phase.PAUSED, paused_from=Phase.WAITING),
        Pause("U0A"),
        "already paused",
    ),
    ("cancel-rolling-back", rolling(Phase.ROLLING_BACK), Cancel("U0A"), "rolling back"),
    (
        "cancel-twice",
        rolling(Phase.BATCH, paused_from=Phase.CANCELLED),
        Cancel("U0A"),
        "being cancelled",
    ),
    ("rollback-preflight", rolling(planned=False), Rollback("U0A"), "has not changed anything"),
    (
        "rollback-rolled-back",
        rolling(Phase.ROLLED_BACK, statuses={"p": S.ROLLED_BACK}),
        Rollback("U0A"),
        "already rolled back",
    ),
    (
        "rollback-unknown-tenant",
        rolling(Phase.COMPLETED, statuses=ALL_UP),
        Rollback("U0A", tenants=("zz",)),
        "zz is not a target of #7",
    ),
    (
        "rollback-untouched-tenant",
        rolling(Phase.CANCELLED, statuses=PILOT_UP),
        Rollback("U0A", tenants=("d",)),
        "changed nothing there",
    ),
    ("remove-old-rolling", rolling(Phase.COMPLETED), RemoveOld("U0A"), "only blue-green"),
    ("remove-old-running", blue_green(Phase.MONITORING), RemoveOld("U0A"), "after it completes"),
    (
        "remove-old-twice",
        blue_green(Phase.COMPLETED, bg={"old_removed": True}),
        RemoveOld("U0A"),
        "already removed",
    ),
    ("bg-pause-staging", blue_green(), Pause("U0A"), "cannot be paused now"),
    (
        "bg-rollback-old-removed",
        blue_green(Phase.COMPLETED, status=S.UPDATED, bg={"old_removed": True, "switched": True}),
        Rollback("U0A"),
        "was removed",
    ),
]


@pytest.mark.parametrize(
    ("rollout", "command", "words"),
    [pytest.param(r, c, w, id=name) for name, r, c, w in REFUSALS],
)
def test_refusal(rollout: Rollout, command: Event, words: str) -> None:
    if words == "":  # approve twice: the first is taken, the second refused
        rollout, _ = decide(rollout, command, now=NOW)
        words = "you already approved #7"
    with pytest.raises(InvalidTransition, match=words.replace("(", r"\(").replace(")", r"\)")):
        decide(rollout, command, now=NOW)


# --- a terminal's OS account -----------------------------------------------------------------

OPS = OsAccount("ops", "build-7")


def test_four_eyes_refuses_the_os_user_who_started_it_whatever_person_is_claimed() -> None:
    # Given a rollout started from a terminal by OS user ops (as U0ALICE), at its gate
    gated = rolling(Phase.AWAITING_APPROVAL, requested_from=OPS)

    # When ops approves again, claiming to be U0BOB, then the machine refuses it
    with pytest.raises(InvalidTransition, match="four-eyes: OS user ops started #7"):
        decide(gated, Approve("U0BOB", os_account=OPS), now=NOW)

    # And the same person from another account is taken, the account kept with it
    after, _ = decide(gated, Approve("U0BOB", os_account=OsAccount("bob", "build-7")), now=NOW)
    assert [(a.user, a.os_account) for a in after.approvals] == [
        ("U0BOB", OsAccount("bob", "build-7"))
    ]


@pytest.mark.parametrize(
    ("rollout", "command", "kind", "reason"),
    [
        (rolling(Phase.AWAITING_APPROVAL), Approve("U0BOB", os_account=OPS), K.APPROVED, ""),
        (
            rolling(Phase.AWAITING_APPROVAL),
            Reject("U0BOB", os_account=OPS),
            K.REJECTED,
            "rejected by U0BOB (from a terminal: ops@build-7)",
        ),
        (
            rolling(Phase.WAITING, current_batch=1, deadline=at(60)),
            Pause("U0BOB", os_account=OPS),
            K.PAUSED,
            "paused by U0BOB (from a terminal: ops@build-7)",
        ),
        (
            rolling(Phase.WAITING, current_batch=1, deadline=at(60)),
            Cancel("U0BOB", os_account=OPS),
            K.CANCELLED,
            "cancelled by U0BOB (from a terminal: ops@build-7)",
        ),
        (
            rolling(Phase.WAITING, current_batch=1, statuses={"p": S.UPDATED}),
            Rollback("U0BOB", os_account=OPS),
            K.ROLLING_BACK,
            "rolled back by U0BOB (from a terminal: ops@build-7)",
        ),
    ],
)
def test_what_a_terminal_command_makes_known_names_its_os_account(
    rollout: Rollout, command: Event, kind: EventKind, reason: str
) -> None:
    # When a command typed at a terminal is taken
    after, effects = decide(rollout, command, now=NOW)

    # Then the events naming the person carry the account, and so does any reason kept
    # (a cancel names nobody in its event: its reason is what the summary shows)
    published = [e for e in effects if isinstance(e, Publish) and e.user == "U0BOB"]
    assert all(e.os_account == OPS for e in published)
    assert kind in {e.kind for e in effects if isinstance(e, Publish)}
    assert published or reason
    if reason:
        assert reason in after.reason


def test_a_slack_command_names_no_account() -> None:
    after, effects = decide(rolling(Phase.AWAITING_APPROVAL), Reject("U0BOB"), now=NOW)
    assert after.reason.startswith("rejected by U0BOB")
    assert "terminal" not in after.reason
    assert all(e.os_account is None for e in effects if isinstance(e, Publish))


@pytest.mark.parametrize(
    ("rollout", "command", "told_what"),
    [
        (
            rolling(Phase.PAUSED, statuses=B_FAILED, current_batch=1, paused_from=Phase.BATCH),
            Retry("U0BOB"),
            {K.RESUMED: Action.RETRY},
        ),
        (
            rolling(Phase.PAUSED, statuses=B_FAILED, current_batch=1, paused_from=Phase.BATCH),
            Skip("U0BOB"),
            {K.RESUMED: Action.SKIP},
        ),
        (
            rolling(Phase.PAUSED, statuses=BATCH1_UP, current_batch=1, paused_from=Phase.WAITING,
                    deadline=at(20)),
            Resume("U0BOB"),
            {K.RESUMED: Action.RESUME},
        ),
        (rolling(Phase.WAITING, statuses=BATCH1_UP, current_batch=1, deadline=at(20)),
         Pause("U0BOB"), {K.PAUSED: Action.PAUSE}),
        (
            rolling(Phase.AWAITING_APPROVAL, statuses=PILOT_UP, deadline=at(3600)),
            Reject("U0BOB"),
            {K.REJECTED: Action.REJECT, K.ROLLING_BACK: Action.ROLLBACK},
        ),
        (
            rolling(Phase.AWAITING_APPROVAL, statuses=PILOT_UP, deadline=at(3600)),
            Approve("U0BOB"),
            {K.APPROVED: Action.APPROVE},
        ),
    ],
    ids=["retry", "skip", "resume", "pause", "reject", "approve"],
)
def test_what_a_command_makes_known_names_the_request_as_a_value(
    rollout: Rollout, command: Event, told_what: dict[EventKind, Action]
) -> None:
    # When a person's command is taken
    _, effects = decide(rollout, command, now=NOW)

    # Then each event about them names their request itself, whatever its wording says
    published = {e.kind: e.action for e in effects if isinstance(e, Publish) and e.user}
    assert published == told_what


def test_events_nobody_asked_for_name_no_request() -> None:
    after, effects = decide(rolling(Phase.BATCH, statuses=BATCH1_UPDATING, current_batch=1,
                                    settings={"auto_rollback": True}),
                            TargetsUpdated(1, (*ok("a"), bad("b"))), now=NOW)
    assert after.phase is Phase.ROLLING_BACK
    assert all(e.action is None for e in effects if isinstance(e, Publish))


# --- details worth their own test ---------------------------------------------------------


def test_intent_is_recorded_before_any_patch() -> None:
    after, effects = decide(
        rolling(planned=False), PreflightPassed(PLANNED, batch_count=2), now=NOW
    )
    pilot = after.target("p")
    assert pilot.status is S.UPDATING
    assert pilot.previous_image == OLD
    assert pilot.attempts == 1
    assert pilot.started_at == NOW
    assert UpdateTargets(0, ("p",)) in effects


def test_failure_reason_is_kept_on_the_tenant_and_the_rollout() -> None:
    r = rolling(Phase.BATCH, statuses=BATCH1_UPDATING, current_batch=1)
    after, effects = decide(
        r, TargetsUpdated(1, (TargetResult("a", True), bad("b", "crash"))), now=NOW
    )
    assert after.target("b").status is S.FAILED
    assert after.target("b").reason == "crash"
    assert after.paused_from is Phase.BATCH
    assert "b: crash" in after.reason
    failed = [e for e in effects if isinstance(e, Publish) and e.kind is K.FAILED]
    assert failed[0].problems == ("b: crash",)


def test_skip_in_a_window_carries_on_with_what_was_left() -> None:
    r = rolling(
        Phase.PAUSED,
        statuses={"p": S.FAILED},
        paused_from=Phase.MONITORING,
        deadline=at(100),
        settings={"pilot_count": 1},
    )
    after, _ = decide(r, Skip("U0A"), now=NOW)
    assert after.phase is Phase.MONITORING
    assert after.deadline == at(100)
    assert after.target("p").status is S.SKIPPED


def test_retry_after_window_failure_updates_again_then_watches_a_new_window() -> None:
    r = rolling(
        Phase.PAUSED, statuses={"p": S.FAILED}, paused_from=Phase.MONITORING, deadline=at(100)
    )
    after, _ = decide(r, Retry("U0A"), now=NOW)
    assert after.phase is Phase.PILOT
    assert after.target("p").attempts == 1
    after, _ = decide(after, TargetsUpdated(0, ok("p")), now=NOW)
    assert after.phase is Phase.MONITORING
    assert after.deadline == WINDOW_END


def test_rollback_counts_skipped_tenants_as_changed() -> None:
    r = rolling(Phase.COMPLETED, statuses={**ALL_UP, "b": S.SKIPPED})
    _, effects = decide(r, Rollback("U0A"), now=NOW)
    assert RollBackTargets(("p", "a", "b", "c", "d")) in effects


def test_rollback_failures_are_reported_and_the_rollout_still_ends() -> None:
    r = rolling(Phase.ROLLING_BACK, statuses={"p": S.ROLLING_BACK, "a": S.ROLLING_BACK})
    after, effects = decide(
        r, RolledBack((TargetResult("p", True), bad("a", "forbidden"))), now=NOW
    )
    assert after.phase is Phase.ROLLED_BACK
    assert after.target("a").status is S.ROLLBACK_FAILED
    assert after.finished_at == NOW
    (done,) = [e for e in effects if isinstance(e, Publish)]
    assert done.problems == ("a: forbidden",)


def test_a_late_duplicate_result_changes_nothing() -> None:
    r = rolling(Phase.WAITING, statuses=BATCH1_UP, current_batch=1, deadline=at(60))
    after, effects = decide(r, TargetsUpdated(1, (bad("a"),)), now=NOW)
    assert after == r
    assert effects == ()


def test_bg_switch_intent_is_recorded_before_the_switch() -> None:
    after, effects = decide(blue_green(), HealthChecked(ok("platform-admin")), now=NOW)
    assert after.blue_green is not None and after.blue_green.switched
    assert effects == (SwitchService("v1.3.0"),)


def test_the_latency_before_a_change_is_kept_on_its_target() -> None:
    measured = (TargetResult("p", True, baseline_latency_ms=42.0),)
    after, _ = decide(
        rolling(Phase.PILOT, statuses=UPDATING_PILOT), TargetsUpdated(0, measured), now=NOW
    )
    assert after.target("p").baseline_latency_ms == 42.0
    # a result without a measurement (the tenant was already changed) keeps what was kept
    again = replace(after, phase=Phase.PILOT).with_targets(
        [after.target("p").with_status(S.UPDATING, at=NOW)]
    )
    kept, _ = decide(again, TargetsUpdated(0, ok("p")), now=NOW)
    assert kept.target("p").baseline_latency_ms == 42.0
    staged, effects = decide(blue_green(), SideCreated(ok=True, baseline_latency_ms=30.0), now=NOW)
    assert staged.target("platform-admin").baseline_latency_ms == 30.0
    assert effects == (CheckHealth(("platform-admin",), wait=True),)


def test_bg_old_side_removal_is_decided_then_confirmed() -> None:
    done = blue_green(Phase.COMPLETED, status=S.UPDATED, bg={"switched": True}, finished_at=NOW)
    decided, _ = decide(done, RemoveOld("U0ALICE"), now=NOW)
    assert decided.old_side_removal_unconfirmed  # journalled before the delete runs
    confirmed, _ = decide(decided, SideDeleted("old", ok=True), now=NOW)
    assert confirmed.blue_green is not None and confirmed.blue_green.old_gone
    assert not confirmed.old_side_removal_unconfirmed
    failed, _ = decide(decided, SideDeleted("old", ok=False, reason="503"), now=NOW)
    assert failed.blue_green is not None and not failed.blue_green.old_removed


def test_bg_cancelled_while_staging_leaves_nothing_unsettled() -> None:
    after, _ = decide(blue_green(paused_from=Phase.CANCELLED), SideCreated(ok=True), now=NOW)
    assert after.phase is Phase.CANCELLED
    assert after.target("platform-admin").status is S.SKIPPED
    _, effects = decide(after, Rollback("U0BOB"), now=NOW)
    assert DeleteSide("new") in effects


def test_bg_failure_to_switch_back_keeps_the_new_side() -> None:
    r = blue_green(Phase.ROLLING_BACK, status=S.ROLLING_BACK, bg={"switched": True})
    after, effects = decide(r, Switched("v1.2.3", ok=False, reason="503"), now=NOW)
    assert after.phase is Phase.ROLLED_BACK
    assert after.target("platform-admin").status is S.ROLLBACK_FAILED
    assert not any(isinstance(e, DeleteSide) for e in effects)


@pytest.mark.parametrize(
    ("window", "interval"), [(1, 1.0), (3, 1.0), (10, 2.0), (300, 30.0), (1800, 30.0)]
)
def test_monitor_interval(window: float, interval: float) -> None:
    assert monitor_interval(window) == interval


# --- random walks: safety and liveness over any interleaving -------------------------------
#
# A tiny executor answers every effect (results drawn at random), timers fire in any order
# they may, people click anything, and the process may "crash" between any two events
# (outstanding work and timers vanish; Recover follows). Whatever happens:
#   - no tenant is ever in two cluster-changing effects at once (no double patch);
#   - every tenant in an UpdateTargets is UPDATING, in a RollBackTargets ROLLING_BACK
#     (the intent is saved before the patch);
#   - an unfinished rollout always waits for something: an effect, a timer, or a person;
#   - answering everything well, it finishes.

USERS = ("U0ALICE", "U0BOB", "U0CAROL")
COMMANDS = (Approve, Reject, Pause, Resume, Cancel, Rollback, Retry, Skip, RemoveOld)
# People click pause and resume (and approve) far more often than the rest, and the
# interleavings that matter most are a pause and a resume while a batch is in flight.
CLICKS = (Pause, Pause, Pause, Resume, Resume, Resume, Approve, Approve, *COMMANDS)
MUTATING = (UpdateTargets, RollBackTargets, CreateSide, SwitchService, DeleteSide)


class Walk:
    def __init__(self, rollout: Rollout, rng: Any) -> None:
        self.rollout = rollout
        self.rng = rng
        self.now = NOW
        self.outstanding: list[Effect] = []
        self.timers: dict[str, ArmTimer] = {}
        self.phases: set[Phase] = {rollout.phase}

    def feed(self, event: Event) -> None:
        try:
            self.rollout, effects = decide(self.rollout, event, now=self.now)
        except InvalidTransition:
            assert isinstance(event, tuple(COMMANDS)), event
            return
        self.phases.add(self.rollout.phase)
        for effect in effects:
            if isinstance(effect, ArmTimer):
                self.timers[effect.kind.slot] = effect
            elif isinstance(effect, CancelTimer):
                self.timers.pop(effect.kind.slot, None)
            elif not isinstance(effect, Publish):
                self.outstanding.append(effect)
        self.check_safety()

    def check_safety(self) -> None:
        busy: list[str] = []
        for effect in self.outstanding:
            if isinstance(effect, UpdateTargets):
                busy += effect.namespaces
            if isinstance(effect, RollBackTargets):
                busy += effect.namespaces
        assert len(busy) == len(set(busy)), f"a tenant in two changes at once: {busy}"
        sides = [type(e) for e in self.outstanding if isinstance(e, CreateSide | SwitchService)]
        assert len(sides) <= 1, sides
        r = self.rollout
        for effect in self.outstanding:
            if isinstance(effect, UpdateTargets):
                statuses = {r.target(ns).status for ns in effect.namespaces}
                assert statuses <= {S.UPDATING, S.UPDATED, S.FAILED}, statuses
            if r.phase.terminal:
                assert not isinstance(effect, UpdateTargets | RollBackTargets | CreateSide)
        if r.phase.terminal:
            assert r.finished_at is not None
            unsettled = {S.UPDATING, S.ROLLING_BACK}
            assert not [t for t in r.targets if t.status in unsettled], f"left unsettled: {r}"
        waiting_for_people = r.phase in {Phase.PAUSED, Phase.AWAITING_APPROVAL}
        if not r.phase.terminal and not waiting_for_people:
            assert self.outstanding or self.timers, f"stalled in {r.phase}: {r}"

    def answer(self, effect: Effect, *, good: bool) -> Event:
        def results(names: tuple[str, ...]) -> tuple[TargetResult, ...]:
            return tuple(
                TargetResult(n, good or self.rng.random() < 0.8, "" if good else "boom")
                for n in names
            )

        ok = good or self.rng.random() < 0.85
        if isinstance(effect, RunPreflight):
            if not good and self.rng.random() < 0.1:
                return PreflightFailed(("no",))
            return PreflightPassed(
                self.rollout.targets, self.rollout.batch_count, self.rollout.blue_green
            )
        if isinstance(effect, UpdateTargets):
            return TargetsUpdated(effect.batch, results(effect.namespaces))
        if isinstance(effect, CheckHealth):
            return HealthChecked(results(effect.namespaces))
        if isinstance(effect, RollBackTargets):
            return RolledBack(results(effect.namespaces))
        if isinstance(effect, CreateSide):
            return SideCreated(ok)
        if isinstance(effect, SwitchService):
            return Switched(effect.version, ok)
        assert isinstance(effect, DeleteSide)
        return SideDeleted(effect.which, ok)

    def step(self, *, good: bool = False) -> None:
        choice = self.rng.random()
        if self.outstanding and (good or choice < 0.35):
            effect = self.outstanding.pop(self.rng.randrange(len(self.outstanding)))
            self.feed(self.answer(effect, good=good))
        elif self.timers and (good or choice < 0.55):
            slot = self.rng.choice(sorted(self.timers))
            timer = self.timers.pop(slot)
            self.now = max(self.now, timer.at)
            self.feed(TimerFired(timer.kind))
        elif not good and choice < 0.95:
            kind = self.rng.choice(CLICKS)
            user = self.rng.choice(USERS)
            tenants = ("a",) if kind is Rollback and self.rng.random() < 0.3 else None
            self.feed(Rollback(user, tenants) if kind is Rollback else kind(user))
        elif not good:
            self.outstanding.clear()  # the process died: work in flight and timers are gone
            self.timers.clear()
            self.feed(Recover())
        else:
            self.unblock()

    def unblock(self) -> None:
        """What people do to let a stopped rollout finish."""
        r = self.rollout
        if r.phase is Phase.AWAITING_APPROVAL:
            for user in ("U0BOB", "U0CAROL"):
                self.feed(Approve(user))
        elif r.phase is Phase.PAUSED and any(t.status is S.FAILED for t in r.targets):
            self.feed(Skip("U0BOB"))
        elif r.phase is Phase.PAUSED:
            self.feed(Resume("U0BOB"))

    def finish(self) -> Rollout:
        for _ in range(500):
            if self.rollout.phase.terminal and not self.outstanding:
                return self.rollout
            self.step(good=True)
        raise AssertionError(f"never finished: {self.rollout.phase}, {self.outstanding}")


def walk_settings(rng: Any) -> dict[str, Any]:
    return {
        "auto_rollback": rng.random() < 0.3,
        "approval": rng.random() < 0.7,
        "approvals_required": rng.choice((1, 2)),
        "wait_seconds": rng.choice((0, 60)),
        "pilot_monitor_seconds": rng.choice((0, 300)),
        "pilot_count": rng.choice((0, 1)),
        "monitor_seconds": rng.choice((0, 300)),
        "remove_old_after_seconds": rng.choice((None, 600)),
    }


def walk_start(rng: Any) -> Rollout:
    settings = walk_settings(rng)
    if rng.random() < 0.3:
        bg = blue_green(Phase.PREFLIGHT, status=S.PENDING, settings=settings)
        return replace(bg, start_at=at(60) if rng.random() < 0.2 else None)
    start_at = at(60) if rng.random() < 0.2 else None
    plan = PLAN if settings["pilot_count"] else {ns: max(b, 1) for ns, b in PLAN.items()}
    targets = planned_targets(plan, previous_image=OLD)
    return replace(rolling(settings=settings), targets=targets, start_at=start_at)


def wander(seed: int) -> Walk:
    """A started rollout after a random number of random steps (seeded, so repeatable)."""
    rng = random.Random(seed)
    walk = Walk(walk_start(rng), rng)
    walk.feed(Start())
    for _ in range(rng.randrange(5, 80)):
        walk.step()
    return walk


@pytest.mark.parametrize("seed", range(300))
def test_random_walks_are_safe_and_always_finish(seed: int) -> None:
    final = wander(seed).finish()
    assert final.phase.terminal


def test_every_phase_is_reachable() -> None:
    seen: set[Phase] = set()
    for seed in range(400):
        seen |= wander(seed).phases
    assert seen == set(Phase)
