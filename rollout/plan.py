"""From a fleet of tenant namespaces to pilots and batches, and how long that will take.

The dry-run, the engine and the ETA in the parent message all read the same :class:`Plan`,
so what a person was shown is what runs. Pure: no I/O and no clock (``now`` comes in as an
argument); stdlib and ``rollout.*`` only.
"""

from __future__ import annotations

import difflib
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from rollout.errors import RollbotError
from rollout.model import PILOT_BATCH, Phase, Rollout, Settings, Strategy, Target, TargetStatus
from rollout.options import RolloutOptions, Waves
from rollout.versions import Fleet


class PlanError(RollbotError):
    """The targets asked for cannot be planned; `problems` lists every reason at once."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Plan:
    """Who gets the new version when: pilots first, then regular batches 1..N."""

    pilots: tuple[str, ...]
    batches: tuple[tuple[str, ...], ...]
    approval_before: int | None = None  # the regular batch the approval gate stands before
    # As the engine checked it for a deploy: the settings it runs with (its version rule
    # applied), every reason it may not start (preflight's and the version rules'), and
    # what runs on the targets now.
    settings: Settings | None = None
    problems: tuple[str, ...] = ()
    fleet: Fleet | None = None

    @property
    def batch_count(self) -> int:
        return len(self.batches)

    def all_targets(self) -> tuple[str, ...]:
        """Every target in the order it is updated."""
        return self.pilots + tuple(ns for batch in self.batches for ns in batch)

    def batch_of(self, namespace: str) -> int:
        """PILOT_BATCH for a pilot, 1..N for a regular batch; KeyError when not planned."""
        if namespace in self.pilots:
            return PILOT_BATCH
        for index, batch in enumerate(self.batches, start=1):
            if namespace in batch:
                return index
        raise KeyError(namespace)

    def to_targets(self) -> tuple[Target, ...]:
        pilots = tuple(Target(namespace=ns, batch=PILOT_BATCH) for ns in self.pilots)
        regular = tuple(
            Target(namespace=ns, batch=index)
            for index, batch in enumerate(self.batches, start=1)
            for ns in batch
        )
        return pilots + regular


def resolve_settings(base: Settings, options: RolloutOptions) -> Settings:
    """The app's settings with one command's options laid over them.

    `waves=double` on a command without `batch=` doubles without a cap (the SPEC caps the
    doubling by `batch` only "when both are given"); that is written as a 100% batch, which
    is the whole fleet. When the app's own config already doubles, its cap stays.
    """
    settings = base
    if options.batch is not None:
        if options.batch.size is not None:
            settings = replace(settings, batch_size=options.batch.size, batch_percent=None)
        else:
            settings = replace(settings, batch_percent=options.batch.percent)
    if options.wait is not None:
        settings = replace(settings, wait_seconds=options.wait)
    if options.pilot_count is not None:
        settings = replace(settings, pilot_count=options.pilot_count, pilot_tenants=())
    if options.pilot_tenants is not None:
        pilots = options.pilot_tenants
        settings = replace(settings, pilot_count=len(pilots), pilot_tenants=pilots)
    if options.waves is not None:
        if options.waves is Waves.DOUBLE and options.batch is None and base.waves != "double":
            settings = replace(settings, batch_percent=100)
        settings = replace(settings, waves=options.waves.value)
    return settings


def make_plan(
    namespaces: Sequence[str],
    settings: Settings,
    *,
    tenants: Sequence[str] | None = None,
    order: Sequence[str] = (),
) -> Plan:
    """Targets (all `namespaces`, or `tenants` among them) split into pilots and batches.

    Order is stable whatever order the namespaces arrive in: `order` entries first, then
    the rest by name. A pilot count larger than the fleet makes every target a pilot.
    Batch percentages are of all targets of this rollout, pilots included, rounded up.
    """
    fleet = _unique(namespaces)
    problems: list[str] = []
    chosen = fleet if tenants is None else _known_tenants(tenants, fleet, problems=problems)
    targets = _ordered(chosen, order)
    if not targets and not problems:
        problems.append("there are no tenant namespaces to roll out to")
    pilots = _pick_pilots(targets, settings, problems=problems)
    if problems:
        raise PlanError(problems)
    piloted = set(pilots)
    rest = [ns for ns in targets if ns not in piloted]
    cap = batch_cap(settings, fleet_size=len(targets))
    batches: list[tuple[str, ...]] = []
    offset = 0
    for size in _batch_sizes(len(rest), cap=cap, doubling=settings.waves == "double"):
        batches.append(tuple(rest[offset : offset + size]))
        offset += size
    gate = 1 if settings.approval and batches else None
    return Plan(pilots=pilots, batches=tuple(batches), approval_before=gate)


def batch_cap(settings: Settings, *, fleet_size: int) -> int:
    """The most tenants one regular batch may hold in a fleet of `fleet_size` targets."""
    if settings.batch_percent is not None:
        return max(1, -(-fleet_size * settings.batch_percent // 100))
    return max(1, settings.batch_size)


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _known_tenants(tenants: Sequence[str], fleet: list[str], *, problems: list[str]) -> list[str]:
    known = set(fleet)
    for name in _unique(tenants):
        if name not in known:
            problems.append(f"tenant {name} is not a tenant namespace{_guess(name, fleet)}")
    return [name for name in _unique(tenants) if name in known]


def _guess(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _ordered(targets: Sequence[str], order: Sequence[str]) -> tuple[str, ...]:
    present = set(targets)
    first = [ns for ns in _unique(order) if ns in present]
    placed = set(first)
    return tuple(first + sorted(ns for ns in targets if ns not in placed))


def _pick_pilots(
    targets: tuple[str, ...], settings: Settings, *, problems: list[str]
) -> tuple[str, ...]:
    if not settings.pilot_tenants:
        return targets[: max(0, settings.pilot_count)]
    wanted = set(settings.pilot_tenants)
    for name in _unique(settings.pilot_tenants):
        if name not in targets:
            problems.append(f"pilot {name} is not among the targets{_guess(name, targets)}")
    # Pilots keep the fleet's order, so the plan does not depend on how they were typed.
    return tuple(ns for ns in targets if ns in wanted)


def _batch_sizes(count: int, *, cap: int, doubling: bool) -> list[int]:
    sizes: list[int] = []
    size = 1 if doubling else cap
    while count > 0:
        take = min(size, cap, count)
        sizes.append(take)
        count -= take
        if doubling:
            size *= 2
    return sizes


# --- how long it takes --------------------------------------------------------------------
#
# One model for the dry run's estimate and the running rollout's ETA: the configured waits
# (monitor windows, waits between batches) plus each batch's rollout time, which is the
# time of one tenant's update times the rounds it takes to update the batch `parallel`
# tenants at a time. That tenant time is measured, never guessed when it can be: on the
# app's last completed rollouts before it starts, then on its own finished batches.

ASSUMED_TENANT_SECONDS = 60.0  # one tenant's update when no finished rollout says otherwise
PACE_ROLLOUTS = 5  # the most recent completed rollouts a measured pace is taken from
DEFAULT_PARALLEL = 16  # tenants at once, for an engine built without kubernetes.parallel_tenants


@dataclass(frozen=True)
class Pace:
    """How long one tenant takes from its patch to healthy, and how many are updated at
    once. `rollouts` is how many completed rollouts `tenant_seconds` was measured on; 0
    when it is assumed."""

    tenant_seconds: float = ASSUMED_TENANT_SECONDS
    parallel: int = DEFAULT_PARALLEL
    rollouts: int = 0

    @property
    def measured(self) -> bool:
        return self.rollouts > 0

    def rounds(self, tenants: int) -> int:
        """How many turns a batch of `tenants` takes with `parallel` of them at a time."""
        return max(1, -(-tenants // max(1, self.parallel)))

    def batch_seconds(self, tenants: int) -> float:
        return self.rounds(tenants) * self.tenant_seconds


ASSUMED = Pace()


def measured_pace(history: Iterable[Rollout], *, parallel: int = DEFAULT_PARALLEL) -> Pace:
    """The median time of one tenant's update over the newest :data:`PACE_ROLLOUTS`
    completed rollouts in `history` (newest first, as the journal lists them); the assumed
    pace when none completed with a timed tenant."""
    times: list[float] = []
    used = 0
    for rollout in history:
        if used == PACE_ROLLOUTS:
            break
        own = _tenant_times(rollout) if rollout.phase is Phase.COMPLETED else []
        if own:
            times += own
            used += 1
    if not times:
        return Pace(parallel=parallel)
    return Pace(tenant_seconds=statistics.median(times), parallel=parallel, rollouts=used)


def _tenant_times(rollout: Rollout) -> list[float]:
    """Each updated tenant's own patch-to-healthy time."""
    return [
        (t.finished_at - t.started_at).total_seconds()
        for t in rollout.targets
        if t.status is TargetStatus.UPDATED and t.started_at and t.finished_at
    ]


@dataclass(frozen=True)
class Step:
    """One stretch of a rollout in an estimate: kind is pilot, pilot-monitor, approval,
    batch, wait or monitor (blue-green, after the switch); `batch` says which regular
    batch a batch or its preceding wait is."""

    kind: str
    seconds: float
    batch: int | None = None
    tenants: int = 0


_WAITS = frozenset({"pilot-monitor", "wait", "monitor"})
_WORK = frozenset({"pilot", "batch"})


@dataclass(frozen=True)
class Estimate:
    """Expected duration of a plan, and what it rests on. The approval gate is a step of 0
    seconds: people take as long as they take, so `awaits_approval` flags that the total
    leaves it out."""

    steps: tuple[Step, ...]
    total_seconds: float
    awaits_approval: bool
    pace: Pace = ASSUMED

    @property
    def wait_seconds(self) -> float:
        """The configured part: monitor windows and waits between batches."""
        return sum(s.seconds for s in self.steps if s.kind in _WAITS)

    @property
    def batch_seconds(self) -> float:
        """The mean rollout time of one batch (the pilots count as one), as estimated."""
        work = [s.seconds for s in self.steps if s.kind in _WORK]
        return sum(work) / len(work) if work else 0.0


def estimate(
    plan: Plan, settings: Settings, *, pace: Pace = ASSUMED, strategy: Strategy = Strategy.ROLLING
) -> Estimate:
    """The plan's waits, plus each batch's rollout time at `pace`."""
    steps: list[Step] = []
    if plan.pilots:
        pilots = len(plan.pilots)
        steps.append(Step("pilot", pace.batch_seconds(pilots), PILOT_BATCH, pilots))
        steps.append(Step("pilot-monitor", float(settings.pilot_monitor_seconds)))
    for index, batch in enumerate(plan.batches, start=1):
        if index == plan.approval_before:
            steps.append(Step("approval", 0.0, index))
        elif index > 1:
            steps.append(Step("wait", float(settings.wait_seconds), index))
        steps.append(Step("batch", pace.batch_seconds(len(batch)), index, len(batch)))
    if strategy is Strategy.BLUE_GREEN:
        steps.append(Step("monitor", float(settings.monitor_seconds)))
    total = sum(step.seconds for step in steps)
    return Estimate(
        steps=tuple(steps),
        total_seconds=total,
        awaits_approval=plan.approval_before is not None,
        pace=pace,
    )


_OPEN = frozenset({TargetStatus.PENDING, TargetStatus.UPDATING})
# Phases whose end depends on a person, or that are too short to be worth a guess.
_NO_ETA = frozenset({Phase.PAUSED, Phase.AWAITING_APPROVAL, Phase.ROLLING_BACK})


def eta(rollout: Rollout, *, now: datetime, pace: Pace = ASSUMED) -> datetime | None:
    """When a running rollout should end, not counting any approval still ahead of it.

    None when it is finished, or waiting on a person (paused, approval) or rolling back.
    The estimate's model, with the pace this rollout's own finished batches show, else
    `pace` (what its app's past rollouts showed).
    """
    if rollout.phase.terminal or rollout.phase in _NO_ETA:
        return None
    start = now
    if rollout.phase is Phase.SCHEDULED and rollout.start_at is not None:
        start = max(now, rollout.start_at)
    pace = own_pace(rollout, pace)
    seconds = _window_left(rollout, now) + _monitor_ahead(rollout)
    seconds += _work_left(rollout, now=now, pace=pace)
    seconds += _waits_left(rollout) * rollout.settings.wait_seconds
    return start + timedelta(seconds=seconds)


def own_pace(rollout: Rollout, pace: Pace) -> Pace:
    """`pace` with the tenant time this rollout's own finished batches showed, when any
    finished: they are the newest measure of this fleet."""
    observed = observed_batch_seconds(rollout, parallel=pace.parallel)
    return pace if observed is None else replace(pace, tenant_seconds=observed)


def observed_batch_seconds(rollout: Rollout, *, parallel: int = DEFAULT_PARALLEL) -> float | None:
    """Mean time of one round of the batches that finished (first start to last finish,
    over the rounds `parallel` made of it); None before any finished."""
    rounds = []
    for batch in _batches(rollout).values():
        if any(t.status in _OPEN for t in batch):
            continue
        starts = [t.started_at for t in batch if t.started_at is not None]
        ends = [t.finished_at for t in batch if t.finished_at is not None]
        if starts and ends:
            took = max(0.0, (max(ends) - min(starts)).total_seconds())
            rounds.append(took / Pace(parallel=parallel).rounds(len(batch)))
    return sum(rounds) / len(rounds) if rounds else None


def _batches(rollout: Rollout) -> dict[int, list[Target]]:
    out: dict[int, list[Target]] = {}
    for target in rollout.targets:
        out.setdefault(target.batch, []).append(target)
    return dict(sorted(out.items()))


def _window_left(rollout: Rollout, now: datetime) -> float:
    if rollout.phase in {Phase.WAITING, Phase.MONITORING} and rollout.deadline is not None:
        return max(0.0, (rollout.deadline - now).total_seconds())
    return 0.0


def _monitor_ahead(rollout: Rollout) -> float:
    """A monitor window that has not begun yet."""
    before = {Phase.SCHEDULED, Phase.PREFLIGHT}
    if rollout.strategy is Strategy.BLUE_GREEN:
        ahead = rollout.phase in before | {Phase.STAGING}
        return float(rollout.settings.monitor_seconds) if ahead else 0.0
    has_pilots = any(t.batch == PILOT_BATCH for t in rollout.targets)
    if has_pilots and rollout.phase in before | {Phase.PILOT}:
        return float(rollout.settings.pilot_monitor_seconds)
    return 0.0


def _work_left(rollout: Rollout, *, now: datetime, pace: Pace) -> float:
    seconds = 0.0
    for batch in _batches(rollout).values():
        if not any(t.status in _OPEN for t in batch):
            continue
        starts = [t.started_at for t in batch if t.started_at is not None]
        elapsed = (now - min(starts)).total_seconds() if starts else 0.0
        seconds += max(0.0, pace.batch_seconds(len(batch)) - elapsed)
    return seconds


def _waits_left(rollout: Rollout) -> int:
    """Waits still to come between regular batches; a wait under way is in the window."""
    if not rollout.strategy.per_tenant:
        return 0
    untouched = [
        index
        for index, batch in _batches(rollout).items()
        if index > 1 and all(t.status is TargetStatus.PENDING for t in batch)
    ]
    if rollout.phase is Phase.WAITING and untouched:
        return len(untouched) - 1
    return len(untouched)
