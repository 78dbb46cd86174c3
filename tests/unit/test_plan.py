"""rollout.plan: targets into pilots and batches, option overrides, estimates and ETAs."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.model import (
    PILOT_BATCH,
    Phase,
    Rollout,
    Settings,
    Strategy,
    Target,
    TargetStatus,
)
from rollout.options import BatchSpec, RolloutOptions, Waves, format_duration, parse_duration
from rollout.plan import (
    Pace,
    Plan,
    PlanError,
    Step,
    batch_cap,
    estimate,
    eta,
    make_plan,
    observed_batch_seconds,
    resolve_settings,
)
from tests.builders import T0, make_rollout


def fleet(n: int) -> list[str]:
    return [f"tenant-{i:03d}" for i in range(n)]


def sizes(plan: Plan) -> list[int]:
    return [len(b) for b in plan.batches]


# --- make_plan ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "overrides", "pilots", "expected_sizes"),
    [
        (12, {}, 2, [5, 5]),
        (13, {}, 2, [5, 5, 1]),
        (10, {"pilot_count": 0}, 0, [5, 5]),
        (10, {"batch_size": 3, "pilot_count": 1}, 1, [3, 3, 3]),
        (20, {"batch_percent": 10, "pilot_count": 0}, 0, [2] * 10),
        (15, {"batch_percent": 10, "pilot_count": 0}, 0, [2] * 7 + [1]),  # ceil(1.5) = 2
        (3, {"batch_percent": 1, "pilot_count": 0}, 0, [1, 1, 1]),  # never below 1
        (17, {"waves": "double", "batch_size": 100}, 2, [1, 2, 4, 8]),
        (20, {"waves": "double", "batch_size": 3}, 2, [1, 2, 3, 3, 3, 3, 3]),
        (2, {}, 2, []),
        (1, {"pilot_count": 5}, 1, []),
    ],
)
def test_batch_shapes(
    n: int, overrides: dict[str, object], pilots: int, expected_sizes: list[int]
) -> None:
    plan = make_plan(fleet(n), replace(Settings(), **overrides))  # type: ignore[arg-type]
    assert len(plan.pilots) == pilots
    assert sizes(plan) == expected_sizes
    assert sorted(plan.all_targets()) == fleet(n)


def test_order_entries_first_then_by_name_and_pilots_from_the_front() -> None:
    plan = make_plan(
        ["c", "a", "e", "b", "d"], Settings(batch_size=2, pilot_count=1), order=["d", "x", "b", "d"]
    )
    assert plan.pilots == ("d",)
    assert plan.batches == (("b", "a"), ("c", "e"))


def test_named_pilots_keep_fleet_order_and_leave_the_batches() -> None:
    settings = Settings(batch_size=2, pilot_count=2, pilot_tenants=("d", "b"))
    plan = make_plan(["a", "b", "c", "d", "e"], settings)
    assert plan.pilots == ("b", "d")
    assert plan.batches == (("a", "c"), ("e",))


def test_tenants_narrow_the_targets() -> None:
    plan = make_plan(fleet(10), Settings(pilot_count=1), tenants=["tenant-007", "tenant-002"])
    assert plan.all_targets() == ("tenant-002", "tenant-007")


def test_unknown_tenants_and_pilots_are_all_listed_at_once() -> None:
    settings = Settings(pilot_tenants=("tenant-009", "nope"))
    with pytest.raises(PlanError) as caught:
        make_plan(fleet(3), settings, tenants=["tenant-001", "tenant-00x", "ghost"])
    problems = caught.value.problems
    assert problems[0].startswith("tenant tenant-00x is not a tenant namespace (did you mean")
    assert problems[1] == "tenant ghost is not a tenant namespace"
    assert any(p.startswith("pilot tenant-009 is not among the targets") for p in problems)
    assert any(p.startswith("pilot nope is not among the targets") for p in problems)
    assert len(problems) == 4


@pytest.mark.parametrize("tenants", [None, []])
def test_zero_targets_is_an_error(tenants: list[str] | None) -> None:
    with pytest.raises(PlanError, match="no tenant namespaces"):
        make_plan([], Settings(), tenants=tenants)


@pytest.mark.parametrize(
    ("overrides", "gate"),
    [
        ({}, 1),
        ({"pilot_count": 0}, 1),
        ({"approval": False}, None),
        ({"pilot_count": 0, "approval": False}, None),
        ({"pilot_count": 10}, None),  # every target is a pilot: no batch left to gate
    ],
)
def test_approval_gate_stands_before_batch_one(
    overrides: dict[str, object], gate: int | None
) -> None:
    plan = make_plan(fleet(6), replace(Settings(), **overrides))  # type: ignore[arg-type]
    assert plan.approval_before == gate


def test_plan_helpers() -> None:
    plan = make_plan(fleet(5), Settings(batch_size=2, pilot_count=1))
    assert plan.batch_of("tenant-000") == PILOT_BATCH
    assert plan.batch_of("tenant-004") == 2
    assert plan.batch_count == 2
    with pytest.raises(KeyError):
        plan.batch_of("ghost")
    assert plan.to_targets() == (
        Target("tenant-000", PILOT_BATCH),
        Target("tenant-001", 1),
        Target("tenant-002", 1),
        Target("tenant-003", 2),
        Target("tenant-004", 2),
    )


def test_duplicate_names_count_once() -> None:
    plan = make_plan(["a", "b", "a"], Settings(pilot_count=0), tenants=["b", "a", "b"])
    assert plan.all_targets() == ("a", "b")


# --- resolve_settings ---------------------------------------------------------------------


BASE = Settings(batch_size=5, wait_seconds=60, pilot_count=2, waves="fixed")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (RolloutOptions(), BASE),
        (RolloutOptions(batch=BatchSpec(size=9)), replace(BASE, batch_size=9)),
        (RolloutOptions(batch=BatchSpec(percent=25)), replace(BASE, batch_percent=25)),
        (RolloutOptions(wait=0), replace(BASE, wait_seconds=0)),
        (RolloutOptions(pilot_count=0), replace(BASE, pilot_count=0)),
        (
            RolloutOptions(pilot_tenants=("x", "y", "z")),
            replace(BASE, pilot_count=3, pilot_tenants=("x", "y", "z")),
        ),
        (RolloutOptions(waves=Waves.FIXED), BASE),
        # waves=double alone is uncapped: a 100% batch is the whole fleet.
        (RolloutOptions(waves=Waves.DOUBLE), replace(BASE, waves="double", batch_percent=100)),
        (
            RolloutOptions(waves=Waves.DOUBLE, batch=BatchSpec(size=8)),
            replace(BASE, waves="double", batch_size=8),
        ),
    ],
)
def test_command_options_override_app_settings(options: RolloutOptions, expected: Settings) -> None:
    assert resolve_settings(BASE, options) == expected


def test_batch_size_replaces_a_configured_percent() -> None:
    base = replace(BASE, batch_percent=10)
    assert resolve_settings(base, RolloutOptions(batch=BatchSpec(size=3))).batch_percent is None


def test_pilot_count_replaces_configured_pilot_tenants() -> None:
    base = replace(BASE, pilot_tenants=("a",), pilot_count=1)
    resolved = resolve_settings(base, RolloutOptions(pilot_count=3))
    assert (resolved.pilot_count, resolved.pilot_tenants) == (3, ())


def test_configured_doubling_keeps_its_cap() -> None:
    base = replace(BASE, waves="double", batch_size=4)
    assert resolve_settings(base, RolloutOptions(waves=Waves.DOUBLE)) == base


def test_uncapped_doubling_plan() -> None:
    resolved = resolve_settings(BASE, RolloutOptions(waves=Waves.DOUBLE, pilot_count=0))
    assert sizes(make_plan(fleet(100), resolved)) == [1, 2, 4, 8, 16, 32, 37]


# --- estimate and format_duration ---------------------------------------------------------


def test_estimate_counts_pilots_monitor_batches_and_waits_but_not_approval() -> None:
    settings = Settings(batch_size=2, pilot_count=1, wait_seconds=30, pilot_monitor_seconds=600)
    plan = make_plan(fleet(6), settings)
    est = estimate(plan, settings, pace=Pace(tenant_seconds=40))
    assert est.steps == (
        Step("pilot", 40, PILOT_BATCH, 1),
        Step("pilot-monitor", 600),
        Step("approval", 0, 1),
        Step("batch", 40, 1, 2),
        Step("wait", 30, 2),
        Step("batch", 40, 2, 2),
        Step("wait", 30, 3),
        Step("batch", 40, 3, 1),
    )
    assert est.total_seconds == 40 + 600 + 3 * 40 + 2 * 30
    assert est.awaits_approval


def test_estimate_without_pilots_or_approval() -> None:
    settings = Settings(batch_size=5, pilot_count=0, approval=False, wait_seconds=10)
    est = estimate(make_plan(fleet(10), settings), settings)
    assert [s.kind for s in est.steps] == ["batch", "wait", "batch"]
    assert est.total_seconds == 130
    assert not est.awaits_approval


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-5, "0s"),
        (0.4, "0s"),
        (45, "45s"),
        (59.6, "1m"),
        (60, "1m"),
        (330, "5m30s"),
        (3599, "59m59s"),
        (3600, "1h"),
        (3900, "1h5m"),
        (3929, "1h5m29s"),
        (3930, "1h5m30s"),
        (86399, "23h59m59s"),
        (2 * 86400 + 3 * 3600, "51h"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    # One form for every duration rollbot shows, the one `wait=` takes: it reads back
    assert format_duration(seconds) == text
    assert parse_duration(text) == max(0, round(seconds))


def test_batch_cap() -> None:
    assert batch_cap(Settings(batch_percent=10), fleet_size=0) == 1
    assert batch_cap(Settings(batch_percent=10), fleet_size=11) == 2
    assert batch_cap(Settings(batch_size=0), fleet_size=11) == 1


# --- eta ----------------------------------------------------------------------------------


def rollout_of(plan: Plan, settings: Settings, **fields: object) -> Rollout:
    return make_rollout(
        settings=settings, targets=plan.to_targets(), batch_count=plan.batch_count, **fields
    )


def finish_batch(r: Rollout, index: int, *, start: datetime, seconds: float) -> Rollout:
    done = [
        t.with_status(TargetStatus.UPDATING, at=start).with_status(
            TargetStatus.UPDATED, at=start + timedelta(seconds=seconds)
        )
        for t in r.batch(index)
    ]
    return r.with_targets(done)


SET = Settings(batch_size=2, pilot_count=1, wait_seconds=60, pilot_monitor_seconds=1800)
PLAN = make_plan(fleet(7), SET)  # pilot + batches of 2, 2, 2


def test_eta_before_start_is_the_whole_estimate() -> None:
    r = rollout_of(PLAN, SET, phase=Phase.PREFLIGHT)
    expected = estimate(PLAN, SET, pace=Pace(tenant_seconds=60)).total_seconds
    assert eta(r, now=T0, pace=Pace(tenant_seconds=60)) == T0 + timedelta(seconds=expected)


def test_eta_of_a_scheduled_rollout_starts_at_its_start_time() -> None:
    start = T0 + timedelta(hours=2)
    r = rollout_of(PLAN, SET, phase=Phase.SCHEDULED, start_at=start)
    expected = estimate(PLAN, SET).total_seconds
    assert eta(r, now=T0) == start + timedelta(seconds=expected)


def test_eta_uses_the_observed_batch_time_and_the_current_wait() -> None:
    r = rollout_of(PLAN, SET)
    r = finish_batch(r, PILOT_BATCH, start=T0, seconds=100)
    r = finish_batch(r, 1, start=T0 + timedelta(hours=1), seconds=200)
    now = T0 + timedelta(hours=1, minutes=5)
    r = r.with_phase(Phase.WAITING, deadline=now + timedelta(seconds=20))
    assert observed_batch_seconds(r) == 150
    # 20s of this wait, batch 2, one more wait, batch 3.
    assert eta(r, now=now) == now + timedelta(seconds=20 + 150 + 60 + 150)


def test_eta_counts_only_what_is_left_of_a_batch_under_way() -> None:
    r = rollout_of(PLAN, SET, current_batch=3, phase=Phase.BATCH)
    for index in (PILOT_BATCH, 1, 2):
        r = finish_batch(r, index, start=T0, seconds=90)
    started = [t.with_status(TargetStatus.UPDATING, at=T0) for t in r.batch(3)]
    r = r.with_targets(started)
    assert eta(r, now=T0 + timedelta(seconds=30)) == T0 + timedelta(seconds=90)
    assert eta(r, now=T0 + timedelta(seconds=500)) == T0 + timedelta(seconds=500)


def test_eta_during_the_pilot_monitor_window() -> None:
    r = finish_batch(rollout_of(PLAN, SET), PILOT_BATCH, start=T0, seconds=60)
    r = r.with_phase(Phase.MONITORING, deadline=T0 + timedelta(minutes=30))
    # Window left + three batches + two waits; the approval gate is not counted.
    expected = T0 + timedelta(minutes=30) + timedelta(seconds=3 * 60 + 2 * 60)
    assert eta(r, now=T0) == expected


@pytest.mark.parametrize(
    "phase",
    [Phase.PAUSED, Phase.AWAITING_APPROVAL, Phase.ROLLING_BACK, Phase.COMPLETED, Phase.FAILED],
)
def test_no_eta_when_a_person_decides_or_it_is_over(phase: Phase) -> None:
    assert eta(rollout_of(PLAN, SET, phase=phase), now=T0) is None


def test_blue_green_eta_includes_the_monitor_window() -> None:
    bg = Settings(monitor_seconds=300)
    r = replace(
        rollout_of(PLAN, bg, phase=Phase.STAGING),
        strategy=Strategy.BLUE_GREEN,
        targets=(Target("platform-admin", PILOT_BATCH),),
    )
    assert eta(r, now=T0, pace=Pace(tenant_seconds=30)) == T0 + timedelta(seconds=330)


# --- properties ---------------------------------------------------------------------------

names = st.lists(
    st.text(alphabet="abcdefghij-0123456789", min_size=1, max_size=8),
    unique=True,
    max_size=300,
)


@st.composite
def fleets_and_settings(draw: st.DrawFn) -> tuple[list[str], Settings, list[str] | None]:
    namespaces = draw(names)
    tenants = None
    narrow = draw(st.booleans())
    if namespaces and narrow:
        tenants = draw(st.lists(st.sampled_from(namespaces), unique=True, min_size=1))
    targets = tenants if tenants is not None else namespaces
    pilot_tenants: tuple[str, ...] = ()
    name_pilots = draw(st.booleans())
    if targets and name_pilots:
        pilot_tenants = tuple(draw(st.lists(st.sampled_from(targets), unique=True, max_size=4)))
    base = Settings(
        batch_size=draw(st.integers(1, 60)),
        batch_percent=draw(st.none() | st.integers(1, 100)),
        waves=draw(st.sampled_from(["fixed", "double"])),
        pilot_count=draw(st.integers(0, 6)),
        pilot_tenants=pilot_tenants,
        approval=draw(st.booleans()),
    )
    options = RolloutOptions(
        batch=draw(st.none() | st.builds(BatchSpec, size=st.integers(1, 60))),
        waves=draw(st.none() | st.sampled_from(Waves)),
        pilot_count=draw(st.none() | st.integers(0, 6)) if not pilot_tenants else None,
    )
    return namespaces, resolve_settings(base, options), tenants


@settings(deadline=None, max_examples=150)
@given(fleets_and_settings(), st.randoms(use_true_random=False))
def test_plan_properties(
    case: tuple[list[str], Settings, list[str] | None], rnd: random.Random
) -> None:
    namespaces, chosen, tenants = case
    targets = namespaces if tenants is None else tenants
    if not targets:
        with pytest.raises(PlanError):
            make_plan(namespaces, chosen, tenants=tenants)
        return
    plan = make_plan(namespaces, chosen, tenants=tenants)
    flat = plan.all_targets()
    # Every target exactly once, and only targets (tenants= respected).
    assert sorted(flat) == sorted(targets)
    # Pilots come first and are the ones asked for.
    if chosen.pilot_tenants:
        assert set(plan.pilots) == set(chosen.pilot_tenants)
    else:
        assert plan.pilots == tuple(sorted(targets))[: chosen.pilot_count]
    assert flat[: len(plan.pilots)] == plan.pilots
    # No batch is empty or larger than its cap.
    cap = batch_cap(chosen, fleet_size=len(targets))
    assert all(1 <= len(b) <= cap for b in plan.batches)
    if chosen.batch_percent is not None:
        assert cap == max(1, math.ceil(len(targets) * chosen.batch_percent / 100))
    if chosen.waves == "double":
        expected = [min(2**i, cap) for i in range(len(plan.batches))]
        assert sizes(plan)[:-1] == expected[:-1]
        assert not plan.batches or len(plan.batches[-1]) <= expected[-1]
    else:
        assert all(len(b) == cap for b in plan.batches[:-1])
    # Stable under shuffling of the input.
    shuffled = list(namespaces)
    rnd.shuffle(shuffled)
    assert make_plan(shuffled, chosen, tenants=tenants) == plan


def test_eta_of_a_helm_rollout_counts_its_waits_as_a_rolling_one_does() -> None:
    r = rollout_of(PLAN, SET, phase=Phase.PREFLIGHT)
    assert eta(replace(r, strategy=Strategy.HELM), now=T0) == eta(r, now=T0)
