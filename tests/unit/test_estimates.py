"""Estimates and ETAs from measured times: the pace of past rollouts, batch rounds at the
engine's parallelism, the configured waits, and the one phrase both faces show."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers import render
from rollout.model import (
    PILOT_BATCH,
    Phase,
    Rollout,
    Settings,
    Strategy,
    Target,
    TargetStatus,
)
from rollout.plan import (
    ASSUMED_TENANT_SECONDS,
    PACE_ROLLOUTS,
    Estimate,
    Pace,
    Plan,
    Step,
    estimate,
    eta,
    make_plan,
    measured_pace,
)
from tests.builders import T0, make_rollout


def fleet(n: int) -> list[str]:
    return [f"tenant-{i:03d}" for i in range(n)]


def past(rollout_id: int, *seconds: float, phase: Phase = Phase.COMPLETED) -> Rollout:
    """A finished rollout whose tenants each took the given seconds, patch to healthy."""
    targets = tuple(
        Target(f"t{i}", 1)
        .with_status(TargetStatus.UPDATING, at=T0)
        .with_status(TargetStatus.UPDATED, at=T0 + timedelta(seconds=s))
        for i, s in enumerate(seconds)
    )
    return make_rollout(id=rollout_id, phase=phase, targets=targets, batch_count=1)


# --- the pace -------------------------------------------------------------------------------


def test_the_pace_is_the_median_tenant_time_of_the_last_completed_rollouts() -> None:
    # Given a history, newest first: a failed rollout, then completed ones
    history = [past(9, 100, phase=Phase.ROLLED_BACK), past(8, 4, 6), past(7, 5, 50)]

    # When the pace is measured
    pace = measured_pace(history, parallel=8)

    # Then only the completed ones count, by their tenants' median time
    assert pace == Pace(tenant_seconds=5.5, parallel=8, rollouts=2)
    assert pace.measured


def test_the_pace_reads_no_further_back_than_its_window() -> None:
    recent = [past(100 - i, 2) for i in range(PACE_ROLLOUTS)]
    older = [past(10, 1000, 1000, 1000)]
    assert measured_pace(recent + older).tenant_seconds == 2
    assert measured_pace(recent + older).rollouts == PACE_ROLLOUTS


def test_without_a_completed_rollout_the_pace_is_assumed_and_says_so() -> None:
    pace = measured_pace([past(3, 9, phase=Phase.CANCELLED)], parallel=4)
    assert pace == Pace(tenant_seconds=ASSUMED_TENANT_SECONDS, parallel=4, rollouts=0)
    assert not pace.measured


@pytest.mark.parametrize(
    ("tenants", "parallel", "rounds"),
    [(1, 16, 1), (16, 16, 1), (17, 16, 2), (50, 16, 4), (0, 16, 1), (5, 1, 5)],
)
def test_a_batch_takes_one_tenant_time_per_round_of_parallel_updates(
    tenants: int, parallel: int, rounds: int
) -> None:
    pace = Pace(tenant_seconds=3, parallel=parallel)
    assert pace.rounds(tenants) == rounds
    assert pace.batch_seconds(tenants) == 3 * rounds


# --- the estimate ---------------------------------------------------------------------------


def test_the_estimate_is_the_waits_plus_each_batch_at_the_measured_pace() -> None:
    # Given 2 pilots, batches of 20 and 8, 10 at a time, a 30s monitor and 45s waits
    settings = Settings(
        batch_size=20, pilot_count=2, wait_seconds=45, pilot_monitor_seconds=30, approval=False
    )
    plan = make_plan(fleet(30), settings)
    pace = Pace(tenant_seconds=4, parallel=10, rollouts=3)

    # When it is estimated
    est = estimate(plan, settings, pace=pace)

    # Then pilots take one round, batch 1 two rounds, batch 2 one; waits as configured
    assert est.steps == (
        Step("pilot", 4, PILOT_BATCH, 2),
        Step("pilot-monitor", 30),
        Step("batch", 8, 1, 20),
        Step("wait", 45, 2),
        Step("batch", 4, 2, 8),
    )
    assert est.total_seconds == 4 + 30 + 8 + 45 + 4
    assert est.wait_seconds == 75
    assert est.batch_seconds == 16 / 3
    assert est.pace == pace


def test_a_blue_green_estimate_counts_its_monitor_window() -> None:
    settings = Settings(monitor_seconds=300, approval=False)
    plan = Plan(pilots=(), batches=(("platform-admin",),))
    est = estimate(plan, settings, pace=Pace(tenant_seconds=20), strategy=Strategy.BLUE_GREEN)
    assert est.total_seconds == 320
    assert est.wait_seconds == 300


# --- the ETA uses the same model ------------------------------------------------------------


SET = Settings(batch_size=2, pilot_count=1, wait_seconds=10, pilot_monitor_seconds=0)
PLAN = make_plan(fleet(5), SET)  # pilot + batches of 2 and 2


def rollout_of(**fields: object) -> Rollout:
    return make_rollout(
        settings=SET, targets=PLAN.to_targets(), batch_count=PLAN.batch_count, **fields
    )


def test_before_any_batch_the_eta_is_the_estimate_at_the_apps_pace() -> None:
    pace = Pace(tenant_seconds=7, rollouts=2)
    r = rollout_of(phase=Phase.PREFLIGHT)
    expected = estimate(PLAN, SET, pace=pace).total_seconds
    assert eta(r, now=T0, pace=pace) == T0 + timedelta(seconds=expected)
    assert expected == 7 + 7 + 10 + 7


def test_once_batches_finished_the_eta_goes_by_this_rollouts_own_time() -> None:
    # Given pilots that took 3s, where past rollouts took 30s a tenant
    r = rollout_of(phase=Phase.BATCH, current_batch=1)
    pilot = r.batch(PILOT_BATCH)[0]
    done = pilot.with_status(TargetStatus.UPDATING, at=T0).with_status(
        TargetStatus.UPDATED, at=T0 + timedelta(seconds=3)
    )
    started = [t.with_status(TargetStatus.UPDATING, at=T0) for t in r.batch(1)]
    r = r.with_targets([done, *started])

    # When the ETA is asked for right as batch 1 starts
    when = eta(r, now=T0, pace=Pace(tenant_seconds=30, rollouts=5))

    # Then batches 1 and 2 take 3s each, with the 10s wait between them
    assert when == T0 + timedelta(seconds=3 + 10 + 3)


# --- the phrase -----------------------------------------------------------------------------


def test_the_phrase_says_what_the_estimate_rests_on() -> None:
    settings = Settings(batch_size=5, pilot_count=2, wait_seconds=60, pilot_monitor_seconds=60)
    plan = make_plan(fleet(12), settings)

    measured = estimate(plan, settings, pace=Pace(tenant_seconds=4, rollouts=5))
    assert render.estimate_phrase(measured) == (
        "about 2m12s plus the approval (waits 2m, rollout ~4s per batch from the last 5 rollouts)"
    )
    once = estimate(plan, settings, pace=Pace(tenant_seconds=4, rollouts=1))
    assert "from the last rollout)" in render.estimate_phrase(once)
    assumed = estimate(plan, settings)
    assert render.estimate_phrase(assumed) == (
        "about 5m plus the approval (waits 2m; no past rollouts, assuming 1m per batch)"
    )


def test_a_blue_green_phrase_speaks_of_its_new_side() -> None:
    settings = Settings(monitor_seconds=300, approval=False)
    plan = Plan(pilots=(), batches=(("platform-admin",),))
    pace = Pace(tenant_seconds=20, rollouts=3)
    est = estimate(plan, settings, pace=pace, strategy=Strategy.BLUE_GREEN)
    assert render.estimate_phrase(est) == (
        "about 5m20s (waits 5m, rollout ~20s for the new side from the last 3 rollouts)"
    )


def test_a_batch_under_half_a_second_is_not_called_0s() -> None:
    settings = Settings(pilot_count=0, approval=False, wait_seconds=0)
    est = estimate(make_plan(fleet(3), settings), settings, pace=Pace(0.2, rollouts=1))
    phrase = "under 1s (rollout under 1s per batch from the last rollout)"
    assert render.estimate_phrase(est) == phrase


def test_without_waits_or_a_gate_the_phrase_leaves_them_out() -> None:
    quick = Estimate(
        steps=(Step("batch", 4, 1, 3),), total_seconds=4, awaits_approval=False,
        pace=Pace(tenant_seconds=4, rollouts=2),
    )  # fmt: skip
    phrase = "about 4s (rollout ~4s per batch from the last 2 rollouts)"
    assert render.estimate_phrase(quick) == phrase
