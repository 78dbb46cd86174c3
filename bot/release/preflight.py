"""A release's preflight (SPEC section 9, step 1): every problem at once, before anything
runs.

The monorepo (a pnpm workspace; the ref; each app's package.json version), the Docker
engine, the registry (it takes the credentials; no tag of this version is there yet,
unless an earlier release of this version pushed it with the digest the journal
recorded, and then it is reused), who asked (a deployer of every app, and with
skip-checks an approver of every app too), and each app's own deploy preflight, the same
one `/deploy` runs (section 2.2) but for the image check, since the image is built by this
very release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.build.images import DockerEngine
from bot.build.workspace import Source, package_version_problems, resolve, workspace_problems
from bot.config import Config
from bot.registry import RegistryClient
from bot.runtime import Runtime
from rollout.errors import RollbotError
from rollout.options import parse_options
from rollout.policy import may_deploy, may_skip_checks
from rollout.release import Release, StepKind, StepState
from rollout.release.ports import ReleaseJournal


@dataclass(frozen=True)
class Checked:
    source: Source | None
    problems: tuple[str, ...]
    reused: dict[str, str] = field(default_factory=dict)  # app -> why it is not rebuilt


@dataclass
class ReleasePreflight:
    config: Config
    runtime: Runtime
    docker: DockerEngine
    registry: RegistryClient
    journal: ReleaseJournal

    def check(self, release: Release, *, groups: frozenset[str], now: datetime) -> Checked:
        problems = self._who(release, groups)
        source, found = self._source(release)
        problems += found
        problems += self.docker.problems()
        reused, found = self._tags(release)
        problems += found
        if not release.build_only:
            problems += self._deploys(release, now=now)
        return Checked(source, tuple(problems), reused)

    def _who(self, release: Release, groups: frozenset[str]) -> list[str]:
        problems = []
        apps = [self.config.app(app) for app in release.apps]
        for app in apps:
            decision = may_deploy(app, release.requested_by, groups)
            if not decision.allowed:
                problems.append(decision.reason)
        if release.skip_checks:
            skipping = may_skip_checks(apps, release.requested_by, groups)
            problems += [] if skipping.allowed else [skipping.reason]
        return problems

    def _source(self, release: Release) -> tuple[Source | None, list[str]]:
        settings = self.config.release_settings()
        problems = workspace_problems(settings.repo)
        if problems or settings.repo is None:
            return None, problems
        source, problems = resolve(Path(settings.repo), ref=release.ref or None,
                                   version=release.version)
        if source is None:
            return None, problems
        for app in release.apps:
            package_json = self.config.build_spec(app).package_json
            problems += package_version_problems(source, package_json, version=release.version)
        return source, problems

    def _tags(self, release: Release) -> tuple[dict[str, str], list[str]]:
        """Tags are immutable: one already there is refused, unless this version's own
        earlier release pushed it with the digest it is now."""
        reused: dict[str, str] = {}
        problems: list[str] = []
        for app in release.apps:
            image = self.config.app(app).image
            try:
                digest = self.registry.manifest_digest(image, release.version)
            except RollbotError as err:
                problems.append(str(err))
                continue
            if digest is None:
                continue
            earlier = self._pushed_before(release, app, digest)
            if earlier is not None:
                reused[app] = f"{image}:{release.version} was pushed by {earlier.label} " \
                              f"({digest}); reused, not rebuilt"
            else:
                problems.append(f"{image}:{release.version} is already in the registry; tags "
                                "are immutable, so release a new version")
        return reused, problems

    def _pushed_before(self, release: Release, app: str, digest: str) -> Release | None:
        for earlier in self.journal.list_releases(version=release.version, limit=50):
            if earlier.id == release.id or app not in earlier.apps:
                continue
            verify = earlier.step(f"{StepKind.VERIFY}:{app}")
            if verify.state is StepState.DONE and verify.digest == digest:
                return earlier
        return None

    def _deploys(self, release: Release, *, now: datetime) -> list[str]:
        """Each app's deploy preflight, through the engine's own plan: the same reads and
        rules (version bump, windows, downgrades) a `/deploy` of it would meet."""
        options = parse_options(release.deploy_words, now=now)
        problems: list[str] = []
        for app in release.apps:
            try:
                plan, _ = self.runtime.engine.plan(app, release.version, options,
                                                   image_check=False)
            except RollbotError as err:
                problems.append(f"deploy {app}: {err}")
                continue
            problems += [f"deploy {app}: {p}" for p in plan.problems]
        return problems
