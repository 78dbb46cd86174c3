"""The work of each release step, one function per kind, each returning what happened.

They block (subprocesses, the Docker engine, the registry, a rollout to its end) and are
called on the release runner's worker threads, never on an event loop. Each writes what it
does to its own log file, which the journal names, so a face can show its tail or upload
it when the step fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.build.checks import package_name, run_checks
from bot.build.images import DockerEngine, ImageBuild
from bot.build.process import run_command
from bot.build.stop import Stop
from bot.build.workspace import Source, make_work_tree
from bot.config import Config
from bot.registry import RegistryClient
from bot.runtime import Runtime
from handlers.render.release import checks_detail
from rollout.errors import RollbotError
from rollout.model import Phase, Rollout
from rollout.options import parse_options
from rollout.ports import Clock
from rollout.release import Release, Step
from rollout.release.checks import expand

FOLLOW_SECONDS = 0.5  # how often a deploy being followed looks for a stop
TAIL_BYTES = 64 * 1024  # enough for 30 lines of any build output worth reading
_COLOURS = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # ANSI escapes a RUN step's output may hold


@dataclass(frozen=True)
class Result:
    ok: bool
    reason: str = ""
    detail: str = ""
    digest: str = ""


@dataclass
class Workshop:
    """Everything the steps of one process's releases use."""

    config: Config
    runtime: Runtime
    docker: DockerEngine
    registry: RegistryClient
    credentials: tuple[str, str] | None  # REGISTRY_USERNAME / REGISTRY_PASSWORD
    workdir: Path  # each release's work tree and logs go in workdir/R<id>/
    clock: Clock

    def tree(self, release: Release) -> Path:
        return self.workdir / release.label / "tree"

    def log_path(self, release: Release, step: Step) -> Path:
        return self.workdir / release.label / "logs" / f"{step.key.replace(':', '-')}.log"

    def source(self, release: Release) -> Source:
        repo = self.config.release_settings().repo
        assert repo is not None, "preflight refuses a release without release.repo"
        return Source(Path(repo), ref=release.ref, revision=release.revision)

    @property
    def timeout(self) -> float:
        return float(self.config.release_settings().timeout_seconds)

    def tag(self, release: Release, app: str) -> str:
        return f"{self.config.app(app).image}:{release.version}"


def install(shop: Workshop, release: Release, step: Step, stop: Stop) -> Result:
    """A fresh work tree of the ref, then `release.install` in it."""
    log = shop.log_path(release, step)
    try:
        make_work_tree(shop.source(release), shop.tree(release))
    except OSError as err:
        return Result(False, f"could not make a work tree of {release.ref or 'the repo'}: {err}")
    outcome = run_command(shop.config.release_settings().install, cwd=shop.tree(release),
                          log_path=log, timeout=shop.timeout, stop=stop)
    return Result(outcome.ok, outcome.reason)


def shared_build(shop: Workshop, release: Release, step: Step, stop: Stop) -> Result:
    outcome = run_command(shop.config.release_settings().shared_build, cwd=shop.tree(release),
                          log_path=shop.log_path(release, step), timeout=shop.timeout,
                          stop=stop)
    return Result(outcome.ok, outcome.reason)


def checks(shop: Workshop, release: Release, step: Step, stop: Stop) -> Result:
    """`release.checks` in the work tree, each app's {package} its package.json name."""
    tree = shop.tree(release)
    packages = [package_name(tree, shop.config.build_spec(app).package_json)
                for app in release.apps]
    commands = expand(shop.config.release_settings().checks, packages)
    outcome = run_checks(commands, tree=tree, log_path=shop.log_path(release, step),
                         timeout=shop.timeout, stop=stop)
    return Result(outcome.ok, outcome.reason, detail=checks_detail(outcome.ran, outcome.skipped))


def image(shop: Workshop, release: Release, step: Step, stop: Stop) -> Result:
    build = shop.config.build_spec(step.app)
    tree = shop.tree(release)
    job = ImageBuild(context=tree / build.context, dockerfile=tree / build.dockerfile,
                     tag=shop.tag(release, step.app), version=release.version,
                     revision=release.revision, args=build.args)
    built = shop.docker.build(job, log_path=shop.log_path(release, step), stop=stop,
                              timeout=shop.timeout)
    return Result(built.ok, built.reason, detail=built.image_id)


def push(shop: Workshop, release: Release, step: Step, stop: Stop) -> Result:
    pushed = shop.docker.push(shop.tag(release, step.app), log_path=shop.log_path(release, step),
                              stop=stop, timeout=shop.timeout, credentials=shop.credentials)
    return Result(pushed.ok, pushed.reason)


def verify(shop: Workshop, release: Release, step: Step, stop: Stop) -> Result:
    """The tag as the registry has it now, by its digest."""
    image = shop.config.app(step.app).image
    try:
        digest = shop.registry.manifest_digest(image, release.version)
    except RollbotError as err:
        return Result(False, str(err))
    if digest is None:
        return Result(False, f"{image}:{release.version} is not in the registry after its push")
    with shop.log_path(release, step).open("a", encoding="utf-8") as log:
        log.write(f"{image}:{release.version} {digest}\n")
    return Result(True, digest=digest)


def deploy(
    shop: Workshop, release: Release, step: Step, stop: Stop, *,
    started: Callable[[Rollout], None],
) -> Result:
    """The app's normal rollout, started (or found again after a restart) and followed to
    its end. `started(rollout)` journals it, and tells the faces, before it is followed."""
    engine = shop.runtime.engine
    rollout = step.rollout_id and shop.runtime.store.get(step.rollout_id)
    if not rollout:
        rollout = _started_before(shop, release, step)
    if not rollout:
        try:
            rollout = engine.start(
                app=step.app, version=release.version, user=release.requested_by,
                options=parse_options(release.deploy_words, now=shop.clock.now()),
                source=release.source, channel=release.channel,
                os_account=release.requested_from,
            )  # fmt: skip
        except RollbotError as err:
            return Result(False, f"the deploy was refused: {err}")
    started(rollout)
    while not rollout.phase.terminal and not stop.requested:
        rollout = engine.wait(rollout.id, FOLLOW_SECONDS, until=lambda r: r.phase.terminal)
    if stop.requested:
        return Result(False, f"stopped by {stop.by}; #{rollout.id} goes on as a rollout")
    if rollout.phase is Phase.COMPLETED:
        return Result(True, detail=f"#{rollout.id} completed")
    reason = f": {rollout.reason}" if rollout.reason else ""
    return Result(False, f"#{rollout.id} ended {rollout.phase.label}{reason}")


def _started_before(shop: Workshop, release: Release, step: Step) -> Rollout | None:
    """A rollout this step started before a crash let it be journalled: the app's rollout
    of this version made since the release began."""
    for rollout in shop.runtime.store.list_rollouts(app=step.app, limit=20):
        if rollout.version == release.version and rollout.created_at >= release.created_at:
            return rollout
    return None


def log_tail(step: Step, *, lines: int = 30) -> str:
    """The last `lines` lines of a step's log that say something, as a face shows them
    when the step failed: blank lines (the engine's build stream is full of them) and
    terminal colour codes left out; "" when it wrote none."""
    if not step.log_path or not Path(step.log_path).is_file():
        return ""
    with Path(step.log_path).open("rb") as log:
        size = log.seek(0, 2)
        log.seek(max(0, size - TAIL_BYTES))
        text = _COLOURS.sub("", log.read().decode("utf-8", errors="replace"))
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])
