"""The order of a release's steps, and every change of state they go through. Pure: each
function takes a release and returns a new one; nothing here runs anything.

Steps run in stages: preflight, install, the shared build, the checks (the guide's
testing requirements; skipped from the start when asked with skip-checks), every app's
image at once, every push (only once every image built), every verify, then one deploy
after another in release order. A stage starts when the one before it is done; a failed
step ends the release there, and what had not started is skipped.

After a restart (:func:`recovered`) a step that was running is run again when that is
safe: builds are repeatable, so install, the shared build, the checks and the images run
again; a push is redone only if its tag is not verified in the registry; a deploy that had
started its rollout follows that rollout, which the engine resumes as it resumes every
rollout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from rollout.release.model import Release, ReleasePhase, Step, StepKind, StepState

_STAGES = (
    StepKind.PREFLIGHT,
    StepKind.INSTALL,
    StepKind.SHARED_BUILD,
    StepKind.CHECKS,
    StepKind.IMAGE,
    StepKind.PUSH,
    StepKind.VERIFY,
)
# Steps a restart simply runs again: what they make is made afresh each time.
REPEATABLE = frozenset({StepKind.PREFLIGHT, StepKind.INSTALL, StepKind.SHARED_BUILD,
                        StepKind.CHECKS, StepKind.IMAGE, StepKind.VERIFY})


def plan_steps(
    apps: Iterable[str], *, build_only: bool, skip_checks: bool = False
) -> tuple[Step, ...]:
    """Every step of a release of `apps` (in deploy order), all pending; with `skip_checks`
    the checks step is skipped from the start, so the checklist shows it was."""
    names = tuple(apps)
    checks = Step(StepKind.CHECKS, state=StepState.SKIPPED if skip_checks else StepState.PENDING)
    steps = [Step(StepKind.PREFLIGHT), Step(StepKind.INSTALL), Step(StepKind.SHARED_BUILD),
             checks]
    for kind in (StepKind.IMAGE, StepKind.PUSH, StepKind.VERIFY):
        steps += [Step(kind, app=app) for app in names]
    if not build_only:
        steps += [Step(StepKind.DEPLOY, app=app) for app in names]
    return tuple(steps)


def stage(release: Release, step: Step) -> int:
    """The stage a step runs in; deploys have one stage each, in the release's app order."""
    if step.kind is StepKind.DEPLOY:
        return len(_STAGES) + release.apps.index(step.app)
    return _STAGES.index(step.kind)


def ready(release: Release) -> tuple[Step, ...]:
    """The steps to start now: the pending ones of the first stage not yet finished, unless
    the release has ended, a step failed, or a stop was asked for."""
    if release.phase.terminal or release.stop_requested_by:
        return ()
    if any(s.state is StepState.FAILED for s in release.steps):
        return ()
    open_steps = [s for s in release.steps if s.state not in (StepState.DONE, StepState.SKIPPED)]
    if not open_steps:
        return ()
    first = min(stage(release, s) for s in open_steps)
    return tuple(
        s for s in open_steps if stage(release, s) == first and s.state is StepState.PENDING
    )


def started(release: Release, key: str, *, now: datetime, log_path: str = "") -> Release:
    step = _expect(release, key, StepState.PENDING)
    return release.with_steps([replace(
        step, state=StepState.RUNNING, started_at=now, finished_at=None, detail="",
        log_path=log_path or step.log_path, attempts=step.attempts + 1,
    )])  # fmt: skip


def finished(
    release: Release,
    key: str,
    *,
    now: datetime,
    detail: str = "",
    digest: str = "",
    rollout_id: int | None = None,
) -> Release:
    """A running step done; the release completes when nothing is left to do."""
    step = _expect(release, key, StepState.RUNNING)
    done = replace(step, state=StepState.DONE, finished_at=now, detail=detail,
                   digest=digest or step.digest,
                   rollout_id=rollout_id if rollout_id is not None else step.rollout_id)
    return _settle(release.with_steps([done]), now=now)


def deploy_started(release: Release, key: str, *, rollout_id: int) -> Release:
    """The rollout a running deploy step started, journalled before it is followed."""
    step = _expect(release, key, StepState.RUNNING)
    return release.with_steps([replace(step, rollout_id=rollout_id)])


def failed(release: Release, key: str, *, now: datetime, reason: str) -> Release:
    """A running step failed: the release fails with its reason; nothing more starts."""
    step = _expect(release, key, StepState.RUNNING)
    release = release.with_steps(
        [replace(step, state=StepState.FAILED, finished_at=now, detail=reason)]
    )
    if release.phase is not ReleasePhase.RUNNING:
        return _settle(release, now=now)  # already failed or cancelled: keep the first reason
    release = replace(release, phase=ReleasePhase.FAILED, reason=f"{step.key}: {reason}")
    return _settle(release, now=now)


def stop_requested(release: Release, *, user: str) -> Release:
    """Someone asked for a stop; the process driving the release takes it (:func:`cancelled`)."""
    if release.phase.terminal or release.stop_requested_by:
        return release
    return replace(release, stop_requested_by=user)


def cancelled(release: Release, *, user: str, now: datetime) -> Release:
    """Stopped by `user`: nothing more starts; a running deploy is left to go on as the
    normal rollout it is. Build steps still running stay RUNNING until their process has
    ended, and are then recorded with :func:`failed` (the release keeps this reason)."""
    if release.phase.terminal:
        return release
    changed = []
    for s in release.steps:
        if s.state is StepState.RUNNING and s.kind is StepKind.DEPLOY:
            left = f"left running as rollout #{s.rollout_id}" if s.rollout_id else "not started"
            changed.append(replace(s, state=StepState.SKIPPED, finished_at=now, detail=left))
    release = replace(release.with_steps(changed), phase=ReleasePhase.CANCELLED,
                      stopped_by=user, reason=f"stopped by {user}")
    return _settle(release, now=now)


def reused(release: Release, app: str, *, detail: str) -> Release:
    """The app's image is already in the registry, pushed by an earlier release of this
    version with the digest the journal recorded: neither built nor pushed again."""
    changed = [
        replace(release.step(f"{kind}:{app}"), state=StepState.SKIPPED, detail=detail)
        for kind in (StepKind.IMAGE, StepKind.PUSH)
    ]
    return release.with_steps(changed)


def recovered(release: Release, *, verified: Mapping[str, str], now: datetime) -> Release:
    """The release as a restart takes it up. `verified`: app -> digest of each tag the
    registry has now, asked for every app whose push had not finished."""
    if release.phase.terminal:
        return release
    changed = []
    for s in release.steps:
        if s.kind is StepKind.PUSH and s.state in (StepState.PENDING, StepState.RUNNING):
            if s.app in verified:
                changed.append(replace(
                    s, state=StepState.DONE, started_at=s.started_at or now, finished_at=now,
                    detail="already in the registry after a restart; not pushed again",
                ))  # fmt: skip
            elif s.state is StepState.RUNNING:
                changed.append(_again(s))
        elif s.state is StepState.RUNNING and s.kind in REPEATABLE:
            changed.append(_again(s))
        elif s.state is StepState.RUNNING and s.kind is StepKind.DEPLOY and s.rollout_id is None:
            changed.append(_again(s))  # the runner looks for a rollout it may have started
    return release.with_steps(changed)


def _again(step: Step) -> Step:
    return replace(step, state=StepState.PENDING, finished_at=None,
                   detail="interrupted by a restart; runs again")


def _settle(release: Release, *, now: datetime) -> Release:
    """Skip what can no longer run once the release has ended; complete it when all is done."""
    if release.phase.terminal:
        changed = [replace(s, state=StepState.SKIPPED, detail="") for s in release.steps
                   if s.state is StepState.PENDING]
        release = release.with_steps(changed)
        if release.finished_at is None and not any(
            s.state is StepState.RUNNING for s in release.steps
        ):
            release = replace(release, finished_at=now)
        return release
    if all(s.state in (StepState.DONE, StepState.SKIPPED) for s in release.steps):
        return replace(release, phase=ReleasePhase.COMPLETED, finished_at=now)
    return release


def _expect(release: Release, key: str, state: StepState) -> Step:
    step = release.step(key)
    if step.state is not state:
        raise ValueError(f"{release.label} step {key} is {step.state}, not {state}")
    return step
