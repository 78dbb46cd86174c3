"""The nouns of a release: the release itself, shown `R7`, and its steps.

A release runs the guide's build steps for one version and then deploys each app as a
normal rollout. Everything a restart needs is a field here, so the journal stores exactly
these values: each step's state, its timings, the log it wrote, the digest it verified and
the rollout it started.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from rollout.model import OsAccount, Rollout
from rollout.plan import Estimate, Plan
from rollout.release.checks import GUIDE_CHECKS


class StepKind(StrEnum):
    PREFLIGHT = "preflight"
    INSTALL = "install"
    SHARED_BUILD = "shared-build"
    CHECKS = "checks"  # the guide's testing requirements, before any image is built
    IMAGE = "image"  # one per app; all of them build at the same time
    PUSH = "push"  # one per app, once every image built
    VERIFY = "verify"  # one per app: the tag in the registry, and its digest
    DEPLOY = "deploy"  # one per app, in release.order, one after the other

    @property
    def per_app(self) -> bool:
        return self in PER_APP


PER_APP = frozenset({StepKind.IMAGE, StepKind.PUSH, StepKind.VERIFY, StepKind.DEPLOY})


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def settled(self) -> bool:
        return self in (StepState.DONE, StepState.SKIPPED, StepState.FAILED)


class ReleasePhase(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self is not ReleasePhase.RUNNING


@dataclass(frozen=True)
class Step:
    kind: StepKind
    app: str = ""  # the app of a per-app step; "" for the shared ones
    state: StepState = StepState.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    detail: str = ""  # why it failed or was skipped, or a note on how it went
    log_path: str = ""  # where its output was written
    digest: str = ""  # VERIFY: the manifest digest the registry answered for the tag
    rollout_id: int | None = None  # DEPLOY: the rollout it started
    attempts: int = 0  # how many times it was started (a restart runs some again)

    @property
    def key(self) -> str:
        """`install`, `image:admin`: unique within a release."""
        return f"{self.kind}:{self.app}" if self.app else str(self.kind)

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class BuildSpec:
    """How one app's image is built, paths relative to the release repository."""

    dockerfile: str
    context: str = "."
    package_json: str = ""
    args: tuple[tuple[str, str], ...] = ()  # extra build arguments, besides VERSION


@dataclass(frozen=True)
class ReleaseSettings:
    """The `release:` section of the configuration."""

    repo: str | None = None  # the pnpm workspace root; None when not configured
    install: str = "pnpm install --frozen-lockfile"
    shared_build: str = 'pnpm --filter "./shared/packages/**" build'
    checks: tuple[str, ...] = GUIDE_CHECKS  # the checks step's commands ({package}: per app)
    order: tuple[str, ...] = ()  # deploy order; apps not named follow in config order
    timeout_seconds: int = 30 * 60  # per step


@dataclass(frozen=True)
class ReleaseRequest:
    """What `/release` or `rollbot release` asked for, once its words are checked."""

    version: str
    apps: tuple[str, ...] | None = None  # None: every app with a build
    ref: str | None = None  # None: the git tag equal to the version, in a git checkout
    build_only: bool = False
    dry_run: bool = False
    skip_checks: bool = False  # the checks step is skipped (approvers of every app only)
    deploy_words: tuple[str, ...] = ()  # /deploy options for each deploy, as typed


@dataclass(frozen=True)
class Release:
    id: int
    version: str
    apps: tuple[str, ...]  # in deploy order
    requested_by: str
    created_at: datetime
    steps: tuple[Step, ...] = ()
    ref: str = ""  # what the work tree was made from: a git ref, or "" for the folder as is
    revision: str = ""  # the commit the ref resolved to ("" when not a git checkout)
    build_only: bool = False
    skip_checks: bool = False  # asked for by `requested_by`, who was allowed to
    deploy_words: tuple[str, ...] = ()
    phase: ReleasePhase = ReleasePhase.RUNNING
    reason: str = ""  # why it failed or was cancelled
    stop_requested_by: str = ""  # a stop asked for, taken by whichever process drives it
    stopped_by: str = ""  # who stopped it, once it has stopped
    finished_at: datetime | None = None
    source: str = "cli"  # "slack" or "cli"
    channel: str = ""  # the Slack channel it was asked for in
    # Started from a terminal: the OS account that ran it. Its deploys carry it, so
    # four-eyes keeps that account from approving them too.
    requested_from: OsAccount | None = None
    lock_version: int = 0  # bumped on every save; the journal refuses stale writes

    @property
    def label(self) -> str:
        return f"R{self.id}"

    @property
    def active(self) -> bool:
        return not self.phase.terminal

    def step(self, key: str) -> Step:
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(key)

    def steps_of(self, kind: StepKind) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.kind is kind)

    def with_steps(self, changed: Iterable[Step]) -> Release:
        by_key = {s.key: s for s in changed}
        return replace(self, steps=tuple(by_key.get(s.key, s) for s in self.steps))

    def digest(self, app: str) -> str:
        """The digest verified for the app's tag, "" until its verify step is done."""
        return self.step(f"{StepKind.VERIFY}:{app}").digest


class ReleaseEventKind(StrEnum):
    STARTED = "started"
    STEP_STARTED = "step-started"
    STEP_FINISHED = "step-finished"  # done, failed or skipped: the step says which
    DEPLOY_STARTED = "deploy-started"  # a deploy step's rollout exists: the event carries it
    BUILT = "built"  # every image verified in the registry
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ReleaseEvent:
    """What a face renders: the release as saved, and the step the event is about."""

    kind: ReleaseEventKind
    release: Release
    step: Step | None = None
    rollout: Rollout | None = None  # DEPLOY_STARTED: the rollout the step started


@dataclass(frozen=True)
class DeployPlan:
    plan: Plan
    estimate: Estimate
    preview: Rollout  # the rollout it would start (ID 0)


@dataclass(frozen=True)
class ReleasePlan:
    """A dry run: the steps, the images, each app's deploy plan, and what preflight found."""

    release: Release  # unsaved (ID 0)
    images: dict[str, str]  # app -> repository:version
    deploys: dict[str, DeployPlan]
    problems: tuple[str, ...]
