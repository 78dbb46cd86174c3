"""The speed table as people read it: each figure, what was measured, its goal, met or not;
then every run in the order it ran, with the machine's load around it.

Kept apart from the runner so a saved result can be printed again:
``python -m bench.speed_table bench/results/speed.json``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from bench.report import print_saved

MEASURED_WIDTH = 40
GOAL_WIDTH = 28
INDENT = "    "


def verdict(figure: dict[str, Any]) -> str:
    if figure["met"] is None:
        return "no figure"
    return "met" if figure["met"] else "NOT MET"


def _figure_lines(figure: dict[str, Any]) -> list[str]:
    if figure["met"] is None:
        return [f"{figure['figure']:>2}  {figure['what']}: no figure, {figure['detail']}"]
    lines = [
        f"{figure['figure']:>2}  {figure['what']}",
        f"{INDENT}{figure['measured']:<{MEASURED_WIDTH}}goal {figure['goal']:<{GOAL_WIDTH}}"
        f"{verdict(figure)}",
    ]
    if figure["detail"]:
        lines.append(f"{INDENT}({figure['detail']})")
    return lines


def ack_line(run: dict[str, Any]) -> str:
    """What the ack run gave, in a few words (also the progress line)."""
    if "error" in run:
        return str(run["error"])
    o = run["overall"]
    return (f"{o['requests']} acks, p99 {o['p99_s'] * 1000:.0f} ms, max {o['max_s'] * 1000:.0f} "
            f"ms, {o['late']} late, {o['failed']} failed")


def _outcome(run: dict[str, Any]) -> str:
    if "error" in run:
        return "ERROR (below)"
    if "overall" in run:
        o = run["overall"]
        return f"{o['requests']} acks, {o['failed']} failed"
    state = "" if run["ok"] else "NOT OK "
    return f"{state}{run['tenants_on_new_image']}/{run['tenants']} updated"


def _run_line(run: dict[str, Any]) -> str:
    ideal = f"{run['ideal_s']:.1f}" if "ideal_s" in run and "overall" not in run else "-"
    load = f"{run['load_1m_before']:.2f} → {run['load_1m_after']:.2f}"
    return (f"{run['name']:<10}{run['tenants']:>8,}{run['wall_s']:>9.1f}{ideal:>9}  "
            f"{_outcome(run):<24}{load}")


def _runs_lines(runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "Runs, one after another, each on a fresh simulated cluster:",
        f"{'run':<10}{'tenants':>8}{'wall s':>9}{'ideal s':>9}  {'outcome':<24}"
        "1-min load before → after",
    ]
    lines += [_run_line(run) for run in runs.values()]
    for run in runs.values():
        if "error" in run:
            lines.append(f"{run['name']}: {run['error']}")
        elif "words" in run:
            lines.append(f"{run['name']}: rollbot deploy isp {' '.join(run['words'])}")
    return lines


def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        f"rollbot speed table: {results['started_at']}, commit {results['commit']}, "
        f"{m['cores']} cores, Python {m['python']}",
    ]
    if results.get("scaled_to"):
        out.append(f"SCALED: every fleet capped at {results['scaled_to']} tenants; the goals "
                   "are for the full sizes")
    out.append("")
    for figure in results["figures"]:
        out += _figure_lines(figure)
    out.append("")
    out += _runs_lines(results["runs"])
    ack = results["runs"].get("ack", {})
    if "table" in ack:
        out += ["", f"Figure 6, ack latency per round at {ack['tenants']:,} tenants:",
                ack["table"]]
    out += ["", f"peak RSS: {results['rss_method']}", f"total: {results['total_s']:.0f} s"]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    return print_saved(table, "speed.json", argv)


if __name__ == "__main__":
    sys.exit(main())
