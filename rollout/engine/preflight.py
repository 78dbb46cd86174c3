"""Preflight (SPEC 2.2 and 3): everything that must hold before anything changes, checked
all at once so a refusal lists every problem, and the previous image of every target
recorded for the roll back.

Rolling: the tag is in the registry, no other rollout of the app is active, every planned
tenant has the deployment and the container, and rollbot may patch deployments there.
Blue-green: the same for the app's namespace, plus a live version to switch back to and
the rights to create and delete deployments and config maps and to patch the Service.
Helm: rolling's checks, plus the chart and every tenant's release (see
:class:`rollout.engine.helm.HelmPreflight`), whose revisions are recorded for the roll back.
Either way, a configured Prometheus error-rate query is tried once (see `_error_rates`).

A deploy is surveyed before it is created (its version bump, SPEC 12, comes from what the
targets run now) and `plan` runs the same survey; a rollout that starts at once is handed
that survey as its preflight, so no tenant is read twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar, runtime_checkable

from rollout import retries
from rollout.engine.helm import HELM_RIGHTS, HelmPreflight
from rollout.errors import MetricsQueryInvalid, NotFound, RollbotError
from rollout.machine import PreflightFailed, PreflightPassed
from rollout.model import AppSpec, BlueGreen, Retries, Rollout, Strategy, Target
from rollout.ports import Cluster, DeploymentInfo, ErrorRates, Registry, Store
from rollout.versions import tag_of

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("rollbot.engine")


class ConcurrentMap(Protocol):
    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`fn` over `items` concurrently; results in the order of `items`."""
        ...


# (verb, resource, API group) a blue-green rollout needs in the app's namespace.
Right = tuple[str, str, str]  # verb, resource, API group
TENANT_RIGHT: Right = ("patch", "deployments", "apps")
# From this many tenants on, their deployments are read in one listing across namespaces
# (pages of 500) rather than one request each; a listing of the whole cluster costs more
# than a few reads when a rollout touches only some tenants.
LIST_FROM = 50
BLUE_GREEN_RIGHTS: tuple[Right, ...] = (
    ("create", "deployments", "apps"),
    ("delete", "deployments", "apps"),
    ("create", "configmaps", ""),
    ("delete", "configmaps", ""),
    ("patch", "services", ""),
)
_NOT_IN_NAME = re.compile(r"[^a-z0-9-]")


def side_name(deployment: str, version: str) -> str:
    """`platform-admin-app` + `v1.3.0` -> `platform-admin-app-v1-3-0` (SPEC 3.1)."""
    return f"{deployment}-{_NOT_IN_NAME.sub('-', version.lower())}"


def config_map_name(prefix: str, version: str) -> str:
    """`platform-admin-config` + `v1.3.0` -> `platform-admin-config-v1.3.0` (dots allowed)."""
    return f"{prefix}-{re.sub(r'[^a-z0-9.-]', '-', version.lower())}"


class Reads(Protocol):
    def put(self, rollout_id: int, namespace: str, value: DeploymentInfo | None) -> None: ...


@runtime_checkable
class KeptReads(Reads, Protocol):
    """Reads kept for the rollout that follows a survey (the engine's), not dropped."""

    def move(self, from_id: int, to_id: int) -> None: ...

    def forget(self, rollout_id: int) -> None: ...


@dataclass(frozen=True)
class Survey:
    """Preflight's answer, and what it read on the way: each target's running version
    (its image's tag; blue-green: the live version), from which the bump is found."""

    outcome: PreflightPassed | PreflightFailed
    running: dict[str, str]
    retried: Retries = field(default_factory=Retries)  # calls tried again on the way

    @property
    def problems(self) -> tuple[str, ...]:
        return self.outcome.problems if isinstance(self.outcome, PreflightFailed) else ()


@dataclass
class Preflight:
    """`reads` keeps each tenant's deployment as read here, so its update need not read
    it again (see :mod:`rollout.engine.tenants`)."""

    cluster: Cluster
    registry: Registry | None
    store: Store
    pool: ConcurrentMap
    reads: Reads
    error_rates: ErrorRates | None = None
    window_seconds: int = 300  # the health log window: Prometheus's $window
    helm: HelmPreflight | None = None

    _handed: dict[int, Survey] = field(default_factory=dict)

    def run(self, rollout: Rollout, spec: AppSpec) -> PreflightPassed | PreflightFailed:
        handed = self._handed.pop(rollout.id, None)
        if handed is None:
            return self.survey(rollout, spec).outcome
        # The survey's retried calls count for the rollout, as if made by this preflight.
        for kind, count in handed.retried.by_kind:
            for _ in range(count):
                retries.note(kind)
        return handed.outcome

    def survey(self, rollout: Rollout, spec: AppSpec, *, image_check: bool = True) -> Survey:
        """Every check, and each target's running version, read once. Without
        `image_check` the tag is not looked up: a release builds it after this check."""
        problems = (self._registry(rollout) if image_check else []) + self._active(rollout)
        problems += self._error_rates(rollout, spec)
        running: dict[str, str] = {}
        if rollout.strategy is Strategy.BLUE_GREEN:
            passed = self._blue_green(rollout, spec, problems=problems, running=running)
        else:
            passed = self._rolling(rollout, spec, problems=problems)
            for target in passed.targets if passed is not None else ():
                if target.previous_image is not None:  # unread ones are in `problems`
                    running[target.namespace] = tag_of(target.previous_image)
        if passed is not None and rollout.strategy is Strategy.HELM:
            passed = self._helm(passed, spec, rollout_id=rollout.id, problems=problems)
        if problems or passed is None:
            return Survey(PreflightFailed(tuple(problems)), running)
        return Survey(passed, running)

    def forget(self, surveyed_as: int) -> None:
        """A survey that no rollout follows (a plan, a later start): drop its reads."""
        if isinstance(self.reads, KeptReads):
            self.reads.forget(surveyed_as)
        if self.helm is not None:
            self.helm.seen.forget(surveyed_as)

    def hand_over(self, survey: Survey | None, *, surveyed_as: int, rollout: Rollout) -> None:
        """`rollout`, just created from a draft surveyed as `surveyed_as`, starts now: its
        preflight is that survey, so no tenant is read twice. (A helm app's release reads
        are not carried over; its preflight runs afresh, as for no survey at all.)"""
        if survey is None:
            return
        if rollout.strategy is Strategy.HELM:
            self.forget(surveyed_as)
            return
        if isinstance(self.reads, KeptReads):
            self.reads.move(surveyed_as, rollout.id)
        outcome = survey.outcome
        if isinstance(outcome, PreflightPassed) and rollout.strategy is Strategy.ROLLING:
            previous = {t.namespace: t.previous_image for t in outcome.targets}
            targets = tuple(replace(t, previous_image=previous.get(t.namespace))
                            for t in rollout.targets)
            outcome = replace(outcome, targets=targets, batch_count=rollout.batch_count)
        self._handed[rollout.id] = replace(survey, outcome=outcome)

    def _helm(
        self, passed: PreflightPassed, spec: AppSpec, *, rollout_id: int, problems: list[str]
    ) -> PreflightPassed:
        """Rolling's checks passed or listed; add the releases' (see HelmPreflight)."""
        helm = self.helm or HelmPreflight({})
        targets, found = helm.check(spec, passed.targets, rollout_id=rollout_id,
                                    each=self.pool.map)
        problems.extend(found)
        return replace(passed, targets=tuple(targets))

    def _registry(self, rollout: Rollout) -> list[str]:
        if self.registry is None or not rollout.image:  # a helm app may name no image
            return []
        image = f"{rollout.image}:{rollout.version}"
        try:
            if self.registry.image_exists(rollout.image, rollout.version):
                return []
        except Exception as err:  # any registry failure is a refusal, with its words
            return [f"could not check {image} in the registry: {err}"]
        return [f"image {image} is not in the registry"]

    def _error_rates(self, rollout: Rollout, spec: AppSpec) -> list[str]:
        """Ask Prometheus once, for the first target. A query it refuses as malformed, or
        whose answer is no share, refuses the rollout: every health check would otherwise
        fall back to the logs unnoticed. Prometheus being down refuses nothing; the checks
        fall back to the logs then, and say so in the log."""
        if self.error_rates is None:
            return []
        if rollout.strategy is Strategy.BLUE_GREEN:
            namespace = spec.namespace
        elif rollout.targets:
            namespace = rollout.targets[0].namespace
        else:
            return []
        try:
            self.error_rates.error_rate(
                namespace, spec.deployment, window_seconds=self.window_seconds
            )
        except MetricsQueryInvalid as err:
            return [f"health.prometheus.error_rate_query: {err}"]
        except RollbotError as err:
            log.warning("preflight of #%s: %s; error rates will come from logs", rollout.id, err)
        return []

    def _active(self, rollout: Rollout) -> list[str]:
        other = self.store.active_for_app(rollout.app)
        if other is not None and other.id != rollout.id:
            return [f"rollout #{other.id} of {rollout.app} is still active"]
        return []

    # --- rolling --------------------------------------------------------------------------

    def _rolling(
        self, rollout: Rollout, spec: AppSpec, *, problems: list[str]
    ) -> PreflightPassed | None:
        if not rollout.targets:
            problems.append("there are no tenants to roll out to")
            return None
        # One question answers for every tenant when rollbot may patch deployments in every
        # namespace; only without such a grant is each tenant's namespace asked about.
        rights = [TENANT_RIGHT, *(HELM_RIGHTS if spec.strategy is Strategy.HELM else ())]
        everywhere = not self._rights("", rights)
        listed = self._listed(spec) if len(rollout.targets) >= LIST_FROM else None

        def check(target: Target) -> tuple[DeploymentInfo | None, list[str]]:
            return self._tenant(target, spec, rights=[] if everywhere else rights, listed=listed)

        if everywhere and listed is not None:
            # Nothing left to ask the cluster: no worker threads for a thousand lookups.
            checked = [check(t) for t in rollout.targets]
        else:
            checked = self.pool.map(check, list(rollout.targets))
        targets = []
        for target, (info, found) in zip(rollout.targets, checked, strict=True):
            problems.extend(found)
            image = info.image if info is not None and info.image else None
            targets.append(replace(target, previous_image=image))
        if not problems:
            for target, (info, _) in zip(rollout.targets, checked, strict=True):
                self.reads.put(rollout.id, target.namespace, info)
        return PreflightPassed(tuple(targets), batch_count=rollout.batch_count)

    def _listed(self, spec: AppSpec) -> Mapping[str, DeploymentInfo] | None:
        """Every tenant's deployment from one listing, where rollbot may list them in
        every namespace; None (read each) otherwise, or when the listing fails."""
        try:
            return self.cluster.deployments_named(spec.deployment, container=spec.container)
        except RollbotError as err:
            log.info("could not list every %s at once (%s); reading each", spec.deployment, err)
            return None

    def _tenant(
        self,
        target: Target,
        spec: AppSpec,
        *,
        rights: Sequence[Right],
        listed: Mapping[str, DeploymentInfo] | None,
    ) -> tuple[DeploymentInfo | None, list[str]]:
        ns, name = target.namespace, spec.deployment
        problems: list[str] = []
        info = None
        try:
            if listed is not None:
                info = listed.get(ns)
                if info is None:
                    raise NotFound(f"deployment {ns}/{name} not found")
            else:
                info = self.cluster.read_deployment(ns, name, container=spec.container)
            if not info.image and spec.container:
                problems.append(f"{ns}: deployment {name} has no container {spec.container}")
        except NotFound:
            problems.append(f"{ns}: there is no deployment {name}")
        except RollbotError as err:
            problems.append(f"{ns}: could not read deployment {name}: {err}")
        problems += self._rights(ns, rights)
        return info, problems

    def _rights(self, namespace: str, rights: Sequence[Right]) -> list[str]:
        problems = []
        for verb, resource, group in rights:
            try:
                allowed = self.cluster.can_i(
                    verb=verb, resource=resource, namespace=namespace, group=group
                )
            except RollbotError as err:
                problems.append(f"{namespace}: could not check access to {resource}: {err}")
                continue
            if not allowed:
                problems.append(f"{namespace}: rollbot may not {verb} {resource}")
        return problems

    # --- blue-green -----------------------------------------------------------------------

    def _blue_green(
        self, rollout: Rollout, spec: AppSpec, *, problems: list[str], running: dict[str, str]
    ) -> PreflightPassed | None:
        ns = spec.namespace
        problems += self._rights(ns, BLUE_GREEN_RIGHTS)
        try:
            state = self.cluster.blue_green_state(
                ns, service=spec.service, app_label=spec.app_label or spec.deployment
            )
        except RollbotError as err:
            problems.append(f"{ns}: could not read service {spec.service}: {err}")
            return None
        live = state.live_version
        if live is None:
            problems.append(f"{ns}: service {spec.service} selects no version")
            return None
        running[ns] = live
        if live == rollout.version:
            problems.append(f"{rollout.version} is already live in {ns}")
            return None
        old = state.sides.get(live)
        if old is None:
            problems.append(f"{ns}: no deployment serves the live version {live}")
            return None
        image = self._side_image(ns, name=old, spec=spec, problems=problems)
        bg = BlueGreen(
            namespace=ns,
            service=spec.service,
            old_version=live,
            old_deployment=old,
            old_config_map=config_map_name(spec.config_map, live) if spec.config_map else None,
            new_deployment=side_name(spec.deployment, rollout.version),
            new_config_map=config_map_name(spec.config_map or spec.deployment, rollout.version),
        )
        target = Target(namespace=ns, batch=0, previous_image=image)
        return PreflightPassed((target,), batch_count=0, blue_green=bg)

    def _side_image(self, ns: str, *, name: str, spec: AppSpec, problems: list[str]) -> str | None:
        try:
            info = self.cluster.read_deployment(ns, name, container=spec.container)
        except RollbotError as err:
            problems.append(f"{ns}: could not read deployment {name}: {err}")
            return None
        if not info.image:
            problems.append(f"{ns}: deployment {name} has no container {spec.container}")
            return None
        return info.image
