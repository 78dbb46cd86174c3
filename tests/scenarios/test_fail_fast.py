"""A tenant whose new pods crash-loop fails its batch in seconds, not at the end of its
rollout timeout: the engine's wait stops at the adapter's first look at the new pods
(five seconds in, by default), and the reason names the pod and its restarts."""

from __future__ import annotations

import re
import time

from rollout.model import EventKind, Phase, TargetStatus
from tests.scenarios.conftest import OLD_ISP, MakeWorld

TIMEOUT = 300  # the default rollout_timeout: what a crash loop used to hold a batch for


def test_a_crash_looping_tenant_fails_its_batch_quickly(make_world: MakeWorld) -> None:
    # Given a fleet of 12 where one tenant of batch 1 crash-loops on the new version
    world = make_world(tenants=12, rollout_timeout_seconds=TIMEOUT)
    sick = world.tenants[4]
    world.sim.set_behaviour(sick, "v1.3.0", "crash")

    # When the rollout runs
    started = time.monotonic()
    rollout = world.follow(world.start().id, until=lambda r: r.phase is Phase.PAUSED)
    took = time.monotonic() - started

    # Then batch 1 fails on that tenant within seconds, with the pod's trouble as the reason
    assert took < 20, f"the batch was held {took:.1f}s"
    assert rollout.paused_from is Phase.BATCH and rollout.current_batch == 1
    failed = rollout.target(sick)
    assert failed.status is TargetStatus.FAILED
    stopped = r"rollout stopped early: pod isp-ops-app-\S+: CrashLoopBackOff after \d+ restarts"
    assert re.match(stopped, failed.reason), failed.reason
    others = [t for t in rollout.batch(1) if t.namespace != sick]
    assert {t.status for t in others} == {TargetStatus.UPDATED}
    assert all(world.image(t.namespace) == OLD_ISP for t in rollout.batch(2))
    (told,) = world.listener.of(EventKind.FAILED)
    assert told.problems == (f"{sick}: {failed.reason}",)
