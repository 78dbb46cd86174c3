"""`rollbot demo`: the README's first command, a whole release on this machine with
nothing configured.

It starts the simulated cluster, the Slack stand-in and a registry stand-in in-process,
starts rollbot the way `rollbot serve` does (HTTP mode, the built-in configuration with
shorter windows), and plays the scripted release of SPEC section 8 through Slack: people
type slash commands and click buttons, the real Bolt app and engine answer. The
conversation is printed as it happens. The exit status is 0 only when every step had
the expected outcome, as read back from the simulated cluster.

`rollbot demo --release` plays `/release v1.3.1` instead, from the fixture monorepo to
every tenant, with a Docker engine and a registry of its own (:mod:`sim.docker`). A
machine that cannot start them is told so in one line before anything starts.

This module stays light: the heavy imports happen inside `main`, where a Ctrl-C during
them ends the demo quietly instead of with a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

INTERRUPTED = 130  # what shells report for a command ended by Ctrl-C
CANNOT = 2  # `--release` on a machine without what it needs: nothing was started


def main(argv: Sequence[str]) -> int:
    try:
        from bot.demo.run import parse_args

        args = parse_args(argv)
        if args.release:
            from bot.demo.release_world import cannot_start

            lacking = cannot_start()
            if lacking:
                print(lacking, file=sys.stderr)
                return CANNOT
        return _run(args)
    except KeyboardInterrupt:
        print("\nrollbot demo: interrupted; everything it started is stopped.", file=sys.stderr)
        return INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from bot.demo.run import run
    from rollout.errors import RollbotError

    if hasattr(sys.stdout, "reconfigure"):
        # The conversation has emoji; a terminal that cannot show them gets "?", not a crash.
        sys.stdout.reconfigure(errors="replace")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="  [log] %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run(args, sys.stdout))
    except (RollbotError, OSError, TimeoutError) as exc:
        print(f"rollbot demo: {exc}", file=sys.stderr)
        return 1
