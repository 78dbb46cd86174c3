"""The rollout state machine: ``decide(rollout, event, *, now) -> (rollout, effects)``.

Pure: no I/O, no threads, no clock reads. The engine (:mod:`rollout.engine`) loads a
rollout, calls :func:`decide`, saves the result, then runs the effects; their results
come back as events. Phases, as the SPEC implies::

    scheduled -> preflight -> pilot -> monitoring -> awaiting-approval -> batch 1
        -> waiting -> batch 2 ... -> completed                         (rolling)
    preflight -> staging -> [awaiting-approval] -> (switch) -> monitoring
        -> completed [-> old side removed]                               (blue-green)

    any running phase -> paused (by a person: resumes where it was; by a failure:
        roll back all / retry failed / skip and continue)
    failure with auto_rollback, reject, roll back -> rolling-back -> rolled-back
    cancel -> cancelled (after in-flight updates settle); approval timeout -> expired;
    preflight refused -> failed
"""

from rollout.machine.common import TOUCHED, Transition
from rollout.machine.core import decide
from rollout.machine.effects import (
    ArmTimer,
    CancelTimer,
    CheckHealth,
    CreateSide,
    DeleteSide,
    Effect,
    Publish,
    RollBackTargets,
    RunPreflight,
    Side,
    SwitchService,
    TimerKind,
    UpdateTargets,
)
from rollout.machine.events import (
    Approve,
    CallsRetried,
    Cancel,
    Command,
    Event,
    HealthChecked,
    Pause,
    PreflightFailed,
    PreflightPassed,
    Recover,
    Reject,
    RemoveOld,
    Resume,
    Retry,
    Rollback,
    RolledBack,
    SideCreated,
    SideDeleted,
    Skip,
    Start,
    Switched,
    TargetResult,
    TargetsUpdated,
    TimerFired,
)
from rollout.machine.rolling import monitor_interval

__all__ = [
    "TOUCHED",
    "Approve",
    "ArmTimer",
    "CallsRetried",
    "Cancel",
    "CancelTimer",
    "CheckHealth",
    "Command",
    "CreateSide",
    "DeleteSide",
    "Effect",
    "Event",
    "HealthChecked",
    "Pause",
    "PreflightFailed",
    "PreflightPassed",
    "Publish",
    "Recover",
    "Reject",
    "RemoveOld",
    "Resume",
    "Retry",
    "RollBackTargets",
    "Rollback",
    "RolledBack",
    "RunPreflight",
    "Side",
    "SideCreated",
    "SideDeleted",
    "Skip",
    "Start",
    "SwitchService",
    "Switched",
    "TargetResult",
    "TargetsUpdated",
    "TimerFired",
    "TimerKind",
    "Transition",
    "UpdateTargets",
    "decide",
    "monitor_interval",
]
