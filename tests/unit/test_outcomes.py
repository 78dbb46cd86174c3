"""Per-tenant outcomes and retried calls: what every summary line is counted from.

Given tenants moved by the state machine (updated, failed, skipped, rolled back), the
counts follow what happened to each one, so a roll back never hides a failure. Given
Kubernetes calls tried again while one rollout's work runs, the count lands on that
rollout, in the journal's terms, and nowhere else.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from rollout import retries
from rollout.engine.work import CallPool
from rollout.machine import CallsRetried, RolledBack, TargetResult, TargetsUpdated, decide
from rollout.model import Phase, Retries, Rollout, Settings, TargetStatus
from rollout.outcomes import outcomes
from tests.builders import T0, make_rollout, planned_targets

S = TargetStatus


def pilots_updating(*, auto_rollback: bool) -> Rollout:
    plan = {"p1": 0, "p2": 0, "a": 1, "b": 1}
    return make_rollout(
        phase=Phase.PILOT,
        settings=Settings(auto_rollback=auto_rollback, pilot_count=2, batch_size=2),
        targets=planned_targets(plan, statuses={"p1": S.UPDATING, "p2": S.UPDATING}),
        batch_count=1,
        current_batch=0,
    )


def test_a_failure_still_counts_after_the_automatic_roll_back_it_caused() -> None:
    # Given auto_rollback, and pilots whose updates settle one healthy and one failed
    rollout = pilots_updating(auto_rollback=True)
    results = (TargetResult("p1", True), TargetResult("p2", False, "unhealthy"))
    # When the results come in, the roll back begins at once
    rolling_back, _ = decide(rollout, TargetsUpdated(0, results), now=T0)
    assert rolling_back.phase is Phase.ROLLING_BACK
    assert {t.status for t in rolling_back.batch(0)} == {S.ROLLING_BACK}
    # Then the pilots still read as one updated and one failed, with the reason
    during = outcomes(rolling_back.batch(0))
    assert (during.updated, during.failed_names(), during.rolling_back) == (1, ("p2",), 2)
    assert during.failed[0].reason == "unhealthy"
    # And once both are back, they count as rolled back on top of that
    back = (TargetResult("p1", True), TargetResult("p2", True))
    done, _ = decide(rolling_back, RolledBack(back), now=T0)
    after = outcomes(done.targets)
    assert done.phase is Phase.ROLLED_BACK
    assert (after.updated, len(after.failed), after.rolled_back, after.pending) == (1, 1, 2, 2)


def test_a_retry_forgets_the_failure_it_answers() -> None:
    rollout = pilots_updating(auto_rollback=False)
    results = (TargetResult("p1", True), TargetResult("p2", False, "unhealthy"))
    paused, _ = decide(rollout, TargetsUpdated(0, results), now=T0)
    assert paused.phase is Phase.PAUSED and outcomes(paused.targets).failed_names() == ("p2",)
    again = paused.with_targets([paused.target("p2").with_status(S.UPDATING, at=T0)])
    counted = outcomes(again.targets)
    assert (counted.failed, counted.updating, counted.left) == ((), 1, 3)


def test_a_tenant_whose_roll_back_failed_keeps_how_its_update_went() -> None:
    target = planned_targets({"p1": 0})[0].with_status(S.UPDATING, at=T0)
    target = target.with_status(S.UPDATED, at=T0).with_status(S.ROLLING_BACK, at=T0)
    target = target.with_status(S.ROLLBACK_FAILED, at=T0, reason="forbidden")
    counted = outcomes([target])
    assert (counted.updated, counted.failed, counted.rolled_back) == (1, (), 0)
    assert [t.reason for t in counted.not_rolled_back] == ["forbidden"]


def test_retried_calls_add_up_on_the_rollout_by_kind() -> None:
    rollout = make_rollout(phase=Phase.BATCH)
    once, effects = decide(rollout, CallsRetried(Retries.of({"patch": 2})), now=T0)
    twice, _ = decide(once, CallsRetried(Retries.of({"patch": 1, "read": 3})), now=T0)
    assert effects == ()
    assert twice.retries == Retries((("patch", 3), ("read", 3)))
    assert twice.retries.total == 6
    assert twice.phase is Phase.BATCH


def test_two_rollouts_counting_at_once_never_mix_their_counts() -> None:
    # Given two pieces of work running at the same time, each fanning out to a shared pool
    pool = CallPool(max_parallel=4)
    both_started = threading.Barrier(2)

    def work(kind: str, calls: int) -> Retries:
        with retries.counting() as counted:
            both_started.wait(timeout=5)
            pool.map(lambda _: retries.note(kind), list(range(calls)))
            retries.note(kind)
            return counted()

    # When each notes retries of its own kind, then each counts its own and only its own
    try:
        with ThreadPoolExecutor(2) as steps:
            isp = steps.submit(work, "patch", 7)
            admin = steps.submit(work, "read", 2)
            assert isp.result(timeout=10) == Retries.of({"patch": 8})
            assert admin.result(timeout=10) == Retries.of({"read": 3})
    finally:
        pool.shutdown(wait=True)
    # And a retry noted outside any counting is counted nowhere
    retries.note("patch")
