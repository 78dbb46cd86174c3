"""The release benchmark's table: the manual sequence and rollbot per phase, medians over
the rounds, the ratio rollbot/manual and the goal.

Kept apart from the runner so a saved result can be printed again:
``python -m bench.release_table bench/results/release.json``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from bench.report import print_saved

LABEL_WIDTH = 34
COLUMN_WIDTH = 16
PHASES = (
    ("install", "pnpm install (s)"),
    ("shared_build", "shared packages build (s)"),
    ("images", "both images built (s)"),
    ("push", "both images pushed (s)"),
    ("build_push", "build + push, all (s)"),
)
# Why the wall times are what they are: how long both builds ran at once, and the CPU each
# side used for the whole run (the manual side's clone included, rollbot's verify too).
EVIDENCE = (
    ("images_overlap", "both builds running at once (s)"),
    ("cpu_client_s", "CPU, pnpm/CLI/rollbot (s)"),
    ("cpu_engine_s", "CPU, dockerd + containerd (s)"),
)


def one_line(run: dict[str, Any]) -> str:
    """A progress line for one finished side's run."""
    state = "ok" if run["ok"] else f"FAILED ({run['error']})"
    total = run["build_push_s"]
    took = "-" if total is None else f"{total:.1f} s"
    return (f"round {run.get('round', '-')} {run['side']:<7} {run['version']}: {state}, "
            f"build+push {took}, load {run['load_1m_before']:.1f}, logs {run['log_dir']}")


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(manual: float | None, rollbot: float | None) -> str:
    return "-" if not manual or rollbot is None else f"{rollbot / manual:.2f}"


def _line(label: str, *cells: str) -> str:
    return (f"{label:<{LABEL_WIDTH}}" + "".join(f"{c:>{COLUMN_WIDTH}}" for c in cells)).rstrip()


def _rounds(runs: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for number in sorted({r["round"] for r in runs}):
        sides = {r["side"]: r for r in runs if r["round"] == number}
        first = next(r["side"] for r in runs if r["round"] == number)
        m, b = (sides.get(s, {}).get("build_push_s") for s in ("manual", "rollbot"))
        lines.append(_line(f"  round {number} ({first} first)", _cell(m), _cell(b),
                           _ratio(m, b)))
    return lines


def table(results: dict[str, Any]) -> str:
    medians = results["medians"]
    manual, rollbot = medians["manual"], medians["rollbot"]
    p = results["parameters"]
    out = [
        f"build and push of the fixture monorepo's two images, {p['rounds']} round(s), "
        f"order alternating, medians{' after one untimed warm-up each' if p['warmup'] else ''}",
        _line("", "manual", "rollbot", "rollbot/manual"),
    ]
    for key, label in PHASES:
        out.append(_line(label, _cell(manual.get(key)), _cell(rollbot.get(key)),
                         _ratio(manual.get(key), rollbot.get(key))))
    for key, label in EVIDENCE:
        out.append(_line(label, _cell(manual.get(key)), _cell(rollbot.get(key)),
                         _ratio(manual.get(key), rollbot.get(key))))
    out.append("build + push, each round:")
    out += _rounds(results["runs"])
    ratio = results["ratio"]
    verdict = "met" if results["goal_met"] else "NOT met"
    shown = "-" if ratio is None else f"{ratio:.2f}"
    out.append(f"goal: rollbot/manual ≤ {results['goal']:.2f}: {verdict} ({shown})")
    m = results["machine"]
    loads = [r["load_1m_before"] for r in results["runs"]]
    if loads:
        out.append(f"1-min load before each run: {min(loads):.1f} to {max(loads):.1f}")
    out.append(f"machine: {m['cores']} cores, Python {m['python']}, "
               f"rollbot {m['rollbot_commit']}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    return print_saved(table, "release.json", argv)


if __name__ == "__main__":
    sys.exit(main())
