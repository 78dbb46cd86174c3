"""The demo from start to verdict: start the world, print what runs where, play the
script, print the stakeholders' channel and the checks, and say how it went."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from typing import TextIO

from bot.demo.checks import final_checks, finish
from bot.demo.people import People, StepFailed
from bot.demo.printer import Printer
from bot.demo.script import Outcome, blue_green, rolling, stakeholders
from bot.demo.world import (
    CHANNELS,
    FAST,
    NEW_VERSION,
    OLD_VERSION,
    PACED,
    REGISTRY_HOST,
    RELEASE_VERSION,
    USERS,
    World,
    start_world,
)

STEP_TIMEOUT = 60.0  # the longest any one wait of the script may take
CANNOT_START = 2  # as when what --release needs is missing: see bot.demo.main
RELEASE_STEP_TIMEOUT = 180.0  # the wait for the isp deploy spans install, builds and push
DEFAULT_TENANTS = 12


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rollbot demo",
        description="A scripted release against the built-in simulators: no Slack "
                    "workspace, cluster or configuration needed.")
    parser.add_argument("--fast", action="store_true",
                        help="shortest windows and no pauses between batches (for tests)")
    parser.add_argument("--tenants", type=int, default=DEFAULT_TENANTS,
                        help=f"tenant namespaces in the simulated cluster "
                             f"(default {DEFAULT_TENANTS}, at least 8)")
    parser.add_argument("--release", action="store_true",
                        help=f"play `/release {RELEASE_VERSION}` instead: build the fixture "
                             "monorepo's images in a Docker engine of the demo's own, push "
                             "them to its own registry, deploy both apps (needs root, "
                             "docker.io, docker-registry, busybox-static and pnpm: "
                             "scripts/setup)")
    parser.add_argument("--verbose", action="store_true", help="rollbot's own log on stderr")
    args = parser.parse_args(list(argv))
    if args.tenants < 8:
        parser.error("--tenants must be at least 8 (pilots and two batches of five)")
    return args


def header(out: Printer, world: World, *, fast: bool, tenants: int) -> None:
    windows = FAST if fast else PACED
    out.lines([
        "",
        "What is running (all inside this process, on 127.0.0.1):",
        f"  cluster   simulated Kubernetes API  {world.kube.url}",
        f"            platform-admin (the blue-green app) and {tenants} tenant namespaces",
        f"            (isp-ops-app), all on {OLD_VERSION}",
        f"  slack     Slack stand-in  {world.slack.api_url}  (#releases, #stakeholders)",
        f"  registry  registry stand-in  {world.registry.address}, answering for",
        f"            {REGISTRY_HOST}",
        f"            with tags {OLD_VERSION} and {NEW_VERSION} (preflight asks it for real)",
        "  rollbot   the real bot, started the way `rollbot serve` starts it:",
        f"            {world.events_url}",
        f"  config    {world.config.source}:",
        f"            {windows.describe()};",
        "            alice is also an isp approver, so four-eyes has something to refuse",
        "People: alice (U0ALICE) deploys, bob (U0BOB) approves; the demo clicks for them.",
        "",
        "How to read it:",
        "  [  4.3s] #releases      rollbot: …          a message in a channel",
        "                             ↳ rollbot: …     a reply in that message's thread",
        "  [  5.3s] #releases      ✎ rollbot edited …  an edit (only the lines that changed)",
        "  [  6.0s] → alice clicks [Approve]           what a person does",
        "  [  6.0s]   (…)                              a note from the demo",
    ])


async def play(world: World, out: Printer, *, tenants: int) -> int:
    # Each batch adds a wait and a health check; a bigger fleet may take longer.
    people = People(world, out, timeout=STEP_TIMEOUT + 3 * tenants)
    outcome = Outcome()
    failure = ""
    for number, step in enumerate((blue_green, rolling), start=1):
        try:
            await step(people, outcome)
        except StepFailed as exc:
            failure = f"Step {number} did not go as scripted: {exc}"
            break
    await people.settle()  # what rollbot said about a failure is part of the story
    await stakeholders(people)
    return await finish(out, failure, lambda: final_checks(world, outcome),
                        against="the simulated cluster", closing=(
        "Demo complete. Next: `rollbot sim --tenants 12 --kubeconfig ./kubeconfig` gives you",
        "this cluster for kubectl and `rollbot deploy`; README.md shows how to connect Slack.",
    ))  # fmt: skip


async def run(args: argparse.Namespace, stream: TextIO) -> int:
    out = Printer(stream, channel_names=CHANNELS, user_names=USERS)
    if args.release:
        return await run_release(args, out)
    out.heading("rollbot demo: a scripted release, end to end")
    out.line("Starting a simulated cluster, a Slack stand-in, a registry stand-in and rollbot…")
    world = await start_world(out, windows=FAST if args.fast else PACED, tenants=args.tenants)
    try:
        header(out, world, fast=args.fast, tenants=args.tenants)
        return await play(world, out, tenants=args.tenants)
    finally:
        await world.close()


async def run_release(args: argparse.Namespace, out: Printer) -> int:
    """`rollbot demo --release`: the same stage with a Docker engine, a registry and the
    fixture monorepo, and the release's script (imported here: the plain demo does
    without the pipeline's modules)."""
    from bot.demo.release_script import play_release, release_header
    from bot.demo.release_world import start_release_world
    from sim.docker import DockerUnavailable

    windows = FAST if args.fast else PACED
    out.heading(f"rollbot demo --release: /release {RELEASE_VERSION}, from monorepo to tenants")
    out.line("Starting a simulated cluster, a Slack stand-in, a Docker engine, a registry and "
             "rollbot…")
    try:
        world = await start_release_world(out, windows=windows, tenants=args.tenants)
    except DockerUnavailable as exc:  # the engine or the registry would not start
        print(f"rollbot demo --release: {exc}", file=sys.stderr)
        return CANNOT_START
    except subprocess.CalledProcessError as exc:  # writing the fixture monorepo
        said = (exc.stderr or b"").decode(errors="replace").strip()
        print(f"rollbot demo --release: {' '.join(exc.cmd)} failed: {said}", file=sys.stderr)
        return 1
    try:
        release_header(out, world, windows=windows, tenants=args.tenants)
        # Besides the rollouts' waits, the release installs, builds and pushes.
        people = People(world, out, timeout=RELEASE_STEP_TIMEOUT + 3 * args.tenants)
        return await play_release(world, people)
    finally:
        await world.close()
