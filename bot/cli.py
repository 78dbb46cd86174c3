"""The ``rollbot`` command line: one entry point, and the one table of its verbs.

Each verb is one entry: its help line, its usage lines and flags when it is a verb of the
terminal face, and where its code is. That code is imported only when the verb runs, so
``rollbot sim`` does not pay for Slack and ``rollbot plan`` does not pay for aiohttp.
Verbs of the terminal face share :func:`bot.terminal.run`, which splits their words,
and turns every refusal into a message and an exit code.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.allocator import restart_tuned
from rollout.actions import Action

OPTIONS = "[batch=N|N%] [wait=DUR] [pilot=N|ns1,ns2] [tenants=ns1,ns2] [waves=fixed|double]"
AS = "--as="  # the person a terminal acts for; a flag that takes a value ends with "="


@dataclass(frozen=True)
class Verb:
    """One `rollbot` verb. `runs` is "module:function". A verb with `usage` belongs to the
    terminal face: its function takes (Args, out) and returns the exit code, and `flags`
    are the shell flags it takes besides the slash-command words. Any other verb's
    function takes the rest of argv, as `rollbot serve` does."""

    help: str
    runs: str
    usage: str = ""
    flags: tuple[str, ...] = ()

    def function(self) -> Callable[..., int]:
        module, _, name = self.runs.partition(":")
        found: Callable[..., int] = getattr(importlib.import_module(module), name)
        return found


VERBS: dict[str, Verb] = {
    "serve": Verb("run the Slack bot (Socket Mode or HTTP)", "bot.serve:main"),
    "demo": Verb("a scripted release against the built-in simulators; --release builds it too",
                 "bot.demo:main"),
    "plan": Verb(
        "print the plan of a rollout; changes nothing",
        "bot.terminal.rollouts:cmd_plan",
        usage=f"rollbot plan <app> <version> [--all]\n    {OPTIONS}",
        flags=("--all",),
    ),
    "deploy": Verb(
        "run a rollout in the foreground",
        "bot.terminal.rollouts:cmd_deploy",
        usage="\n".join(
            [
                "rollbot deploy <app> <version> [--auto-approve] [--as USER] [--verbose]",
                f"    {OPTIONS}",
                "    [at=HH:MM|ISO-8601] [dry-run]",
            ]
        ),
        flags=("--auto-approve", AS, "--verbose"),
    ),
    Action.APPROVE: Verb(
        "approve a rollout waiting at its gate (--as USER)",
        "bot.terminal.requests:cmd_approve",
        usage="rollbot approve <ID> --as <USER>",
        flags=(AS,),
    ),
    Action.REJECT: Verb(
        "reject a rollout waiting at its gate (--as USER)",
        "bot.terminal.requests:cmd_reject",
        usage="rollbot reject <ID> --as <USER>",
        flags=(AS,),
    ),
    Action.RESUME: Verb(
        "continue unfinished rollouts in the foreground",
        "bot.terminal.rollouts:cmd_resume",
        usage="rollbot resume [ID] [--retry|--skip] [--as USER] [--verbose]",
        flags=("--retry", "--skip", AS, "--verbose"),
    ),
    Action.ROLLBACK: Verb(
        "roll back what a rollout changed",
        "bot.terminal.requests:cmd_rollback",
        usage="\n".join(
            [
                "rollbot rollback <ID> [tenants=ns1,ns2] [--as USER]",
                "rollbot rollback <app> [to=VERSION] [tenants=ns1,ns2] [--as USER]",
            ]
        ),
        flags=(AS,),
    ),
    "status": Verb(
        "show active rollouts, or one rollout",
        "bot.terminal.reports:cmd_status",
        usage="rollbot status [ID]",
    ),
    "history": Verb(
        "show recent rollouts", "bot.terminal.reports:cmd_history", usage="rollbot history [app]"
    ),
    Action.PAUSE: Verb(
        "pause a running rollout",
        "bot.terminal.requests:cmd_pause",
        usage="rollbot pause <ID> [--as USER]",
        flags=(AS,),
    ),
    Action.CANCEL: Verb(
        "cancel a rollout",
        "bot.terminal.requests:cmd_cancel",
        usage="rollbot cancel <ID> [--as USER]",
        flags=(AS,),
    ),
    "release": Verb(
        "build, push and deploy a version in the foreground; status, list, cancel",
        "bot.terminal.releases:cmd_release",
        usage="\n".join(
            [
                "rollbot release <version> [apps=admin,isp] [ref=GIT_REF] [build-only]",
                f"    [dry-run] [skip-checks] [--auto-approve] [--as USER] {OPTIONS}",
                "rollbot release status [ID]",
                "rollbot release list",
                "rollbot release cancel <ID> [--as USER]",
            ]
        ),
        flags=("--auto-approve", AS),
    ),
    "sim": Verb("serve the simulated Kubernetes cluster", "sim.kube.main:main"),
}

USAGE = "usage: rollbot <command> [options]   (rollbot help for the list)"


def _help() -> str:
    width = max(len(v) for v in VERBS)
    lines = ["rollbot: ChatOps releases to Kubernetes", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {verb.help}" for name, verb in VERBS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the process's own entry point, not a caller's
        restart_tuned()  # malloc set for many threads (see bot/allocator.py)
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"help", "-h", "--help"}:
        print(_help())
        return 0
    name, rest = args[0], args[1:]
    verb = VERBS.get(name)
    if verb is None:
        print(f"rollbot: unknown command {name!r}\n{USAGE}", file=sys.stderr)
        return 2
    if verb.usage:
        from bot.terminal import main as terminal

        return terminal(name, rest)
    return verb.function()(rest)


if __name__ == "__main__":
    raise SystemExit(main())
