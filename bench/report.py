"""The fleet benchmark's side-by-side table: script and rollbot per fleet size, with the
ratio rollbot/script on every line where a ratio means something.

Kept apart from the runner so the table can be re-read from a saved ``fleet.json``:
``python -m bench.report bench/results/fleet.json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Row = tuple[str, Callable[[dict[str, Any]], float | None], str]

LABEL_WIDTH = 28
COLUMN_WIDTH = 16
_ROWS: tuple[Row, ...] = (
    ("wall time (s)", lambda r: r["wall_s"], "{:.1f}"),
    ("over ideal (s)", lambda r: r["over_ideal_s"], "{:+.1f}"),
    ("over ideal (%)", lambda r: r["over_ideal_pct"], "{:+.0f}%"),
    ("API requests", lambda r: r["requests_total"], "{:.0f}"),
    ("API requests / tenant", lambda r: r["requests_per_tenant"], "{:.2f}"),
    ("max RSS (MiB)", lambda r: r["max_rss_kb"] / 1024, "{:.1f}"),
    ("CPU user+sys (s)", lambda r: r["cpu_user_s"] + r["cpu_sys_s"], "{:.1f}"),
    ("simulator CPU (s)", lambda r: r["sim_cpu_s"], "{:.1f}"),
    ("1-min load before run", lambda r: r.get("load_1m_before"), "{:.1f}"),
    ("1-min load after run", lambda r: r.get("load_1m_after"), "{:.1f}"),
)
# Ratios of signed differences from the ideal say nothing useful.
_NO_RATIO = {
    "over ideal (s)", "over ideal (%)", "1-min load before run", "1-min load after run",
}


def one_line(run: dict[str, Any]) -> str:
    """A progress line for one finished run."""
    state = "ok" if run["ok"] else "FAILED"
    if run["timed_out"]:
        state = f"TIMED OUT after {run['timeout_s']} s"
    return (
        f"{state}: {run['wall_s']:.1f} s (ideal {run['ideal_s']:.1f} s), "
        f"{run['requests_per_tenant']:.2f} requests/tenant, "
        f"{run['tenants_on_new_image']}/{run['tenants']} on the new image, "
        f"exit {run['exit_code']}, log {run['log']}"
    )


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _ratio(script: float | None, rollbot: float | None) -> str:
    if script is None or rollbot is None or script == 0:
        return "-"
    return f"{rollbot / script:.2f}"


def _line(label: str, script: str, rollbot: str, ratio: str) -> str:
    return (
        f"{label:<{LABEL_WIDTH}}{script:>{COLUMN_WIDTH}}{rollbot:>{COLUMN_WIDTH}}"
        f"{ratio:>{COLUMN_WIDTH}}"
    ).rstrip()


def _verbs(runs: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({v for r in runs for v in r["requests_per_tenant_by_verb"]})


def _rows(script: dict[str, Any] | None, rollbot: dict[str, Any] | None) -> list[str]:
    sides = [r for r in (script, rollbot) if r is not None]
    lines: list[str] = []
    rows: list[Row] = list(_ROWS)
    for verb in _verbs(sides):
        rows.append((f"  {verb} / tenant", _verb_getter(verb), "{:.2f}"))
    for label, get, fmt in rows:
        s = get(script) if script else None
        b = get(rollbot) if rollbot else None
        ratio = "" if label in _NO_RATIO else _ratio(s, b)
        lines.append(_line(label, _cell(s, fmt), _cell(b, fmt), ratio))
    lines.append(_line("all on new image, exit 0", _done(script), _done(rollbot), ""))
    return lines


def _done(run: dict[str, Any] | None) -> str:
    if run is None:
        return "-"
    return f"{'yes' if run['ok'] else 'NO'} {run['tenants_on_new_image']}/{run['tenants']}"


def _verb_getter(verb: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda r: r["requests_per_tenant_by_verb"].get(verb, 0.0)


def _header(results: dict[str, Any], tenants: int, first: dict[str, Any]) -> list[str]:
    p = results["parameters"]
    return [
        f"{tenants} tenants, batch {p['batch']}, wait {p['wait']} s, ready delay "
        f"{p['ready_delay']} s: {first['batches']} batches, ideal {first['ideal_s']:.1f} s",
        _line("", "script", "rollbot", "rollbot/script"),
    ]


def table(results: dict[str, Any]) -> str:
    """The whole side-by-side table, one block per fleet size."""
    out: list[str] = []
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    for run in results["runs"]:
        by_size.setdefault(run["tenants"], {})[run["side"]] = run
    for tenants, sides in by_size.items():
        first = next(iter(sides.values()))
        out += _header(results, tenants, first)
        out += _rows(sides.get("script"), sides.get("rollbot"))
        out.append("")
    m = results["machine"]
    out.append(
        f"machine: {m['cores']} cores, Python {m['python']}, {m['kubectl']}, "
        f"rollbot {m['rollbot_commit']}"
    )
    out.append(f"max RSS: {results['rss_method']}")
    out.append("requests: every API request the simulated cluster served during the run")
    return "\n".join(out)


def print_saved(
    render: Callable[[dict[str, Any]], str], default: str, argv: Sequence[str] | None
) -> int:
    """Print a saved results file again (the first argument, else `results/<default>`)
    with the bench's own `render`: every bench's table module runs as a command this way."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else Path(__file__).parent / "results" / default
    print(render(json.loads(path.read_text())))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return print_saved(table, "fleet.json", argv)


if __name__ == "__main__":
    sys.exit(main())
