"""The ``rollbot`` command line: one entry point, one module per group of verbs.

Each verb is routed to the module that owns it and imported lazily, so that
``rollbot sim`` does not pay for Slack and ``rollbot plan`` does not pay for aiohttp.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

# verb -> (module, function, one-line help). The function takes the remaining argv.
VERBS: dict[str, tuple[str, str, str]] = {
    "serve": ("bot.serve", "main", "run the Slack bot (Socket Mode or HTTP)"),
    "demo": ("bot.demo", "main", "a scripted release against the built-in simulators"),
    "plan": ("bot.terminal", "plan", "print the plan of a rollout; changes nothing"),
    "deploy": ("bot.terminal", "deploy", "run a rollout in the foreground"),
    "approve": ("bot.terminal", "approve", "approve a rollout waiting at its gate (--as USER)"),
    "reject": ("bot.terminal", "reject", "reject a rollout waiting at its gate (--as USER)"),
    "resume": ("bot.terminal", "resume", "continue unfinished rollouts in the foreground"),
    "rollback": ("bot.terminal", "rollback", "roll back what a rollout changed"),
    "status": ("bot.terminal", "status", "show active rollouts, or one rollout"),
    "history": ("bot.terminal", "history", "show recent rollouts"),
    "pause": ("bot.terminal", "pause", "pause a running rollout"),
    "cancel": ("bot.terminal", "cancel", "cancel a rollout"),
    "sim": ("sim.kube.main", "main", "serve the simulated Kubernetes cluster"),
}

USAGE = "usage: rollbot <command> [options]   (rollbot help for the list)"


def _help() -> str:
    width = max(len(v) for v in VERBS)
    lines = ["rollbot: ChatOps releases to Kubernetes", "", "commands:"]
    lines += [f"  {verb.ljust(width)}  {desc}" for verb, (_, _, desc) in VERBS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"help", "-h", "--help"}:
        print(_help())
        return 0
    verb, rest = args[0], args[1:]
    if verb not in VERBS:
        print(f"rollbot: unknown command {verb!r}\n{USAGE}", file=sys.stderr)
        return 2
    module_name, func_name, _ = VERBS[verb]
    func: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), func_name)
    return func(rest)


if __name__ == "__main__":
    raise SystemExit(main())
