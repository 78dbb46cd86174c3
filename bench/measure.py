"""A fresh wrapper process around one benchmarked command, so its resource use is its own.

``getrusage(RUSAGE_CHILDREN)`` only covers descendants that were waited for, and its
``ru_maxrss`` is the largest single descendant, not the sum. Run inside a process that
has done nothing else, it therefore reads as "the largest of bash and every kubectl it
waited for" for the guide's script, and "the rollbot process" for rollbot. The benchmark
itself cannot read that number directly: it has other children (the simulator).

Usage: ``python -m bench.measure --out RESULT.json --log RUN.log --timeout S -- CMD...``
The child gets its own session so a timeout kills it and everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

METHOD = (
    "getrusage(RUSAGE_CHILDREN).ru_maxrss in a fresh wrapper process per run: the largest "
    "single process among the command and the descendants it waited for"
)


def run_measured(command: Sequence[str], *, log: Path, timeout: float) -> dict[str, Any]:
    """Run ``command`` to its end (or the timeout) and say what it cost."""
    with log.open("wb") as sink:
        started = time.monotonic()
        try:
            child = subprocess.Popen(
                list(command), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as exc:
            sink.write(f"cannot start {command[0]}: {exc}\n".encode())
            return _result(time.monotonic() - started, code=127, timed_out=False)
        timed_out = False
        try:
            code = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            # The whole session: the script's background kubectl processes too.
            os.killpg(child.pid, signal.SIGKILL)
            code = child.wait()
    return _result(time.monotonic() - started, code=code, timed_out=timed_out)


def _result(wall: float, *, code: int, timed_out: bool) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall_s": round(wall, 3),
        "exit_code": code,
        "timed_out": timed_out,
        "max_rss_kb": usage.ru_maxrss,  # kilobytes on Linux
        "cpu_user_s": round(usage.ru_utime, 3),
        "cpu_sys_s": round(usage.ru_stime, 3),
        "rss_method": METHOD,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.measure")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    result = run_measured(command, log=args.log, timeout=args.timeout)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
