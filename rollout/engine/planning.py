"""From an app and a command's options to a plan and a not-yet-saved rollout.

The plan is made once, when the rollout is created, and stored as its targets: what a
person was shown (the dry run, the plan message) is what runs, even for a rollout
scheduled for later. Preflight then checks those targets and records their images.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from rollout import retries
from rollout.engine.preflight import Preflight, Survey
from rollout.errors import RolloutRefused
from rollout.model import (
    PILOT_BATCH,
    AppSpec,
    OsAccount,
    Phase,
    Rollout,
    Settings,
    Strategy,
    Target,
)
from rollout.options import RolloutOptions
from rollout.plan import Plan, make_plan, resolve_settings
from rollout.ports import Cluster
from rollout.version_rules import decide
from rollout.versions import Fleet


def app_spec(apps: dict[str, AppSpec], name: str) -> AppSpec:
    spec = apps.get(name)
    if spec is None:
        known = ", ".join(sorted(apps)) or "none"
        raise RolloutRefused([f"there is no app {name!r} in rollbot's configuration ({known})"])
    return spec


def plan_for(
    cluster: Cluster, spec: AppSpec, *, settings: Settings, tenants: Sequence[str] | None
) -> Plan:
    """Rolling: the tenants the selector finds (or `tenants=` among them), pilots first.
    Blue-green: the app's one namespace, with the gate before the switch when configured."""
    fleet = [] if spec.strategy is Strategy.BLUE_GREEN else cluster.list_namespaces(
        spec.tenant_selector)
    return _planned(spec, fleet, settings=settings, tenants=tenants)


def _planned(
    spec: AppSpec, namespaces: Sequence[str], *, settings: Settings,
    tenants: Sequence[str] | None,
) -> Plan:
    if spec.strategy is Strategy.BLUE_GREEN:
        gate = 1 if settings.approval else None
        return Plan(pilots=(), batches=((spec.namespace,),), approval_before=gate)
    return make_plan(namespaces, settings, tenants=tenants, order=spec.tenant_order)


_DRAFT_IDS = itertools.count(-1, -1)  # a checked draft's reads are kept under its own ID


@dataclass(frozen=True)
class Checked:
    """A rollout as checked before it is created: its plan (for a deploy, with settings,
    problems and fleet filled in) and settings, the version rules' refusals, and the
    preflight survey it was made from, kept under `surveyed_as` until it is handed over or
    forgotten. A roll back to a version is planned unchecked: nothing was surveyed."""

    plan: Plan
    settings: Settings
    problems: tuple[str, ...] = ()
    survey: Survey | None = None
    surveyed_as: int = 0

    @classmethod
    def unchecked(cls, plan: Plan, settings: Settings) -> Checked:
        return cls(plan=plan, settings=settings)


def check_deploy(
    cluster: Cluster,
    preflight: Preflight,
    spec: AppSpec,
    *,
    version: str,
    options: RolloutOptions,
    now: datetime,
    image_check: bool = True,
) -> Checked:
    """Preflight, once, over the targets; the bump from what they run; the plan made with
    the settings it brings (SPEC 12). Raises PlanError for targets that cannot be planned.
    `image_check` as for :meth:`Preflight.survey`."""
    fleet = [] if spec.strategy is Strategy.BLUE_GREEN else cluster.list_namespaces(
        spec.tenant_selector)
    rough = resolve_settings(spec.settings, options)
    # The targets alone: pilots are chosen once the settings are known.
    targets_only = replace(rough, pilot_count=0, pilot_tenants=())
    first = _planned(spec, fleet, settings=targets_only, tenants=options.tenants)
    surveyed_as = next(_DRAFT_IDS)
    probe = draft(spec, first, version=version, settings=rough, user="", now=now)
    with retries.counting() as counted:  # handed to the rollout with the survey
        survey = preflight.survey(replace(probe, id=surveyed_as), spec, image_check=image_check)
    survey = replace(survey, retried=counted())
    decision = decide(spec, version, options, Fleet.of(survey.running), now=now)
    plan = _planned(spec, fleet, settings=decision.settings, tenants=options.tenants)
    plan = replace(plan, settings=decision.settings, fleet=decision.fleet,
                   problems=decision.problems + survey.problems)
    return Checked(plan=plan, settings=decision.settings, problems=decision.problems,
                   survey=survey, surveyed_as=surveyed_as)


def draft(
    spec: AppSpec,
    plan: Plan,
    *,
    version: str,
    settings: Settings,
    user: str,
    now: datetime,
    start_at: datetime | None = None,
    source: str = "cli",
    channel: str = "",
    requested_from: OsAccount | None = None,
) -> Rollout:
    """The rollout to create (ID 0 until the journal assigns one)."""
    if spec.strategy is Strategy.BLUE_GREEN:
        targets: tuple[Target, ...] = (Target(namespace=spec.namespace, batch=PILOT_BATCH),)
        batch_count = 0
    else:
        targets, batch_count = plan.to_targets(), plan.batch_count
    return Rollout(
        id=0,
        app=spec.name,
        strategy=spec.strategy,
        version=version,
        image=spec.image,
        requested_by=user,
        created_at=now,
        settings=settings,
        phase=Phase.SCHEDULED if start_at is not None else Phase.PREFLIGHT,
        targets=targets,
        batch_count=batch_count,
        start_at=start_at,
        source=source,
        channel=channel,
        requested_from=requested_from,
    )


def deployable(
    cluster: Cluster,
    preflight: Preflight,
    spec: AppSpec,
    *,
    version: str,
    options: RolloutOptions,
    now: datetime,
) -> Checked:
    """A deploy checked as :func:`check_deploy` does; RolloutRefused, with nothing kept,
    when its version rules refuse it (a downgrade, a window it is not scheduled in)."""
    checked = check_deploy(cluster, preflight, spec, version=version, options=options, now=now)
    if checked.problems:
        preflight.forget(checked.surveyed_as)
        raise RolloutRefused(list(checked.problems))
    return checked


def undo_settings(settings: Settings) -> Settings:
    """A deploy that puts an earlier version back: every tenant at once, no pilots, no
    gate, no waits, no monitor window (the version ran before)."""
    return replace(
        settings,
        batch_size=max(1, settings.batch_size),
        batch_percent=100,
        waves="fixed",
        wait_seconds=0,
        pilot_count=0,
        pilot_tenants=(),
        pilot_monitor_seconds=0,
        monitor_seconds=0,
        approval=False,
        auto_rollback=False,
        remove_old_after_seconds=None,
    )
