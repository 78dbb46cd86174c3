"""The scripted release of `rollbot demo --release`, and its verdict.

1. Alice types `/release v1.3.1`: rollbot installs and builds the shared packages, builds
   both apps' images at the same time in the demo's Docker engine, pushes and verifies
   them in the demo's registry, deploys admin blue-green, then rolls isp out to every
   tenant; Bob approves after the pilots.
2. The stakeholders' channel, as they saw it.

The verdict is read back from the real registry (the tags and their digests), the
simulated cluster (the images the deployments name) and the journal, not from what
rollbot said.
"""

from __future__ import annotations

from bot.demo.checks import (
    ISP_APP,
    Check,
    finish,
    image_of,
    settled,
    slack_checks,
    tenants,
)
from bot.demo.people import People, StepFailed
from bot.demo.printer import Printer
from bot.demo.release_world import ReleaseWorld
from bot.demo.script import stakeholders
from bot.demo.world import ALICE, BOB, OLD_VERSION, RELEASE_VERSION, USERS, Windows
from rollout.actions import Action
from rollout.model import Phase, Rollout
from rollout.release import Release, ReleasePhase, StepKind

STEPS = 2
ADMIN_NS, ADMIN_APP = "platform-admin", "platform-admin-app"
NEW_SIDE = f"{ADMIN_APP}-{RELEASE_VERSION.replace('.', '-')}"
SETTLE_SECONDS = 15.0


def release_header(out: Printer, world: ReleaseWorld, *, windows: Windows, tenants: int) -> None:
    images = [f"            {world.image(app)}" for app in ("admin", "isp")]
    out.lines([
        "",
        "What is running (on 127.0.0.1 and in a temporary folder):",
        f"  cluster   simulated Kubernetes API  {world.kube.url}",
        f"            platform-admin (the blue-green app) and {tenants} tenant namespaces",
        f"            (isp-ops-app), all on {OLD_VERSION}",
        f"  slack     Slack stand-in  {world.slack.api_url}  (#releases, #stakeholders)",
        f"  monorepo  {world.repo.root}",
        f"            the fixture pnpm workspace, committed and tagged {RELEASE_VERSION}",
        f"  docker    a Docker engine of the demo's own  {world.engine.host}",
        f"  registry  docker-registry  {world.registry.host}  (htpasswd user "
        f"{world.registry.user}); the release pushes",
        *images,
        "  rollbot   the real bot, started the way `rollbot serve` starts it:",
        f"            {world.events_url}",
        f"  config    {world.config.source}:",
        f"            {windows.describe()}",
        "People: alice (U0ALICE) releases, bob (U0BOB) approves; the demo clicks for them.",
        "The release's checklist is one message, edited as each step ends (✎ lines).",
    ])


async def release_story(people: People, world: ReleaseWorld) -> Release:
    """Alice's /release, Bob's approval of the isp pilots, and the release's end."""
    out = people.out
    out.heading(f"Step 1 of {STEPS} · /release {RELEASE_VERSION}: build, push, deploy")
    out.line("rollbot installs the workspace and builds the shared packages, builds both")
    out.line("images at once, pushes and verifies them, then deploys admin (blue-green) and")
    out.line("isp (pilots, an approval gate, then batches of five).")
    known = {r.id for r in world.watch.rollouts()}
    await people.type(ALICE, RELEASE_VERSION, command="/release")
    isp = await people.new_rollout("isp", known=known, user=ALICE)
    gate = await people.button(isp.id, Action.APPROVE.button_id,
                               what="the approval request after the isp pilots")
    await people.click(BOB, gate, action_id=Action.APPROVE.button_id, label="Approve")

    def ended() -> Release | None:
        found = world.releases.list_releases(limit=1)
        latest = found[0] if found else None
        return latest if latest is not None and latest.finished_at is not None else None

    release = await people.until(ended, what=f"release {RELEASE_VERSION} to end")
    await people.settle()
    if release.phase is not ReleasePhase.COMPLETED:
        why = f" ({release.reason})" if release.reason else ""
        raise StepFailed(f"{release.label} ended {release.phase}{why}; the script expected it "
                         "to complete")
    return release


async def play_release(world: ReleaseWorld, people: People) -> int:
    out = people.out
    release: Release | None = None
    failure = ""
    try:
        release = await release_story(people, world)
    except StepFailed as exc:
        failure = f"Step 1 did not go as scripted: {exc}"
    await people.settle()
    await stakeholders(people, step=f"Step 2 of {STEPS}")
    if release is None:
        failure = failure or "the release did not end"
    done = release
    return await finish(out, failure, lambda: release_checks(world, done) if done else [],
                        against="the registry and the simulated cluster", closing=(
        "Demo complete. `rollbot demo` plays the rollouts alone (approvals refused by",
        "four-eyes, a failing tenant, Roll back all); README.md shows how to connect Slack.",
    ))  # fmt: skip


def release_checks(world: ReleaseWorld, release: Release) -> list[Check]:
    """Blocking (it asks the registry and may wait for pods): run it in a thread."""
    return [
        Check(release.phase is ReleasePhase.COMPLETED,
              f"release: {release.label} {release.phase}, {len(release.steps)} steps"),
        _built_together(release),
        *_registry_checks(world, release),
        *_admin_checks(world),
        *_isp_checks(world, release),
        *slack_checks(world),
    ]


def _built_together(release: Release) -> Check:
    spans = [(s.started_at, s.finished_at) for s in release.steps_of(StepKind.IMAGE)]
    starts = [start for start, _ in spans if start is not None]
    ends = [end for _, end in spans if end is not None]
    together = len(spans) == 2 and len(starts) == len(ends) == 2 and max(starts) < min(ends)
    return Check(together, "images: both builds ran at the same time")


def _registry_checks(world: ReleaseWorld, release: Release) -> list[Check]:
    client = world.registry_client()
    checks = []
    for app in release.apps:
        image = world.image(app)
        digest = client.manifest_digest(image, RELEASE_VERSION)
        checks.append(Check(digest is not None and digest == release.digest(app),
                            f"registry: {image}:{RELEASE_VERSION} pushed, digest "
                            f"{(digest or 'none')[:19]}… as the release recorded"))
    return checks


def _admin_checks(world: ReleaseWorld) -> list[Check]:
    kube = world.kube
    service = kube.get("services", ADMIN_NS, ADMIN_APP) or {}
    live = (service.get("spec") or {}).get("selector", {}).get("version")
    new = kube.get("deployments", ADMIN_NS, NEW_SIDE)
    image = image_of(new)
    wanted = f"{world.image('admin')}:{RELEASE_VERSION}"
    return [
        Check(live == RELEASE_VERSION, f"admin: switched, the Service selects version {live}"),
        Check(image == wanted and kube.rolled_out(ADMIN_NS, NEW_SIDE),
              f"admin: {NEW_SIDE} runs {image}, rolled out and ready"),
    ]


def _isp_checks(world: ReleaseWorld, release: Release) -> list[Check]:
    kube, names = world.kube, tenants(world)
    wanted = f"{world.image('isp')}:{RELEASE_VERSION}"

    def astray() -> list[str]:
        return [ns for ns in names if image_of(kube.get("deployments", ns, ISP_APP)) != wanted
                or not kube.rolled_out(ns, ISP_APP)]

    settled(lambda: not astray(), SETTLE_SECONDS)
    off = astray()
    detail = f"; not yet: {', '.join(off)}" if off else ""
    checks = [Check(not off, f"isp: all {len(names)} tenants run {RELEASE_VERSION} from "
                             f"{world.registry.host}, rolled out and ready{detail}")]
    rollout = _deployed(world, release, "isp")
    if rollout is not None:
        deciders = {a.user for a in rollout.approvals if a.decision == Action.APPROVE}
        checks.append(Check(rollout.phase is Phase.COMPLETED and deciders == {BOB},
                            f"isp: rollout #{rollout.id} {rollout.phase.label}, approved by "
                            f"{', '.join(sorted(USERS.get(u, u) for u in deciders)) or 'nobody'}"))
    return checks


def _deployed(world: ReleaseWorld, release: Release, app: str) -> Rollout | None:
    step = release.step(f"{StepKind.DEPLOY}:{app}")
    return world.watch.latest(step.rollout_id) if step.rollout_id is not None else None
