"""The release pipeline's domain (SPEC section 9): a release, its steps, their order, and
what a restart, a stop or a failure does to them. Pure: no I/O, no clock of its own.

The adapters that run the steps (pnpm, the Docker engine, the registry) live in
``bot/build/``; the runner that drives a release is ``bot/release/``.
"""

from rollout.release.model import (
    BuildSpec,
    DeployPlan,
    Release,
    ReleaseEvent,
    ReleaseEventKind,
    ReleasePhase,
    ReleasePlan,
    ReleaseRequest,
    ReleaseSettings,
    Step,
    StepKind,
    StepState,
)
from rollout.release.steps import (
    cancelled,
    deploy_started,
    failed,
    finished,
    plan_steps,
    ready,
    recovered,
    reused,
    started,
    stop_requested,
)
from rollout.release.words import format_release, parse_release

__all__ = [
    "BuildSpec",
    "DeployPlan",
    "Release",
    "ReleaseEvent",
    "ReleaseEventKind",
    "ReleasePhase",
    "ReleasePlan",
    "ReleaseRequest",
    "ReleaseSettings",
    "Step",
    "StepKind",
    "StepState",
    "cancelled",
    "deploy_started",
    "failed",
    "finished",
    "format_release",
    "parse_release",
    "plan_steps",
    "ready",
    "recovered",
    "reused",
    "started",
    "stop_requested",
]
