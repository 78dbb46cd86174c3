"""The release's steps: their order, their states, and what a stop, a failure or a restart
does to them. Pure functions, so each case is a table row: given a release in some state,
when one thing happens, then these steps are ready / in these states.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from rollout.release import (
    Release,
    ReleasePhase,
    StepState,
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

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
APPS = ("admin", "isp")


def release(*, build_only: bool = False) -> Release:
    return Release(id=7, version="v1.3.1", apps=APPS, requested_by="U0ALICE", created_at=T0,
                   steps=plan_steps(APPS, build_only=build_only), build_only=build_only)


def run(r: Release, *keys: str) -> Release:
    """Start and finish each step, a second apart."""
    for key in keys:
        r = started(r, key, now=T0)
        r = finished(r, key, now=T0 + timedelta(seconds=1))
    return r


BUILT = ("preflight", "install", "shared-build", "checks", "image:admin", "image:isp")
PUSHED = (*BUILT, "push:admin", "push:isp")
VERIFIED = (*PUSHED, "verify:admin", "verify:isp")


def keys(steps: tuple[object, ...]) -> list[str]:
    return [s.key for s in steps]  # type: ignore[attr-defined]


def states(r: Release) -> dict[str, str]:
    return {s.key: str(s.state) for s in r.steps}


def test_a_release_has_every_step_in_order() -> None:
    """Given two apps, then the steps are the guide's, per app where they are per app."""
    assert keys(release().steps) == [
        "preflight", "install", "shared-build", "checks", "image:admin", "image:isp",
        "push:admin", "push:isp", "verify:admin", "verify:isp", "deploy:admin", "deploy:isp",
    ]
    assert keys(release(build_only=True).steps)[-1] == "verify:isp"
    assert release().label == "R7"


@pytest.mark.parametrize(
    ("done", "expected"),
    [
        ((), ["preflight"]),
        (("preflight",), ["install"]),
        (("preflight", "install"), ["shared-build"]),
        (("preflight", "install", "shared-build"), ["checks"]),
        (("preflight", "install", "shared-build", "checks"), ["image:admin", "image:isp"]),
        ((*BUILT[:-1],), ["image:isp"]),  # the other image is still to build: no push yet
        (BUILT, ["push:admin", "push:isp"]),
        (PUSHED, ["verify:admin", "verify:isp"]),
        (VERIFIED, ["deploy:admin"]),
        ((*VERIFIED, "deploy:admin"), ["deploy:isp"]),
    ],
)
def test_steps_become_ready_stage_by_stage(done: tuple[str, ...], expected: list[str]) -> None:
    """Given some steps done, then the ready ones are the rest of the first open stage."""
    assert keys(ready(run(release(), *done))) == expected


def test_a_running_image_holds_back_the_pushes() -> None:
    """Given one image built and the other still building, then nothing is ready."""
    r = started(run(release(), *BUILT[:4], "image:admin"), "image:isp", now=T0)
    assert ready(r) == ()


def test_timings_and_attempts_are_recorded() -> None:
    r = started(release(), "preflight", now=T0, log_path="/logs/R7/preflight.log")
    r = finished(r, "preflight", now=T0 + timedelta(seconds=3))
    step = r.step("preflight")
    assert (step.state, step.seconds, step.attempts, step.log_path) == (
        StepState.DONE, 3.0, 1, "/logs/R7/preflight.log")


def test_every_step_done_completes_the_release() -> None:
    r = run(release(), *VERIFIED, "deploy:admin", "deploy:isp")
    assert r.phase is ReleasePhase.COMPLETED
    assert r.finished_at is not None
    build_only = run(release(build_only=True), *VERIFIED)
    assert build_only.phase is ReleasePhase.COMPLETED


def test_a_verified_digest_is_kept() -> None:
    r = run(release(), *PUSHED)
    r = started(r, "verify:admin", now=T0)
    r = finished(r, "verify:admin", now=T0, digest="sha256:abc")
    assert r.digest("admin") == "sha256:abc"


@pytest.mark.parametrize("failing", ["install", "shared-build", "image:isp", "push:admin"])
def test_a_failed_step_ends_the_release_and_skips_the_rest(failing: str) -> None:
    """Given the steps before it done, when `failing` fails, then the release failed with
    its reason, and every step that had not started is skipped."""
    order = keys(release().steps)
    r = run(release(), *[k for k in order[: order.index(failing)] if k != "image:admin"
                         or failing != "image:isp"])
    if failing == "image:isp":
        r = started(r, "image:admin", now=T0)  # its sibling is still building
    r = failed(started(r, failing, now=T0), failing, now=T0, reason="exit status 1")
    assert r.phase is ReleasePhase.FAILED
    assert r.reason == f"{failing}: exit status 1"
    assert ready(r) == ()
    assert {s.state for s in r.steps[order.index(failing) + 1:]} <= {
        StepState.SKIPPED, StepState.RUNNING}
    assert states(r)["deploy:isp"] == "skipped"


def test_the_sibling_of_a_failed_image_settles_later() -> None:
    """Given both images building, when one fails and then the other is stopped, then the
    release keeps the first reason and finishes only once both have ended."""
    r = run(release(), *BUILT[:3])
    r = started(started(r, "image:admin", now=T0), "image:isp", now=T0)
    r = failed(r, "image:admin", now=T0, reason="RUN step failed")
    assert r.finished_at is None
    r = failed(r, "image:isp", now=T0 + timedelta(seconds=2), reason="stopped")
    assert r.reason == "image:admin: RUN step failed"
    assert r.finished_at == T0 + timedelta(seconds=2)


def test_a_stop_during_the_build_ends_the_release_once_the_build_has_ended() -> None:
    """Given the images building, when U0BOB stops the release, then nothing more is ready,
    the release is cancelled by him, and the builds settle as failed when they end."""
    r = run(release(), *BUILT[:3])
    r = started(started(r, "image:admin", now=T0), "image:isp", now=T0)
    asked = stop_requested(r, user="U0BOB")
    assert ready(asked) == () and asked.phase is ReleasePhase.RUNNING
    r = cancelled(asked, user="U0BOB", now=T0)
    assert (r.phase, r.stopped_by, r.reason) == (ReleasePhase.CANCELLED, "U0BOB",
                                                   "stopped by U0BOB")
    assert states(r)["push:admin"] == "skipped"
    for key in ("image:admin", "image:isp"):
        r = failed(r, key, now=T0, reason="stopped by U0BOB")
    assert r.reason == "stopped by U0BOB" and r.finished_at == T0


def test_a_stop_during_a_deploy_leaves_the_rollout_running() -> None:
    r = started(run(release(), *VERIFIED), "deploy:admin", now=T0)
    r = deploy_started(r, "deploy:admin", rollout_id=12)
    r = cancelled(r, user="U0BOB", now=T0)
    step = r.step("deploy:admin")
    assert (step.state, step.detail) == (StepState.SKIPPED, "left running as rollout #12")
    assert states(r)["deploy:isp"] == "skipped"


@pytest.mark.parametrize(
    ("running", "verified", "expected"),
    [
        ("install", {}, "pending"),  # a build runs again
        ("shared-build", {}, "pending"),
        ("image:admin", {}, "pending"),
        ("push:admin", {}, "pending"),  # its tag is not in the registry: pushed again
        ("push:admin", {"admin": "sha256:abc"}, "done"),  # verified: not pushed again
        ("verify:admin", {}, "pending"),
    ],
)
def test_after_a_restart(running: str, verified: dict[str, str], expected: str) -> None:
    """Given `running` interrupted by a crash, when the release is taken up again with the
    tags the registry has, then the step is pending again, or done when its push is."""
    order = keys(release().steps)
    before = [k for k in order[: order.index(running)] if not k.startswith(running[:5])]
    r = started(run(release(), *before), running, now=T0)
    r = recovered(r, verified=verified, now=T0 + timedelta(minutes=1))
    assert states(r)[running] == expected
    if expected == "pending":
        assert keys(ready(r))[0].split(":")[0] == running.split(":", maxsplit=1)[0]


def test_a_restart_follows_a_deploy_that_started_its_rollout() -> None:
    r = started(run(release(), *VERIFIED), "deploy:admin", now=T0)
    with_rollout = recovered(deploy_started(r, "deploy:admin", rollout_id=3), verified={}, now=T0)
    assert with_rollout.step("deploy:admin").state is StepState.RUNNING
    without = recovered(r, verified={}, now=T0)
    assert without.step("deploy:admin").state is StepState.PENDING


def test_a_pending_push_whose_tag_appeared_is_not_pushed_after_a_restart() -> None:
    r = recovered(run(release(), *BUILT), verified={"isp": "sha256:1"}, now=T0)
    assert (states(r)["push:admin"], states(r)["push:isp"]) == ("pending", "done")


def test_a_reused_image_is_neither_built_nor_pushed() -> None:
    r = reused(run(release(), "preflight"), "isp", detail="pushed by R3")
    r = run(r, "install", "shared-build", "checks", "image:admin")
    assert keys(ready(r)) == ["push:admin"]
    assert states(r)["image:isp"] == states(r)["push:isp"] == "skipped"


def test_a_step_moves_only_from_the_state_it_is_in() -> None:
    with pytest.raises(ValueError, match="not running"):
        finished(release(), "install", now=T0)
    done = run(release(), "preflight")
    with pytest.raises(ValueError, match="not pending"):
        started(done, "preflight", now=T0)


def test_an_ended_release_ignores_a_late_stop() -> None:
    r = run(release(build_only=True), *VERIFIED)
    assert stop_requested(r, user="U0BOB") == r
    assert cancelled(r, user="U0BOB", now=T0) == r
    assert replace(r, phase=ReleasePhase.RUNNING).active


def test_the_checks_run_after_the_shared_build_and_before_any_image() -> None:
    r = run(release(), "preflight", "install", "shared-build")
    assert keys(ready(r)) == ["checks"]
    failed_checks = failed(started(r, "checks", now=T0), "checks", now=T0,
                           reason="`pnpm --filter ui lint` exited with status 1")
    assert failed_checks.phase is ReleasePhase.FAILED
    assert failed_checks.reason == "checks: `pnpm --filter ui lint` exited with status 1"
    assert {states(failed_checks)[f"image:{app}"] for app in APPS} == {"skipped"}


def test_a_release_with_skip_checks_goes_from_the_shared_build_to_the_images() -> None:
    """Given skip-checks, then the checks step is skipped from the start and never runs."""
    skipping = replace(release(), steps=plan_steps(APPS, build_only=False, skip_checks=True))
    assert states(skipping)["checks"] == "skipped"
    r = run(skipping, "preflight", "install", "shared-build")
    assert keys(ready(r)) == ["image:admin", "image:isp"]


def test_checks_interrupted_by_a_restart_run_again() -> None:
    r = started(run(release(), "preflight", "install", "shared-build"), "checks", now=T0)
    assert states(recovered(r, verified={}, now=T0))["checks"] == "pending"
