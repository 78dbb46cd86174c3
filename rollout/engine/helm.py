"""Helm-managed tenants (SPEC 11): the same rollout as `rolling`, but each tenant is a Helm
release, moved with `helm upgrade` and put back with `helm rollback`.

Patching such a tenant's Deployment directly would be undone by the next `helm upgrade`
and leave Helm's history wrong, so only the release is changed; the waiting and the
health checks that follow are rolling's own (:class:`rollout.engine.tenants.TargetSteps`).

Crash safety is rolling's rule in Helm's terms. An update looks at the release first and
upgrades only when its latest revision does not carry the version yet, so running it again
after a restart (the tenant was journalled UPDATING) never upgrades a release twice. A roll
back returns to the revision preflight journalled, unless the release is there already
(untouched) or its latest revision is that very roll back ("Rollback to N", as Helm
describes it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from rollout.engine.tenants import PerTarget, TargetSteps
from rollout.errors import RollbotError
from rollout.machine import TargetResult
from rollout.model import AppSpec, Rollout, Target
from rollout.ports import HelmReleases, HelmRevision, RolloutOutcome

DEPLOYED = "deployed"  # Helm's status of a release revision it applied and serves

# What Helm needs besides patching the Deployment: its release records are Secrets.
HELM_RIGHTS: tuple[tuple[str, str, str], ...] = (
    ("list", "secrets", ""),
    ("create", "secrets", ""),
    ("update", "secrets", ""),
)


def rolled_back_to(current: HelmRevision, revision: int) -> bool:
    """The release is at `revision` already: untouched, or its latest revision is Helm's
    roll back to it, applied (a failed one is to be tried again)."""
    return current.revision == revision or (
        current.status == DEPLOYED and current.description == f"Rollback to {revision}"
    )


def carries(current: HelmRevision, *, key: str, version: str) -> bool:
    """The release's latest revision was given `version` at `key` and applied: a revision
    helm marked failed does not count, so upgrading it again is right."""
    return current.status == DEPLOYED and current.value(key) == version


def pending_reason(release: str, current: HelmRevision) -> str:
    return (
        f"Helm release {release} is {current.status} (revision {current.revision}): another "
        "helm operation is under way or was cut off; see `helm history`"
    )


@dataclass
class HelmTargetSteps(TargetSteps):
    """Tenants of `strategy: helm` apps. `releases`: the Helm adapter of each such app."""

    releases: Mapping[str, HelmReleases] = field(default_factory=dict)

    def helm(self, spec: AppSpec) -> HelmReleases:
        found = self.releases.get(spec.name)
        if found is None:
            raise RollbotError(f"{spec.name} is a helm app, but rollbot has no helm binary for it")
        return found

    def _update(self, rollout: Rollout, spec: AppSpec, namespace: str) -> TargetResult:
        """Upgrade the release to the rollout's version, or, for `/rollback <app>
        to=VERSION`, roll it back to the newest revision that ran that version; then wait
        and judge the tenant as rolling does."""
        helm, release = self.helm(spec), spec.release(namespace)
        # Preflight's look serves a first attempt here, as for rolling (see tenants.py):
        # the release did not carry the version then, so upgrading is right whatever
        # happened since. A restarted process, or a retry, asks helm afresh.
        current = self.remembered.releases.take(rollout.id, namespace)
        if current is None or carries(current, key=spec.values_key, version=rollout.version):
            current = helm.status(namespace, release)
        if current.pending:
            return TargetResult(namespace, False, pending_reason(release, current))
        move: Callable[[], int] | None = None
        if rollout.source == "rollback":
            goal = revision_with(helm, namespace, release, key=spec.values_key,
                                 version=rollout.version)
            if goal is None:
                missing = (f"no revision in the Helm history of {release} has "
                           f"{spec.values_key}={rollout.version}")
                return TargetResult(namespace, False, missing, revision=current.revision)
            if not rolled_back_to(current, goal):
                move = partial(helm.rollback, namespace, release, revision=goal)
        elif not carries(current, key=spec.values_key, version=rollout.version):
            move = partial(
                helm.upgrade, namespace, release, chart=spec.chart,
                values={spec.values_key: rollout.version},
                description=f"rollbot #{rollout.id}: {spec.values_key}={rollout.version}",
            )
        return self._moved(rollout, spec, namespace, revision=current.revision, move=move)

    def _moved(
        self, rollout: Rollout, spec: AppSpec, namespace: str, *, revision: int,
        move: Callable[[], int] | None,
    ) -> TargetResult:
        """Run `move` (None: the release is there already), which returns the release's
        new revision, then wait for the deployment and judge its health."""
        baseline = None
        if move is not None:
            baseline = self._baseline(rollout, namespace=namespace, deployment=spec.deployment)
            self.check_stop()
            revision = move()
        result = self._check(rollout, namespace, deployment=spec.deployment, wait=True,
                             baseline=baseline)
        return replace(result, baseline_latency_ms=baseline, revision=revision)

    def _roll_back(self, rollout: Rollout, spec: AppSpec, namespace: str) -> TargetResult:
        target = rollout.target(namespace)
        previous = target.previous_revision
        if previous is None:
            return TargetResult(namespace, False, "no Helm revision was recorded before the change")
        helm, release = self.helm(spec), spec.release(namespace)
        current = helm.status(namespace, release)
        revision = current.revision
        if not rolled_back_to(current, previous):
            if current.pending:
                return TargetResult(namespace, False, pending_reason(release, current))
            self.check_stop()
            revision = helm.rollback(namespace, release, revision=previous)
        status = self.wait_rollout(
            namespace, spec.deployment,
            timeout=float(rollout.settings.rollout_timeout_seconds), min_generation=0,
            crashloop_restarts=rollout.settings.crashloop_restarts,
        )
        if status.outcome is RolloutOutcome.COMPLETE:
            return TargetResult(namespace, True, revision=revision)
        return TargetResult(namespace, False, f"{status.outcome.value}: {status.message}",
                            revision=revision)


def revision_with(
    helm: HelmReleases, namespace: str, release: str, *, key: str, version: str
) -> int | None:
    """The newest revision (the latest included) whose values put `version` at `key`."""
    history = helm.history(namespace, release)
    for past in sorted(history, key=lambda r: r.revision, reverse=True):
        values = helm.values(namespace, release, revision=past.revision)
        if replace(past, values=values).value(key) == version:
            return past.revision
    return None


# --- preflight ----------------------------------------------------------------------------


@dataclass
class HelmPreflight:
    """What preflight checks of a helm app beyond rolling's: the chart resolves, and every
    tenant's release exists and is deployed (not pending); each one's revision is
    recorded on its target, for the roll back and for a resume."""

    releases: Mapping[str, HelmReleases]
    seen: PerTarget[HelmRevision] = field(default_factory=PerTarget)  # for HelmTargetSteps

    def check(
        self, spec: AppSpec, targets: Sequence[Target], *, rollout_id: int,
        each: Callable[[Callable[[Target], Target | str], Sequence[Target]], list[Target | str]],
    ) -> tuple[list[Target], list[str]]:
        """The targets with their revisions, and every problem found."""
        helm = self.releases.get(spec.name)
        if helm is None:
            return list(targets), [f"{spec.name} is a helm app, but rollbot has no helm binary"]
        problems: list[str] = []
        try:
            helm.check_chart(spec.chart)
        except RollbotError as err:
            problems.append(f"chart {spec.chart}: {err}")
        found = each(lambda t: self._release(helm, spec, t, rollout_id=rollout_id), targets)
        checked = []
        for target, outcome in zip(targets, found, strict=True):
            if isinstance(outcome, str):
                problems.append(outcome)
                checked.append(target)
            else:
                checked.append(outcome)
        return checked, problems

    def _release(
        self, helm: HelmReleases, spec: AppSpec, target: Target, *, rollout_id: int
    ) -> Target | str:
        ns, release = target.namespace, spec.release(target.namespace)
        try:
            current = helm.status(ns, release)
        except RollbotError as err:
            return f"{ns}: {err}"
        self.seen.put(rollout_id, ns, current)
        if current.status != DEPLOYED:
            if current.pending:
                return f"{ns}: {pending_reason(release, current)}"
            return (f"{ns}: Helm release {release} is {current.status} (revision "
                    f"{current.revision}), not deployed")
        return replace(target, previous_revision=current.revision)
