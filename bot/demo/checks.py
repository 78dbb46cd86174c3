"""The demo's own verdict: did each step leave the cluster and the journal as expected?

A demo that printed a happy conversation while the cluster said otherwise would teach the
wrong thing, so the end state is read back from the simulated cluster itself (not from
what rollbot reported) before the demo claims success.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.demo.printer import Printer
from bot.demo.script import Outcome
from bot.demo.world import (
    BOB,
    NEW_VERSION,
    OLD_VERSION,
    RELEASES,
    REPOSITORIES,
    STAKEHOLDERS,
    Stage,
    World,
)
from rollout.actions import Action
from rollout.images import tag_of
from rollout.model import Phase, TargetStatus
from sim.kube.seed import TENANT_LABEL

ADMIN_NS, ADMIN_APP, ISP_APP = "platform-admin", "platform-admin-app", "isp-ops-app"
NEW_SIDE = f"{ADMIN_APP}-{NEW_VERSION.replace('.', '-')}"
SETTLE_SECONDS = 15.0  # rolled-back pods may still be starting when the rollout ends


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str


def image_of(deployment: dict[str, Any] | None) -> str:
    """The image its first container names, in full."""
    if deployment is None:
        return "(missing)"
    containers = deployment["spec"]["template"]["spec"].get("containers") or [{}]
    return str(containers[0].get("image", ""))


def image_tag(deployment: dict[str, Any] | None) -> str:
    if deployment is None:
        return "(missing)"
    return tag_of(image_of(deployment)) or "(no tag)"


def settled(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def admin_checks(world: World) -> list[Check]:
    kube = world.kube
    service = kube.get("services", ADMIN_NS, ADMIN_APP) or {}
    live = (service.get("spec") or {}).get("selector", {}).get("version")
    new = kube.get("deployments", ADMIN_NS, NEW_SIDE)
    rolled = new is not None and kube.rolled_out(ADMIN_NS, NEW_SIDE)
    old_cm = f"platform-admin-config-{OLD_VERSION}"
    return [
        Check(live == NEW_VERSION, f"admin: the Service selects version {live}"),
        Check(rolled and image_tag(new) == NEW_VERSION,
              f"admin: {NEW_SIDE} runs {image_tag(new)}, rolled out and ready"),
        Check(kube.get("deployments", ADMIN_NS, ADMIN_APP) is None,
              f"admin: the old side ({ADMIN_APP}) is gone"),
        Check(kube.get("configmaps", ADMIN_NS, old_cm) is None,
              f"admin: the old ConfigMap ({old_cm}) is gone"),
    ]


def tenants(world: Stage) -> list[str]:
    found = world.kube.list("namespaces")
    return sorted(ns["metadata"]["name"] for ns in found
                  if (ns["metadata"].get("labels") or {}).get(TENANT_LABEL) == "tenant")


def isp_checks(world: World, outcome: Outcome) -> list[Check]:
    kube, names = world.kube, tenants(world)

    def astray() -> list[str]:
        return [ns for ns in names if image_tag(kube.get("deployments", ns, ISP_APP))
                != OLD_VERSION or not kube.rolled_out(ns, ISP_APP)]

    settled(lambda: not astray(), SETTLE_SECONDS)
    off = astray()
    detail = f"; not yet: {', '.join(off)}" if off else ""
    checks = [Check(not off, f"isp: all {len(names)} tenants run {OLD_VERSION} again, rolled "
                             f"out and ready{detail}")]
    rollout = outcome.isp
    if rollout is not None:
        changed = [t for t in rollout.targets if t.status not in (
            TargetStatus.ROLLED_BACK, TargetStatus.PENDING, TargetStatus.SKIPPED)]
        back = sum(t.status is TargetStatus.ROLLED_BACK for t in rollout.targets)
        checks.append(Check(not changed, f"isp: rollout #{rollout.id} rolled back {back} "
                                         f"tenants, none left changed"))
        deciders = {a.user for a in rollout.approvals if a.decision == Action.APPROVE}
        checks.append(Check(deciders == {BOB}, f"isp: approved by {', '.join(sorted(deciders))}"
                                               " only (four-eyes kept the requester out)"))
    checks.append(Check(bool(outcome.refusal), "isp: Alice was told why she may not approve"))
    return checks


def registry_checks(world: World) -> list[Check]:
    wanted = [f"{repo}:{NEW_VERSION}" for repo in REPOSITORIES]
    asked = set(world.registry.asked)
    return [Check(all(w in asked for w in wanted),
                  f"registry: preflight asked the registry for {' and '.join(wanted)}")]


def slack_checks(world: Stage) -> list[Check]:
    slack = world.slack
    pace = world.post_interval
    too_fast = [found for channel in (RELEASES, STAKEHOLDERS)
                for found in slack.rate_violations(channel, min_interval=pace)]
    notes = slack.messages(STAKEHOLDERS)
    every = "a second" if pace == 1.0 else f"every {pace:g}s (--fast; real Slack wants 1s)"
    return [
        Check(not too_fast, f"slack: never more than one message {every} in a channel"
              + (f" ({len(too_fast)} too close)" if too_fast else "")),
        Check(bool(notes), f"slack: {len(notes)} notification"
              f"{'' if len(notes) == 1 else 's'} in #stakeholders"),
    ]


def final_checks(world: World, outcome: Outcome) -> list[Check]:
    """Blocking (it reads the sim and may wait for pods): run it in a thread."""
    checks: list[Check] = []
    if outcome.admin is not None:
        checks.append(Check(outcome.admin.phase is Phase.COMPLETED,
                            f"admin: rollout #{outcome.admin.id} {outcome.admin.phase.label}"))
    checks += admin_checks(world)
    checks += isp_checks(world, outcome)
    checks += registry_checks(world)
    checks += slack_checks(world)
    return checks


async def finish(
    out: Printer, failure: str, checks: Callable[[], list[Check]], *, against: str,
    closing: Sequence[str],
) -> int:
    """The demo's last words: what went off script, else the end state checked `against`
    what the script expects (`checks` blocks, so it runs in a thread), then `closing`."""
    if failure:
        out.heading("The demo did not go as scripted")
        out.wrapped([f"✗ {failure}"])
        return 1
    found = await asyncio.to_thread(checks)
    out.heading(f"Checked against {against}")
    out.wrapped([f"{'✓' if c.ok else '✗'} {c.text}" for c in found])
    if not all(c.ok for c in found):
        out.lines(["", "The demo ran, but the end state is not what the script expects (✗)."])
        return 1
    out.lines(["", *closing])
    return 0
