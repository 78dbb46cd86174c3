"""The terminal face: the `rollbot` verbs with usage lines in :mod:`bot.cli`'s table
(plan, deploy, approve, ...), driving the same engine Slack drives.

Options use the slash-command words (`batch=5`) and go through the same parser as
`/deploy`, so a command that works in one face works in the other. A foreground rollout
is journalled like any other: Ctrl-C, or a crash, leaves it resumable with
`rollbot resume ID`.

Exit codes: 0 done (a rollout completed, a request recorded); 1 refused, failed, or the
rollout ended other than completed; 2 bad words or a bad configuration (with the usage);
3 the rollout paused and waits for a person's choice; 130 interrupted. Every failure is
a message, never a traceback (set ROLLBOT_DEBUG=1 to see one for an unexpected error).
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable
from types import FrameType
from typing import TextIO

from bot.cli import VERBS
from bot.plain import plain
from bot.terminal.words import Args, shell, split_args, usage_of
from handlers.commands import CommandError
from rollout import errors
from rollout.plan import PlanError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70


def run(
    verb: str, argv: list[str], out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run one verb of the table in :mod:`bot.cli`; every refusal is a message and an exit
    code, never a traceback. `out` and `err` default to the process's streams of the
    moment (not those at import)."""
    out, err = out or sys.stdout, err or sys.stderr
    if any(arg in {"-h", "--help"} for arg in argv):
        return _usage(verb, out)
    try:
        handler: Callable[[Args, TextIO], int] = VERBS[verb].function()
        return handler(split_args(verb, argv), out)
    except CommandError as exc:
        err.write(plain(exc.reply) + "\n")
        return EXIT_USAGE
    except PlanError as exc:
        err.write("rollbot: cannot plan that rollout:\n" + _bullets(exc.problems))
        err.write(f"Usage: {usage_of(verb).splitlines()[0]}\n")
        return EXIT_USAGE
    except errors.ConfigError as exc:
        err.write(f"rollbot: configuration error: {plain(str(exc))}\n")
        return EXIT_USAGE
    except errors.RolloutRefused as exc:
        err.write("rollbot: refused, nothing was changed:\n" + _bullets(exc.problems))
        return 1
    except errors.RolloutConflict as exc:
        err.write(f"rollbot: {exc}; one rollout of an app runs at a time. "
                  f"See it with: rollbot status {exc.active_id}\n")
        return 1
    except errors.ClusterError as exc:
        err.write(f"rollbot: the Kubernetes cluster did not answer as expected: {exc}\n")
        return 1
    except errors.RollbotError as exc:
        err.write(f"rollbot: {plain(str(exc))}\n")
        return 1
    except KeyboardInterrupt:
        err.write("rollbot: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: say so plainly, keep the traceback for who asks
        if os.environ.get("ROLLBOT_DEBUG"):
            traceback.print_exc(file=err)
        err.write(f"rollbot: internal error ({type(exc).__name__}: {exc}); "
                  "run again with ROLLBOT_DEBUG=1 for details\n")
        return EXIT_INTERNAL


def _usage(verb: str, out: TextIO) -> int:
    first, *rest = usage_of(verb).split("\n")
    out.write("\n".join(["Usage: " + first, *("       " + line for line in rest)]) + "\n")
    return 0


def _bullets(problems: list[str]) -> str:
    return "".join(f"  - {shell(p)}\n" for p in problems)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(verb: str, argv: list[str]) -> int:
    """`rollbot <verb> ...` from a shell."""
    # SIGTERM stops a foreground rollout the way Ctrl-C does: journal intact, resumable.
    signal.signal(signal.SIGTERM, _interrupt)
    return run(verb, argv)
